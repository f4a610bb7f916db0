// A relying party on panva's openid-client (OpenID certified), run by
// tests/all/rp_openid_client.rs. It speaks JSON lines: its configuration comes as the first
// command-line argument; it prints one JSON object per line on stdout and reads the test's
// answers, one JSON object per line, on stdin.
//
//   rp → {"jwks": {...}}                 the public keys it will sign (and decrypt) with
//   rp ← {"client_id", "client_secret"?} the client the test registered with those keys
//                                        (skipped when the configuration says "register")
//   rp → {"authorization_url": "..."}    the authentication request (PKCE S256, state, nonce)
//   rp ← {"callback": "..."}             where the provider sent the browser back
//   rp → {"logout_ready": {"sid"}}       (with "logout") the session the test should end
//   rp ← {"logout_token": "..."}         the token the test's back-channel receiver got
//   rp → {"result": {...}}               what it received and verified
//
// Environment: RP_NODE_DEPS (the folder holding node_modules/openid-client, see
// scripts/rp-node-deps.sh), NODE_EXTRA_CA_CERTS (the test CA).
//
// Any failure is printed on stderr and ends the process with status 1; the test shows it.
//
// Configuration: issuer, auth ("client_secret_basic", "client_secret_post",
// "client_secret_jwt", "private_key_jwt", "none"), redirect_uri, scope, register (client
// metadata for dynamic registration, with "initial_access_token" beside it if one is needed),
// decrypt (the client's key-management algorithm for encrypted responses), refresh,
// introspect, revoke; response_type ("code", "code id_token" or "id_token"), encrypt_request
// ({"alg", "enc"}: the request goes as a signed request object encrypted with jose to the
// provider's published key), logout (verify the back-channel logout token with jose).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

// RP_NODE_DEPS is the folder scripts/rp-node-deps.sh installed the pinned packages into.
const resolve = createRequire(join(process.env.RP_NODE_DEPS, 'package.json')).resolve;
const client = await import(pathToFileURL(resolve('openid-client')).href);
const jose = await import(pathToFileURL(resolve('jose')).href);

const config = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function say(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function hear() {
  const { value, done } = await lines.next();
  if (done) throw new Error('the test closed stdin');
  return JSON.parse(value);
}

const subtle = globalThis.crypto.subtle;
const RSA_SIGNING = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
const RSA_OAEP = { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };

async function publicJwk(pair, extra) {
  const { kty, n, e, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey);
  return Object.fromEntries(Object.entries({ kty, n, e, crv, x, y, ...extra }).filter(([, v]) => v !== undefined));
}

// The client's keys: an RS256 signing key for private_key_jwt, an RSA-OAEP-256 or ECDH-ES
// key for encrypted responses.
const keys = [];
let signing;
if (config.auth === 'private_key_jwt') {
  const pair = await subtle.generateKey(RSA_SIGNING, true, ['sign', 'verify']);
  signing = { key: pair.privateKey, kid: 'rp-sig' };
  keys.push(await publicJwk(pair, { kid: 'rp-sig', use: 'sig', alg: 'RS256' }));
}
// The key request objects are signed with, when they are sent.
let jar;
if (config.encrypt_request) {
  const pair = await subtle.generateKey(RSA_SIGNING, true, ['sign', 'verify']);
  jar = { key: pair.privateKey, kid: 'rp-jar' };
  keys.push(await publicJwk(pair, { kid: 'rp-jar', use: 'sig', alg: 'RS256' }));
}
let decryption;
if (config.decrypt) {
  const ecdh = config.decrypt.startsWith('ECDH-ES');
  const pair = ecdh
    ? await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])
    : await subtle.generateKey(RSA_OAEP, true, ['decrypt', 'unwrapKey']);
  decryption = { key: pair.privateKey, kid: 'rp-enc', alg: config.decrypt };
  keys.push(await publicJwk(pair, { kid: 'rp-enc', use: 'enc', alg: config.decrypt }));
}

// Loopback only: the tests' provider serves https with a test CA (NODE_EXTRA_CA_CERTS), or
// plain http on 127.0.0.1, which openid-client refuses unless told.
const server = new URL(config.issuer);
const options = server.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {};

function authentication(secret) {
  switch (config.auth) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret);
    case 'client_secret_post':
      return client.ClientSecretPost(secret);
    case 'client_secret_jwt':
      return client.ClientSecretJwt(secret);
    case 'private_key_jwt':
      return client.PrivateKeyJwt(signing);
    case 'none':
      return client.None();
    default:
      throw new Error(`unknown client authentication ${config.auth}`);
  }
}

async function main() {
  const result = {};
  let rp;
  if (config.register) {
    // Dynamic Client Registration: the provider's registration_endpoint from discovery; the
    // secret, if any, comes back with the registration and authenticates from then on.
    const { initial_access_token: initialAccessToken, ...metadata } = config.register;
    if (keys.length) metadata.jwks = { keys };
    metadata.token_endpoint_auth_method = config.auth;
    rp = await client.dynamicClientRegistration(server, metadata, authentication(undefined), {
      ...options,
      initialAccessToken,
    });
    result.registered = rp.clientMetadata();
  } else {
    say({ jwks: { keys } });
    const registered = await hear();
    rp = await client.discovery(
      server,
      registered.client_id,
      registered.metadata ?? {},
      authentication(registered.client_secret),
      options,
    );
  }
  if (decryption) {
    client.enableDecryptingResponses(rp, undefined, decryption);
  }
  result.server = { issuer: rp.serverMetadata().issuer };

  const responseType = config.response_type ?? 'code';
  if (responseType === 'code id_token') client.useCodeIdTokenResponseType(rp);
  if (responseType === 'id_token') client.useIdTokenResponseType(rp);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const redirectUri = config.redirect_uri;
  const parameters = { redirect_uri: redirectUri, scope: config.scope, response_type: responseType, state, nonce };
  if (responseType !== 'id_token') {
    parameters.code_challenge = await client.calculatePKCECodeChallenge(verifier);
    parameters.code_challenge_method = 'S256';
  }
  let url;
  if (jar) {
    url = await client.buildAuthorizationUrlWithJAR(rp, parameters, jar);
    url.searchParams.set('request', await encryptToProvider(rp, url.searchParams.get('request')));
  } else {
    url = client.buildAuthorizationUrl(rp, parameters);
  }
  say({ authorization_url: url.href });
  const { callback } = await hear();

  if (responseType === 'id_token') {
    // The ID token in the fragment: signature, iss, aud, exp, iat, nonce and state.
    result.id_token = await client.implicitAuthentication(rp, new URL(callback), nonce, { expectedState: state });
    say({ result });
    return;
  }
  // openid-client checks state and the RFC 9207 iss, redeems the code with the PKCE verifier and
  // the client's authentication, and validates the ID token (signature against the provider's
  // JWK set, iss, aud, azp, exp, iat, nonce; decrypted first when it is a JWE). For
  // "code id_token" it first validates the front-channel ID token of the fragment, with its
  // c_hash and s_hash.
  const tokens = await client.authorizationCodeGrant(rp, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  result.id_token = claims;
  result.token_type = tokens.token_type;
  result.scope = tokens.scope;
  result.has_refresh_token = Boolean(tokens.refresh_token);

  // UserInfo, its sub checked against the ID token's (Core §5.3.2).
  result.userinfo = await client.fetchUserInfo(rp, tokens.access_token, claims.sub);

  if (config.refresh) {
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token);
    result.refreshed = {
      id_token: refreshed.claims() ?? null,
      rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      userinfo: await client.fetchUserInfo(rp, refreshed.access_token, claims.sub),
    };
    tokens.access_token = refreshed.access_token;
    tokens.refresh_token = refreshed.refresh_token ?? tokens.refresh_token;
  }

  if (config.introspect) {
    result.introspection = {
      access_token: await client.tokenIntrospection(rp, tokens.access_token),
      refresh_token: await client.tokenIntrospection(rp, tokens.refresh_token, { token_type_hint: 'refresh_token' }),
    };
  }

  if (config.revoke) {
    await client.tokenRevocation(rp, tokens.access_token, { token_type_hint: 'access_token' });
    result.revoked = {};
    try {
      await client.fetchUserInfo(rp, tokens.access_token, claims.sub);
      result.revoked.userinfo_after = 'accepted';
    } catch (error) {
      result.revoked.userinfo_after = error.code ?? error.name;
      result.revoked.userinfo_status = error.status ?? error.response?.status ?? null;
    }
    if (tokens.refresh_token) {
      await client.tokenRevocation(rp, tokens.refresh_token, { token_type_hint: 'refresh_token' });
      try {
        await client.refreshTokenGrant(rp, tokens.refresh_token);
        result.revoked.refresh_after = 'accepted';
      } catch (error) {
        result.revoked.refresh_after = error.error ?? error.code ?? error.name;
      }
    }
  }

  if (config.logout) {
    say({ logout_ready: { sid: claims.sid } });
    const { logout_token: logoutToken } = await hear();
    result.logout = await verifyLogoutToken(rp, logoutToken, claims);
  }

  say({ result });
}

// `jws` as a JWE to the provider's published key for `config.encrypt_request.alg` (Core §6.1:
// signed, then encrypted; `cty: JWT`).
async function encryptToProvider(rp, jws) {
  const { alg, enc } = config.encrypt_request;
  const set = await (await fetch(rp.serverMetadata().jwks_uri)).json();
  const family = alg.startsWith('RSA') ? 'RSA' : 'EC';
  const key = set.keys.find((k) => k.use === 'enc' && k.kty === family);
  if (!key) throw new Error(`the provider publishes no ${family} encryption key`);
  return new jose.CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg, enc, cty: 'JWT', kid: key.kid })
    .encrypt(await jose.importJWK(key, alg));
}

// Back-Channel Logout 1.0 §2.6: what a receiver validates of a logout token.
async function verifyLogoutToken(rp, token, idClaims) {
  const keys = jose.createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri));
  const { payload } = await jose.jwtVerify(token, keys, {
    issuer: rp.serverMetadata().issuer,
    audience: rp.clientMetadata().client_id,
    typ: 'logout+jwt',
    requiredClaims: ['iat', 'jti', 'events'],
  });
  const event = payload.events?.['http://schemas.openid.net/event/backchannel-logout'];
  if (typeof event !== 'object' || event === null) throw new Error('the logout token has no logout event');
  if ('nonce' in payload) throw new Error('a logout token must not have a nonce');
  if (!payload.sid && !payload.sub) throw new Error('a logout token names a sid or a sub');
  if (payload.sid !== idClaims.sid) throw new Error(`the logout token's sid ${payload.sid} is not the session's`);
  if (payload.sub !== idClaims.sub) throw new Error(`the logout token's sub ${payload.sub} is not the user's`);
  return payload;
}

try {
  await main();
  process.exit(0);
} catch (error) {
  // openid-client's errors carry the OAuth error, the HTTP status and a cause.
  const detail = { name: error.name, code: error.code, error: error.error, error_description: error.error_description, status: error.status, cause: error.cause?.message ?? error.cause };
  process.stderr.write(`openid-client RP failed: ${error.stack}\n${JSON.stringify(detail)}\n`);
  process.exit(1);
}

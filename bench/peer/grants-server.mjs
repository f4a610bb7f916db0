// node-oidc-provider (panva), the peer for side-by-side refresh-token grant and introspection runs
// (../peer-grants-bench.sh, driven by grants-load.mjs). Configured like the shared login peer
// (../shared/bench/peer/login-server.mjs, beside the repository): one confidential web client
// "bench-web" (client_secret_basic, response_type code, PKCE S256 required, redirect_uri
// https://rp.example/cb), ES256 ID tokens, a findAccount that accepts any account id, and the
// same trivial interaction routes. In addition:
//   - the client has the grant types authorization_code and refresh_token, and offline_access is
//     a provider scope. A login whose request asks for "openid email offline_access api:read"
//     with prompt=consent (oidc-provider drops offline_access from an authorization request
//     whose prompt does not include consent) and whose one login POST both logs in and grants
//     everything requested (which also resolves the consent prompt) gets a refresh token from
//     oidc-provider's default issueRefreshToken (the client allows refresh_token and the code's
//     scopes include offline_access); offline tokens also outlive the login session;
//   - rotateRefreshToken: true, so every refresh grant consumes the presented refresh token and
//     answers with a new one (as Gatehouse rotates on every grant);
//   - features.introspection enabled (a client may introspect its own tokens);
//   - access tokens for the resource server https://api.example (scope api:read), the default
//     resource of every request (features.resourceIndicators: defaultResource, and
//     useGrantedResource so the token endpoint issues for it even though openid is requested).
//     ACCESS_TOKEN_FORMAT=jwt (the default) makes them ES256 JWT access tokens (RFC 9068), as
//     Gatehouse issues. oidc-provider refuses to introspect JWT access tokens (its introspection
//     endpoint answers unsupported_token_type, "Structured JWT Tokens cannot be introspected",
//     with or without resource indicators), so for introspection runs start it with
//     ACCESS_TOKEN_FORMAT=opaque: the same resource server with opaque (stored, looked-up)
//     access tokens, the only kind it introspects. peer-grants-bench.sh does that for MODE
//     introspect. Refresh grants also issue an ES256 ID token (the grant has the openid scope).
//
//   GET  /interaction/:uid          the login (or consent) page, a tiny HTML form
//   POST /interaction/:uid/login    login=<account id> -> interactionFinished({ login }); with
//                                   consent=yes in the same form it also saves a Grant for the
//                                   requested OIDC scopes (offline_access included) and the
//                                   default resource's scopes, so the resume answers with the code
//   POST /interaction/:uid/confirm  a separate consent step: Grant for what the consent prompt
//                                   says is missing -> interactionFinished({ consent })
//
// usage: PORT=3902 [ACCESS_TOKEN_FORMAT=jwt|opaque] node grants-server.mjs   (loopback only)
// Storage is oidc-provider's built-in in-memory adapter (an LRU of 1000 entries), signed cookies.
import http from 'node:http';
import { Provider } from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const port = Number(process.env.PORT || 3902);
const issuer = `http://127.0.0.1:${port}`;
const secret = process.env.BENCH_SECRET || 'bench-secret-0123456789abcdef0123456789';
const resource = 'https://api.example';
const accessTokenFormat = process.env.ACCESS_TOKEN_FORMAT || 'jwt';
if (!['jwt', 'opaque'].includes(accessTokenFormat)) {
  console.error('grants-server: ACCESS_TOKEN_FORMAT is jwt or opaque');
  process.exit(2);
}

const es = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
Object.assign(es, { kid: 'peer-es256', alg: 'ES256', use: 'sig' });

const resourceServer = accessTokenFormat === 'jwt'
  ? { scope: 'api:read', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }
  : { scope: 'api:read', accessTokenFormat: 'opaque' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-web', client_secret: secret,
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    redirect_uris: ['https://rp.example/cb'],
    scope: 'openid email profile offline_access',
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  jwks: { keys: [es] },
  cookies: { keys: [process.env.COOKIE_KEY || 'bench-cookie-key-0123456789abcdef'] },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
        return resourceServer;
      },
    },
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, email: `${id}@example.com`, email_verified: true,
          name: `User ${id}`, given_name: 'User', family_name: id,
        };
      },
    };
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 8192) reject(Object.assign(new Error('form too large'), { status: 413 }));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

// The grant for everything the consent prompt (or, at login, the request) asks for.
async function saveGrant(details, accountId) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (details.prompt.name === 'consent') {
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  } else {
    // "sign in and allow": the OIDC scopes (offline_access among them) and the resource
    // server's scopes, as far as the request asked for them
    const requested = String(details.params.scope || 'openid').split(' ');
    const rsScopes = new Set(resourceServer.scope.split(' '));
    grant.addOIDCScope(requested.filter((s) => !rsScopes.has(s)).join(' '));
    const forResource = requested.filter((s) => rsScopes.has(s)).join(' ');
    for (const indicator of [details.params.resource ?? []].flat()) {
      if (forResource) grant.addResourceScope(indicator, forResource);
    }
  }
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch\n');
  const prompt = details.prompt.name;
  if (req.method === 'GET' && !action) {
    const form = prompt === 'login'
      ? `<label>User <input name="login" autofocus></label><label><input type="checkbox" name="consent" value="yes"> and allow</label><button>Sign in</button>`
      : `<p>Allow ${esc(details.params.client_id)} to read: ${esc(details.params.scope)}?</p><button>Allow</button>`;
    const to = prompt === 'login' ? 'login' : 'confirm';
    return send(res, 200, 'text/html; charset=utf-8',
      `<!doctype html><title>Sign in</title><form method="post" action="/interaction/${esc(uid)}/${to}">${form}</form>\n`);
  }
  if (req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed\n');
  const form = await readForm(req);
  if (action === 'login' && prompt === 'login') {
    const accountId = form.get('login');
    if (!accountId) return send(res, 400, 'text/plain', 'login is required\n');
    const result = { login: { accountId, amr: ['pwd'] } };
    if (form.get('consent') === 'yes') result.consent = { grantId: await saveGrant(details, accountId) };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt === 'consent') {
    const grantId = await saveGrant(details, details.session.accountId);
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, 'text/plain', `unexpected ${action} for a ${prompt} prompt\n`);
}

const oidc = provider.callback();
const route = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/;
http.createServer((req, res) => {
  const m = route.exec(req.url);
  if (!m) return oidc(req, res);
  interaction(req, res, m[1], m[2]).catch((err) => {
    if (!res.headersSent) send(res, err.status || err.statusCode || 500, 'text/plain', `${err.name}: ${err.message}\n`);
    else res.destroy();
  });
}).listen(port, '127.0.0.1', () => console.log(`peer (grants, ${accessTokenFormat} access tokens) listening on ${issuer}`));

// An MCP server that is an OAuth 2.0 resource server for Gatehouse, on the official TypeScript
// SDK (@modelcontextprotocol/sdk) and panva's jose, both pinned by package-lock.json.
//
//   node server.mjs --listen 127.0.0.1:8084 --issuer http://127.0.0.1:8080
//                   [--resource http://127.0.0.1:8084/mcp] [--scope mcp:tools]
//
// It serves the MCP Streamable HTTP endpoint at the resource URL's path (stateless: every POST
// is answered on its own) and its Protected Resource Metadata (RFC 9728) naming the issuer as
// its authorization server. Every request to the endpoint needs a JWT access token (RFC 9068)
// the issuer signed for this resource with the required scope; what a refusal looks like is
// in `refuse` below. The tools: `whoami` (the token's subject, client, scope and audience) and
// `add`.
//
// When it listens it prints one JSON line on stdout, {"listening": URL, "resource": URL} (with
// the real port when --listen asked for port 0); it logs on stderr.
//
// Its packages come from MCP_NODE_DEPS/server when that is set (scripts/mcp-deps.sh installs
// them there), otherwise from this folder's node_modules (`npm ci`).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const from = process.env.MCP_NODE_DEPS ? join(process.env.MCP_NODE_DEPS, 'server', 'package.json') : import.meta.url;
const resolve = createRequire(from).resolve;
const load = (name) => import(pathToFileURL(resolve(name)).href);
const { McpServer } = await load('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = await load('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { createMcpExpressApp } = await load('@modelcontextprotocol/sdk/server/express.js');
const jose = await load('jose');
const { z } = await load('zod');

function log(message) {
  process.stderr.write(`mcp-server: ${message}\n`);
}

function fail(message) {
  log(message);
  process.exit(2);
}

const USAGE = 'usage: node server.mjs --listen HOST:PORT --issuer URL [--resource URL] [--scope SCOPE]';
let args;
try {
  ({ values: args } = parseArgs({
    options: {
      listen: { type: 'string', default: '127.0.0.1:8084' },
      issuer: { type: 'string' },
      resource: { type: 'string' },
      scope: { type: 'string', default: 'mcp:tools' },
    },
  }));
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
if (!args.issuer) fail('--issuer is required: the URL of the Gatehouse issuer, e.g. --issuer http://127.0.0.1:8080');
const issuer = args.issuer;
const listen = new URL(`http://${args.listen}`);
if (listen.pathname !== '/' || !listen.port) fail(`--listen takes HOST:PORT, not ${args.listen}`);
const requiredScope = args.scope;
if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(requiredScope)) fail(`--scope takes one scope token, not ${requiredScope}`);

// What a stranger can make it hold: connections and their timing (below, on the listener),
// request bodies (the SDK's JSON parser, 100 KiB), and the bearer token's length.
const MAX_CONNECTIONS = 256;
const MAX_TOKEN_LENGTH = 8192;

// Every asymmetric JWS algorithm; a JWK set fetched from the issuer holds no secret key, and
// `none` is no algorithm.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

// -- The issuer's keys --------------------------------------------------------------------------

// The issuer's metadata: RFC 8414 at /.well-known/oauth-authorization-server, else OpenID
// Connect Discovery (for an issuer with a path, RFC 8414 §3.1 inserts the well-known part before
// it). Its `issuer` must be the configured one (RFC 8414 §3.3), and it must name a `jwks_uri`.
async function fetchMetadata() {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const candidates = new Set([
    `/.well-known/oauth-authorization-server${path}`,
    `/.well-known/openid-configuration${path}`,
    `${path}/.well-known/openid-configuration`,
  ].map((p) => new URL(p, url).href));
  const failures = [];
  for (const candidate of candidates) {
    const response = await fetch(candidate, { redirect: 'error', signal: AbortSignal.timeout(5000) });
    if (!response.ok) {
      failures.push(`${candidate}: HTTP ${response.status}`);
      await response.body?.cancel();
      continue;
    }
    const metadata = await response.json();
    if (metadata.issuer !== issuer) throw new Error(`${candidate} names the issuer ${metadata.issuer}, not ${issuer}`);
    if (typeof metadata.jwks_uri !== 'string') throw new Error(`${candidate} names no jwks_uri`);
    return metadata;
  }
  throw new Error(`no metadata for ${issuer}: ${failures.join('; ')}`);
}

// The issuer's JWK set, by jose (cached, refetched for an unknown `kid` at most every 30 s).
// The metadata is fetched once; a failure is retried, at most every 5 s.
let keySet;
let lastFailure = 0;
async function issuerKeys() {
  if (keySet) return keySet;
  if (Date.now() - lastFailure < 5000) throw new Error('the issuer metadata could not be fetched a moment ago');
  try {
    const metadata = await fetchMetadata();
    keySet ??= jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
    log(`verifying tokens with the keys at ${metadata.jwks_uri}`);
    return keySet;
  } catch (error) {
    lastFailure = Date.now();
    throw error.cause ? new Error(`${error.message} (${error.cause.message ?? error.cause})`) : error;
  }
}

// -- Resource and metadata ----------------------------------------------------------------------

// The SDK's app: a JSON body parser, and DNS-rebinding protection by the Host header, which must
// name the resource's host (or, when that is loopback, any loopback name).
const resourceHost = args.resource ? new URL(args.resource).hostname : listen.hostname;
const loopback = ['localhost', '127.0.0.1', '[::1]'];
const app = createMcpExpressApp(
  loopback.includes(resourceHost) ? { host: resourceHost } : { host: listen.hostname, allowedHosts: [resourceHost] },
);
app.disable('x-powered-by');
const server = app.listen(Number(listen.port), listen.hostname.replace(/^\[|\]$/g, ''));
await new Promise((ready, failed) => {
  server.once('listening', ready);
  server.once('error', failed);
}).catch((error) => fail(`cannot listen on ${args.listen}: ${error.message}`));
server.maxConnections = MAX_CONNECTIONS;
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 5_000;

const port = server.address().port;
const origin = `http://${listen.hostname}:${port}`;
const resource = args.resource ?? `${origin}/mcp`;
const resourceUrl = new URL(resource);
if (resourceUrl.hash || resourceUrl.search) fail(`--resource must have no query or fragment (RFC 8707 §2): ${resource}`);
const endpoint = resourceUrl.pathname;

// RFC 9728 §3.1: the metadata of a resource with a path is at the well-known URI with the path
// appended. The same document is also at the bare well-known URI, which clients that know only
// the origin try.
const metadataPath = `/.well-known/oauth-protected-resource${endpoint === '/' ? '' : endpoint}`;
const metadataUrl = new URL(metadataPath, resourceUrl).href;
const protectedResourceMetadata = {
  resource,
  authorization_servers: [issuer],
  scopes_supported: [requiredScope],
  bearer_methods_supported: ['header'],
  resource_name: 'Gatehouse example MCP server',
};
for (const path of new Set([metadataPath, '/.well-known/oauth-protected-resource'])) {
  app.get(path, (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.json(protectedResourceMetadata);
  });
}

// -- Bearer tokens ------------------------------------------------------------------------------

// A refusal (RFC 6750 §3, RFC 9728 §5.1): without credentials, 401 with only the challenge (and
// the scope to ask for, as the MCP authorization spec has servers say); a bad token, 401
// `invalid_token`; a good token without the scope, 403 `insufficient_scope`. `description` is
// always one of this file's own strings, so it needs no escaping.
function refuse(res, status, error, description) {
  const parts = [];
  if (error) parts.push(`error="${error}"`, `error_description="${description}"`);
  parts.push(`scope="${requiredScope}"`, `resource_metadata="${metadataUrl}"`);
  res.set('WWW-Authenticate', `Bearer ${parts.join(', ')}`);
  res.status(status).json(error ? { error, error_description: description } : { error: 'unauthorized' });
}

class Refused extends Error {}

// Why jose refused a token, as a description of ours.
const TOKEN_ERRORS = {
  ERR_JWT_EXPIRED: () => 'the token has expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: (e) =>
    e.reason === 'missing' ? `the token has no ${e.claim} claim` : `the token's ${e.claim} is not accepted here`,
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: () => 'the token signature does not verify',
  ERR_JWKS_NO_MATCHING_KEY: () => 'the token is signed with no key of the issuer',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: () => 'the token names no single key of the issuer',
  ERR_JOSE_ALG_NOT_ALLOWED: () => 'the token algorithm is not accepted',
  ERR_JOSE_NOT_SUPPORTED: () => 'the token algorithm is not supported',
  ERR_JWS_INVALID: () => 'the token is not a JWS',
  ERR_JWT_INVALID: () => 'the token is not a JWT',
};

// RFC 9068 §4: the checks a resource server makes of a JWT access token. jose checks the
// signature against the issuer's keys, `typ` (at+jwt, application/at+jwt too), `iss`, that `aud`
// is or contains this resource exactly, and `exp` (and `nbf` if present); the claims §2.2
// requires must be present. The `scope` claim (§2.2.3) must then hold the required scope.
async function verify(token) {
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(token, await issuerKeys(), {
      issuer,
      audience: resource,
      typ: 'at+jwt',
      algorithms: ALGORITHMS,
      requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
    }));
  } catch (error) {
    const describe = TOKEN_ERRORS[error.code];
    if (describe) throw new Refused(describe(error));
    throw error;
  }
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
  return {
    token,
    clientId: payload.client_id,
    scopes,
    expiresAt: payload.exp,
    resource: resourceUrl,
    extra: { sub: payload.sub, client_id: payload.client_id, scope: payload.scope ?? null, aud: payload.aud },
  };
}

// RFC 6750 §2.1: the token in the Authorization header (the one method this server supports).
async function requireToken(req, res, next) {
  const header = req.headers.authorization;
  if (header === undefined) return refuse(res, 401);
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match || match[1].length > MAX_TOKEN_LENGTH) {
    return refuse(res, 401, 'invalid_token', 'the Authorization header holds no bearer token');
  }
  let auth;
  try {
    auth = await verify(match[1]);
  } catch (error) {
    if (error instanceof Refused) {
      log(`refused a token: ${error.message}`);
      return refuse(res, 401, 'invalid_token', error.message);
    }
    // The issuer's metadata or keys could not be had: not the token's fault.
    log(`cannot verify tokens: ${error.message}`);
    res.set('Retry-After', '5');
    return res.status(503).json({ error: 'temporarily_unavailable' });
  }
  if (!auth.scopes.includes(requiredScope)) {
    log(`refused a token without the scope ${requiredScope} (client ${auth.clientId})`);
    return refuse(res, 403, 'insufficient_scope', `the token lacks the scope ${requiredScope}`);
  }
  req.auth = auth;
  next();
}

// -- MCP ----------------------------------------------------------------------------------------

function mcpServer() {
  const mcp = new McpServer({ name: 'gatehouse-example-mcp-server', version: '0.1.0' });
  mcp.registerTool(
    'whoami',
    { description: 'The access token the call came with: its subject, client, scope and audience.' },
    async (extra) => ({ content: [{ type: 'text', text: JSON.stringify(extra.authInfo.extra) }] }),
  );
  mcp.registerTool(
    'add',
    { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  return mcp;
}

// Stateless Streamable HTTP: a server and a transport per POST, closed with the response.
app.post(endpoint, requireToken, async (req, res) => {
  const mcp = mcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    transport.close();
    mcp.close();
  });
  try {
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    log(`MCP request failed: ${error.stack}`);
    if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
  }
});
// No server-initiated stream and no session to end when stateless (Streamable HTTP §GET, §DELETE).
app.all(endpoint, requireToken, (_req, res) => {
  res.set('Allow', 'POST');
  res.status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
});

// A body the JSON parser refused (malformed, over 100 KiB), or any other failure: a JSON-RPC
// error, with no detail.
app.use((error, _req, res, _next) => {
  const status = error.status ?? 500;
  if (status >= 500) log(`request failed: ${error.stack}`);
  res.status(status).json({ jsonrpc: '2.0', error: { code: status === 500 ? -32603 : -32700, message: status === 500 ? 'Internal error' : 'Parse error' }, id: null });
});

// Warm the issuer's metadata now, so that a wrong --issuer shows at once; requests retry it.
issuerKeys().catch((error) => log(`the issuer's metadata is not available yet: ${error.message}`));

log(`MCP endpoint ${resource}, metadata ${metadataUrl}, issuer ${issuer}, scope ${requiredScope}`);
process.stdout.write(`${JSON.stringify({ listening: origin, resource })}\n`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

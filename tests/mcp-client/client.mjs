// An MCP client on the official TypeScript SDK (@modelcontextprotocol/sdk, pinned by
// package-lock.json), whose OAuth client provider the SDK drives through the MCP authorization
// flow; run by the Rust end-to-end test against the example MCP server
// (examples/mcp-server) and Gatehouse. It speaks JSON lines: its configuration comes as the first
// command-line argument; it prints one JSON object per line on stdout and reads the test's
// answers, one JSON object per line, on stdin.
//
//   client → {"authorization_url": "..."}  where the SDK sends the browser: after the server's
//                                          401, the SDK found its Protected Resource Metadata
//                                          (RFC 9728) and the issuer's metadata (RFC 8414),
//                                          registered (RFC 7591) or took the client ID metadata
//                                          document's URL as client_id, and built the request
//                                          (PKCE S256, state, scope, resource)
//   client ← {"callback": "..."}           where the provider sent the browser back
//   client → {"result": {...}}             what it did, below
//
// With the code it redeems (resource again), connects, lists the tools and calls `whoami`.
// Then it spoils its access token, so that the server's 401 makes the SDK refresh (the
// refresh_token grant with the resource), and calls `whoami` again. The result:
//   client_id, registered ("dynamic" or "metadata_document"), tools (their names),
//   whoami (the parsed answer), access_token, refreshed_access_token, refreshed_whoami.
//
// Configuration: server (the MCP endpoint's URL), redirect_uri, client_metadata_url (an https
// URL: the client's metadata document, used as client_id where the issuer advertises
// client_id_metadata_document_supported; without it, or where the issuer does not, the client
// registers itself), scope (the client metadata's scope, which the SDK asks for only when
// neither the server's 401 nor its metadata names scopes: SEP-835).
//
// Environment: MCP_NODE_DEPS (the folder scripts/mcp-deps.sh installed the pinned packages
// into; the packages are in its client/ folder), NODE_EXTRA_CA_CERTS (the test CA, for an https
// metadata document URL or provider).
//
// Any failure is printed on stderr and ends the process with status 1; the test shows it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const from = process.env.MCP_NODE_DEPS ? join(process.env.MCP_NODE_DEPS, 'client', 'package.json') : import.meta.url;
const resolve = createRequire(from).resolve;
const load = (name) => import(pathToFileURL(resolve(name)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = await load('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { UnauthorizedError } = await load('@modelcontextprotocol/sdk/client/auth.js');

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

// The SDK's OAuthClientProvider, in memory: what the SDK saves it reads back unchanged (with
// the `issuer` stamp the SDK adds). It records what the SDK asked of it.
class MemoryProvider {
  constructor() {
    this.clientMetadataUrl = config.client_metadata_url;
    this.authorizationUrls = [];
    this.expectedState = undefined;
  }

  get redirectUrl() {
    return config.redirect_uri;
  }

  // What Dynamic Registration sends (the SDK adds the scope it settled on): a public client
  // (no secret, PKCE) for the code flow with refresh.
  get clientMetadata() {
    return {
      client_name: 'Gatehouse MCP test client',
      redirect_uris: [config.redirect_uri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(config.scope ? { scope: config.scope } : {}),
    };
  }

  state() {
    this.expectedState = globalThis.crypto.randomUUID();
    return this.expectedState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(client) {
    this.client = client;
  }

  tokens() {
    return this.stored;
  }

  saveTokens(tokens) {
    this.stored = tokens;
  }

  // An access token the server refuses, the refresh token kept.
  spoilAccessToken() {
    this.stored = { ...this.stored, access_token: 'spoiled' };
  }

  redirectToAuthorization(url) {
    this.authorizationUrls.push(url);
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
  }

  invalidateCredentials(scope) {
    process.stderr.write(`mcp-client: the SDK invalidated its credentials (${scope})\n`);
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.stored = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}

const serverUrl = new URL(config.server);
const provider = new MemoryProvider();

async function connect() {
  const client = new Client({ name: 'gatehouse-mcp-test-client', version: '0.1.0' });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  return client;
}

// The JSON a tool answered with, from its one text content.
async function callJson(client, name) {
  const answer = await client.callTool({ name, arguments: {} });
  if (answer.isError) throw new Error(`${name} failed: ${JSON.stringify(answer.content)}`);
  return JSON.parse(answer.content[0].text);
}

// The authorization response (RFC 6749 §4.1.2, RFC 9207 §2.4): no error, the state the request
// carried, and the issuer whose metadata the SDK used.
function authorizationCode(callback) {
  const params = new URL(callback).searchParams;
  if (params.has('error')) throw new Error(`the provider answered ${params.get('error')}: ${params.get('error_description')}`);
  if (params.get('state') !== provider.expectedState) throw new Error(`the callback's state is not the request's: ${callback}`);
  const metadata = provider.discovery.authorizationServerMetadata;
  const iss = params.get('iss');
  if (iss === null ? metadata.authorization_response_iss_parameter_supported : iss !== metadata.issuer) {
    throw new Error(`the callback's iss ${iss} is not the issuer ${metadata.issuer}`);
  }
  const code = params.get('code');
  if (!code) throw new Error(`the callback has no code: ${callback}`);
  return code;
}

async function main() {
  // Unauthenticated, the server answers 401; the SDK discovers, registers and hands the
  // authorization request to the provider, then gives up with UnauthorizedError.
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  try {
    await new Client({ name: 'gatehouse-mcp-test-client', version: '0.1.0' }).connect(transport);
    throw new Error('the MCP server let the client in without a token');
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  if (provider.authorizationUrls.length !== 1) throw new Error('the SDK sent no authorization request');
  // RFC 8414 §3.3: the metadata the SDK found is the issuer's that the server named.
  const { authorizationServerUrl, authorizationServerMetadata: metadata, resourceMetadata } = provider.discovery;
  if (metadata.issuer !== authorizationServerUrl) {
    throw new Error(`the metadata of ${authorizationServerUrl} names the issuer ${metadata.issuer}`);
  }
  say({ authorization_url: provider.authorizationUrls[0].href });
  const { callback } = await hear();

  // The code grant, with the PKCE verifier and the resource of the server's metadata.
  await transport.finishAuth(authorizationCode(callback));
  const accessToken = provider.tokens().access_token;

  const client = await connect();
  const tools = (await client.listTools()).tools.map((tool) => tool.name);
  const whoami = await callJson(client, 'whoami');

  // A token the server refuses: the SDK refreshes on the 401 and sends the call again.
  const refreshToken = provider.tokens().refresh_token;
  if (!refreshToken) throw new Error('the provider issued no refresh token');
  provider.spoilAccessToken();
  const refreshedWhoami = await callJson(client, 'whoami');
  if (provider.authorizationUrls.length !== 1) throw new Error('the SDK asked for a new authorization instead of refreshing');
  const refreshedAccessToken = provider.tokens().access_token;
  if (refreshedAccessToken === 'spoiled' || refreshedAccessToken === accessToken) throw new Error('the SDK did not refresh');
  await client.close();

  const clientId = provider.clientInformation().client_id;
  say({
    result: {
      client_id: clientId,
      registered: clientId === config.client_metadata_url ? 'metadata_document' : 'dynamic',
      resource: resourceMetadata?.resource,
      tools,
      whoami,
      access_token: accessToken,
      refreshed_access_token: refreshedAccessToken,
      refresh_token_rotated: provider.tokens().refresh_token !== refreshToken,
      refreshed_whoami: refreshedWhoami,
    },
  });
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`mcp-client failed: ${error.stack}\n`);
  process.exit(1);
}

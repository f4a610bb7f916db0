#!/usr/bin/env node
// Load generator for the grants peer (grants-server.mjs, node-oidc-provider): refresh-token
// grants or introspection requests per second, the way Gatehouse's generator measures ours
// (bench/src/main.rs, --mode refresh|introspect), and one line shaped like its output:
//   refresh_grants_per_s=… refresh_grants=… p50_ms=… p99_ms=… errors=… concurrency=…
//     [server_cpu_pct=…] loader_cpu_pct=… host_cpu_pct=… steal_pct=… access_tokens=jwt|opaque
//   (introspect: introspections_per_s=… introspections=… …; CPU in % of one core)
// Method: each of the --concurrency tasks first completes one code-flow login (untimed; the flow
// of ../shared/bench/peer-login-load.mjs, beside the repository, with --flow min and no
// UserInfo: GET /auth → POST /interaction/:uid/login (login + consent) → GET /auth/:uid → code →
// POST /token with PKCE and client_secret_basic), asking for "openid email offline_access api:read" with prompt=consent,
// so that it gets a refresh token (oidc-provider keeps offline_access in an authorization request
// only when prompt includes consent; the consent is given in the same login POST, so the flow
// stays at one POST). Then every task repeats, until the time is up:
//   refresh     POST /token grant_type=refresh_token with its current refresh token
//               (client_secret_basic); a 200 with a new refresh token and an access token counts,
//               and the rotated refresh token is used next;
//   introspect  POST the introspection endpoint token=<its access token> (client_secret_basic);
//               a 200 with "active": true counts.
// Non-2xx answers, inactive tokens and transport errors count as errors (the first 3 go to
// stderr); after a failed refresh the task logs in again for a fresh refresh token (outside its
// latency figures), as a used-up token would otherwise revoke the grant. In-flight requests
// finish and count; latency is per request. As peer-login-load.mjs does, a loaded warm-up of
// --warmup-seconds (2, not counted) comes first: V8 optimises the peer's hot code only under load.
// oidc-provider cannot introspect JWT access tokens (unsupported_token_type), so introspect mode
// needs the peer started with ACCESS_TOKEN_FORMAT=opaque and stops at once if it gets a JWT.
// usage: node grants-load.mjs --mode refresh|introspect [--issuer http://127.0.0.1:3902]
//          [--concurrency 16] [--seconds 8] [--warmup-seconds 2] [--server-pid PID]
//          [--client-id bench-web] [--client-secret …] [--redirect-uri https://rp.example/cb]
//   --server-pid: that process's CPU use over the measured window, from /proc/PID/stat.
// Node built-ins only (node:http keep-alive agent). Loopback issuers only.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    issuer: { type: 'string', default: 'http://127.0.0.1:3902' },
    'client-id': { type: 'string', default: 'bench-web' },
    'client-secret': { type: 'string', default: 'bench-secret-0123456789abcdef0123456789' },
    'redirect-uri': { type: 'string', default: 'https://rp.example/cb' },
    concurrency: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '8' },
    'warmup-seconds': { type: 'string', default: '2' },
    mode: { type: 'string' },
    'server-pid': { type: 'string' },
  },
});
const fail = (msg, code = 2) => {
  console.error(`grants-load: ${msg}`);
  process.exit(code);
};
const issuer = new URL(a.issuer);
if (issuer.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname)) {
  fail('loopback http issuers only');
}
const labels = { refresh: 'refresh_grants', introspect: 'introspections' };
if (!(a.mode in labels)) fail('--mode is refresh or introspect');
const concurrency = Number(a.concurrency);
const seconds = Number(a.seconds);
const warmup = Number(a['warmup-seconds']);
if (!(Number.isInteger(concurrency) && concurrency > 0 && seconds > 0 && warmup >= 0)) {
  fail('--concurrency and --seconds must be positive, --warmup-seconds not negative');
}
const pid = a['server-pid'];
if (pid !== undefined && !/^[1-9][0-9]*$/.test(pid)) fail('--server-pid is a process id');
const clientId = a['client-id'];
const redirectUri = a['redirect-uri'];
const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(a['client-secret'])}`).toString('base64')}`;
const agent = new http.Agent({ keepAlive: true });

// One HTTP exchange on the shared pool; the body is read whole.
function send(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: issuer.hostname.replace(/^\[|\]$/g, ''), port: issuer.port, method, path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// A POST with client_secret_basic; the answer must be a 2xx JSON object.
async function postClient(path, form) {
  const res = await send('POST', path, { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
  let json;
  try { json = JSON.parse(res.body); } catch { /* reported below */ }
  if (res.status < 200 || res.status > 299 || !json || typeof json !== 'object') {
    throw new Error(`${path}: ${res.status} ${res.body.slice(0, 200)}`);
  }
  return json;
}

// The browser's side: a cookie jar per flow (host-only cookies; Path matched as RFC 6265 says).
class Jar {
  #c = new Map(); // `${path} ${name}` -> { name, path, value }

  take(setCookie = []) {
    for (const line of setCookie) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let gone = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.trim().split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v;
        else if (key === 'max-age' && Number(v) <= 0) gone = true;
        else if (key === 'expires' && Date.parse(v) <= Date.now()) gone = true;
      }
      if (gone) this.#c.delete(`${path} ${name}`);
      else this.#c.set(`${path} ${name}`, { name, path, value });
    }
  }

  header(path) {
    const out = [];
    for (const { name, path: p, value } of this.#c.values()) {
      if (path === p || (path.startsWith(p) && (p.endsWith('/') || path[p.length] === '/'))) out.push(`${name}=${value}`);
    }
    return out.join('; ');
  }
}

async function browse(jar, method, path, body) {
  const headers = {};
  const cookie = jar.header(path.split('?')[0]);
  if (cookie) headers.cookie = cookie;
  if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await send(method, path, headers, body);
  jar.take(res.headers['set-cookie']);
  return res;
}

// A 303 to where we expect; returns the target URL.
function redirected(res, what, prefix) {
  const to = res.status === 303 || res.status === 302 ? new URL(res.headers.location, issuer) : null;
  if (!to || !to.href.startsWith(prefix)) {
    throw new Error(`${what}: expected a redirect to ${prefix}…, got ${res.status} ${res.headers.location ?? res.body.slice(0, 200)}`);
  }
  return to;
}

const b64 = (buf) => buf.toString('base64url');
const sha256 = (s) => createHash('sha256').update(s).digest();
const interactionPrefix = new URL('/interaction/', issuer).href;
let tokenPath = '/token';
let introspectionPath = '/token/introspection';

// One code-flow login (login and consent in one POST); returns the task's tokens.
async function login(n) {
  const jar = new Jar();
  const verifier = b64(sha256(`verifier-${n}-${clientId}`));
  const query = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid email offline_access api:read',
    prompt: 'consent', state: `s${n}`, nonce: `n${n}`, code_challenge: b64(sha256(verifier)), code_challenge_method: 'S256',
  });
  let to = redirected(await browse(jar, 'GET', `/auth?${query}`), '/auth', interactionPrefix);
  to = redirected(await browse(jar, 'POST', `${to.pathname}/login`, `login=user${n % 1000}&consent=yes`), 'login', new URL('/auth/', issuer).href);
  const cb = redirected(await browse(jar, 'GET', to.pathname), 'authorization response', redirectUri);
  const code = cb.searchParams.get('code');
  if (!code || cb.searchParams.get('state') !== `s${n}`) throw new Error(`no code in ${cb.href}`);
  const tok = await postClient(tokenPath, new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier,
  }));
  if (!tok.access_token) throw new Error(`no access token: ${JSON.stringify(tok).slice(0, 200)}`);
  if (!tok.refresh_token) throw new Error(`no refresh token (scope ${tok.scope}): is offline_access granted?`);
  return { access: tok.access_token, refresh: tok.refresh_token };
}

function isJwt(token) {
  const [header, , , extra] = token.split('.');
  if (extra !== undefined || !token.includes('.')) return false;
  try { return typeof JSON.parse(Buffer.from(header, 'base64url').toString()).alg === 'string'; } catch { return false; }
}

async function refresh(t) {
  const answer = await postClient(tokenPath, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t.refresh }));
  if (!answer.refresh_token || answer.refresh_token === t.refresh) throw new Error('no rotated refresh token');
  if (!answer.access_token) throw new Error('no access token');
  t.refresh = answer.refresh_token;
  t.access = answer.access_token;
}

async function introspect(t) {
  const answer = await postClient(introspectionPath, new URLSearchParams({ token: t.access }));
  if (answer.active !== true) throw new Error(`inactive: ${JSON.stringify(answer).slice(0, 200)}`);
}

// Busy time of the whole host (all cores; user, nice, system, irq, softirq) and steal, in ticks.
function hostTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return [f[0] + f[1] + f[2] + f[5] + f[6], f[7]];
}

function cpuTicks(p) {
  // utime + stime, fields 14 and 15 of /proc/PID/stat (after the parenthesised command name)
  const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

const disco = await send('GET', '/.well-known/openid-configuration').catch((e) => fail(`discovery: ${e.message}`, 1));
if (disco.status !== 200) fail(`discovery answered ${disco.status}`, 1);
{
  const d = JSON.parse(disco.body);
  tokenPath = new URL(d.token_endpoint).pathname;
  if (a.mode === 'introspect') {
    if (!d.introspection_endpoint) fail('the issuer has no introspection_endpoint', 1);
    introspectionPath = new URL(d.introspection_endpoint).pathname;
  }
}

// Every task's own login, before any clock starts.
let counter = 1_000_000;
const tokens = await Promise.all(Array.from({ length: concurrency }, () => {
  const n = counter;
  counter += 1;
  return login(n).catch((e) => fail(`login failed: ${e.message}`, 1));
}));
const format = isJwt(tokens[0].access) ? 'jwt' : 'opaque';
if (a.mode === 'introspect' && format === 'jwt') {
  fail('the peer issued JWT access tokens, which oidc-provider cannot introspect; start grants-server.mjs with ACCESS_TOKEN_FORMAT=opaque', 1);
}
const step = a.mode === 'refresh' ? refresh : introspect;

// The tasks repeat their step for `secs`; returns the per-request latencies (ms) and the errors.
let errors = 0;
async function loop(secs, counted) {
  let stop = false;
  const all = [];
  const workers = tokens.map(async (t) => {
    while (!stop) {
      const started = performance.now();
      try {
        await step(t);
        all.push(performance.now() - started);
      } catch (e) {
        if (counted) {
          errors += 1;
          if (errors <= 3) console.error(`${a.mode} failed: ${e.message}`);
        }
        if (a.mode === 'refresh') {
          const n = counter;
          counter += 1;
          try { Object.assign(t, await login(n)); } catch (e2) {
            if (counted && errors <= 3) console.error(`login again failed: ${e2.message}`);
          }
        }
      }
    }
  });
  await new Promise((r) => { setTimeout(r, secs * 1000); });
  stop = true;
  await Promise.all(workers);
  return all;
}

if (warmup > 0) await loop(warmup, false);
const ticks0 = pid ? cpuTicks(pid) : 0;
const host0 = hostTicks();
const cpu0 = process.cpuUsage();
const started = performance.now();
const all = await loop(seconds, true);
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
const ticks1 = pid ? cpuTicks(pid) : 0;
const host1 = hostTicks();
all.sort((x, y) => x - y);
const pct = (p) => (all.length ? all[Math.min(Math.floor(all.length * p), all.length - 1)] : 0);
const what = labels[a.mode];
let line = `${what}_per_s=${(all.length / elapsed).toFixed(0)} ${what}=${all.length} p50_ms=${pct(0.5).toFixed(2)}`
  + ` p99_ms=${pct(0.99).toFixed(2)} errors=${errors} concurrency=${concurrency}`;
// CPU in % of one core (ticks are 1/100 s on Linux): the server, the loader, the whole host (its
// excess over loader + server is other work disturbing the run) and steal (a busy VM host).
if (pid) line += ` server_cpu_pct=${((ticks1 - ticks0) / elapsed).toFixed(0)}`;
line += ` loader_cpu_pct=${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(0)}`
  + ` host_cpu_pct=${((host1[0] - host0[0]) / elapsed).toFixed(0)} steal_pct=${((host1[1] - host0[1]) / elapsed).toFixed(0)}`
  + ` access_tokens=${format}`;
console.log(line);
agent.destroy();

// Write Gatehouse policy plugins in JavaScript.
//
// A plugin module exports one object named after its kind's interface, built with one of
// the helpers below:
//
//   claims source   export const claims = claimsSource({ suppliedClaims() {…}, claims(query) {…} });
//   consent policy  export const consent = consentPolicy({ decide(query) {…} });
//   login hooks     export const hooks = loginHooks({ run(query) {…} });
//
// The build (`gatehouse plugin build`) puts this file beside the plugin's app.js, so plugins
// import it as "./gatehouse.js". The host makes a fresh instance for every call: module
// variables do not carry anything from one call to the next (with the manifest's
// `reuse_instances = true` they may: never keep per-user data in them). The module is evaluated once,
// when the component is built: do not call the host (config(), log) at the top level.
//
// Expected failures are values: throw a PluginError and the client gets its OAuth 2.0 error
// code. Any other exception is an incident: the client only sees `server_error`.

import { log as hostLog } from 'gatehouse:policy/log@0.1.0';
import { get as hostConfig } from 'gatehouse:policy/config@0.1.0';

/** @typedef {Record<string, any>} JsonObject A JSON object: session data, claims, metadata, configuration. */

/** An expected failure, delivered to the client as the OAuth 2.0 error `code`. */
export class PluginError extends Error {
  /**
   * @param {string} code An OAuth 2.0 / OpenID Connect error code, e.g. `temporarily_unavailable`.
   * @param {string} description Text safe to show to the client.
   */
  constructor(code, description) {
    super(`${code}: ${description}`);
    this.code = code;
    this.description = description;
  }

  /** `temporarily_unavailable`: a dependency of the plugin is failing. */
  static unavailable(description) {
    return new PluginError('temporarily_unavailable', description);
  }
}

/** The `config` table of the plugin's manifest (`{}` when absent). @returns {JsonObject} */
export function config() {
  return object(hostConfig());
}

/** Writing to the host's log; lines are tagged with the plugin's name by the host. */
export const log = {
  /** @param {string} message */ debug: (message) => hostLog('debug', message),
  /** @param {string} message */ info: (message) => hostLog('info', message),
  /** @param {string} message */ warn: (message) => hostLog('warn', message),
  /** @param {string} message */ error: (message) => hostLog('error', message),
};

/**
 * @typedef {object} ClaimsQuery A request for claims about one subject.
 * @property {string} sub The subject identifier.
 * @property {string[]} claims The claims wanted, all among those the plugin supplies.
 * @property {string[]} locales Preferred languages for the values.
 * @property {string} clientId The client the claims are released to.
 * @property {string[]} scope The scopes granted to the client.
 * @property {'id-token' | 'userinfo' | 'access-token'} purpose What the claims are for.
 * @property {JsonObject} sessionClaims Claims the login front-end gave for the subject.
 * @property {JsonObject} data The authorization session's `data`.
 */

/**
 * @typedef {object} ClaimsSource
 * @property {() => string[]} suppliedClaims The claims this plugin can supply, asked once at load.
 * @property {(query: ClaimsQuery) => JsonObject} claims Values for those of `query.claims` it knows.
 */

/** Exports a claims source: `export const claims = claimsSource({…})`. @param {ClaimsSource} plugin */
export function claimsSource(plugin) {
  return {
    suppliedClaims: () => [...plugin.suppliedClaims()],
    claims: (query) =>
      answer(() => {
        const values = plugin.claims({
          ...query,
          sessionClaims: object(query.sessionClaims),
          data: object(query.data),
        });
        return Object.entries(values).map(([name, value]) => ({ name, value: JSON.stringify(value) }));
      }),
  };
}

/**
 * @typedef {object} Split Requested items, split into those not consented before and those already consented.
 * @property {string[]} new
 * @property {string[]} consented
 */

/**
 * @typedef {object} ConsentQuery A consent decision to make.
 * @property {string} clientId
 * @property {JsonObject} clientMetadata The client's registered metadata (RFC 7591 §2).
 * @property {string} sub
 * @property {Split} scope
 * @property {Split} claims
 * @property {string[]} resources The protected resources (RFC 8707) the tokens are for, such as MCP servers.
 * @property {{scope: string[], claims: string[], updatedAt: number} | undefined} previous A long-lived consent given before.
 */

/**
 * @typedef {object} Grant Consent given without asking; anything not requested is trimmed by the host.
 * @property {string[]} scope
 * @property {string[]} [claims] Absent: the claims of the granted scopes and of the `claims` parameter.
 * @property {boolean} [longLived] Remember this consent for the subject and client.
 * @property {number} [accessTokenLifetime] Seconds; the server default when absent.
 * @property {number} [idTokenLifetime]
 * @property {boolean} [refreshToken]
 * @property {number} [refreshTokenLifetime]
 */

/** Consent verdicts: what a consent policy's `decide` returns. */
export const Verdict = {
  /** Grant without asking the user. @param {Grant} grant */
  grant: (grant) => ({
    tag: 'grant',
    val: {
      scope: [...grant.scope],
      claims: grant.claims === undefined ? undefined : [...grant.claims],
      longLived: Boolean(grant.longLived),
      accessTokenLifetime: seconds(grant.accessTokenLifetime),
      idTokenLifetime: seconds(grant.idTokenLifetime),
      refreshToken: Boolean(grant.refreshToken),
      refreshTokenLifetime: seconds(grant.refreshTokenLifetime),
    },
  }),
  /**
   * Let the front-end ask the user. Items consented before are shown as already given unless
   * listed in `reconfirmScope` / `reconfirmClaims`: those are shown as new, to be confirmed
   * again. Items not consented before are shown as new anyway.
   * @param {{reconfirmScope?: string[], reconfirmClaims?: string[]}} [options]
   */
  ask: ({ reconfirmScope = [], reconfirmClaims = [] } = {}) => ({
    tag: 'ask',
    val: { reconfirmScope: [...reconfirmScope], reconfirmClaims: [...reconfirmClaims] },
  }),
  /** Refuse the request; the client gets `code` (default `access_denied`). */
  deny: (description, code = 'access_denied') => ({ tag: 'deny', val: { code, description } }),
};

/**
 * @typedef {object} ConsentPolicy
 * @property {(query: ConsentQuery) => {tag: string}} decide Returns a Verdict.grant(…), Verdict.ask() or Verdict.deny(…).
 */

/** Exports a consent policy: `export const consent = consentPolicy({…})`. @param {ConsentPolicy} plugin */
export function consentPolicy(plugin) {
  return {
    decide: (query) =>
      answer(() =>
        plugin.decide({
          clientId: query.client.clientId,
          clientMetadata: object(query.client.metadata),
          sub: query.sub,
          scope: query.scope,
          claims: query.claims,
          resources: query.resources,
          previous: query.previous && { ...query.previous, updatedAt: Number(query.previous.updatedAt) },
        }),
      ),
  };
}

/** The scopes a client is registered for, or undefined when it may ask for any. @param {JsonObject} metadata */
export function registeredScopes(metadata) {
  return typeof metadata.scope === 'string' ? metadata.scope.split(/\s+/).filter(Boolean) : undefined;
}

/**
 * @typedef {object} HookQuery The session as a hook sees it.
 * @property {'started' | 'authenticated' | 'before-response'} stage
 * @property {string} sessionId
 * @property {string} clientId
 * @property {string[]} scope
 * @property {string[]} resources The protected resources (RFC 8707) the tokens are for, such as MCP servers.
 * @property {string[]} acrValues
 * @property {string | undefined} loginHint
 * @property {string | undefined} sub The subject, from the `authenticated` stage on.
 * @property {string | undefined} acr
 * @property {JsonObject} data The session `data`; return a changed copy in the outcome to replace it.
 */

/** Hook actions: what the session does next. */
export const Action = {
  /** Go on as if there were no hook. */
  continue: () => ({ tag: 'continue' }),
  /** Ask the front-end to (re-)authenticate the user. @param {{acr?: string, reason?: string}} [what] */
  authenticate: (what = {}) => ({ tag: 'authenticate', val: { acr: what.acr, reason: what.reason } }),
  /** Ask the front-end to send the user to an external identity provider. @param {string} uri */
  redirect: (uri) => ({ tag: 'redirect', val: uri }),
  /** End the session with an error to the client (default `access_denied`). */
  deny: (description, code = 'access_denied') => ({ tag: 'deny', val: { code, description } }),
};

/**
 * @typedef {object} LoginHooks
 * @property {(query: HookQuery) => {action?: {tag: string}, data?: JsonObject}} run
 *   Returns the next action (Action.continue() when absent) and the new session data (kept when absent).
 */

/** Exports login hooks: `export const hooks = loginHooks({…})`. @param {LoginHooks} plugin */
export function loginHooks(plugin) {
  return {
    run: (query) =>
      answer(() => {
        const outcome = plugin.run({ ...query, data: object(query.data) }) ?? {};
        return {
          data: outcome.data === undefined ? undefined : JSON.stringify(outcome.data),
          action: outcome.action ?? Action.continue(),
        };
      }),
  };
}

/**
 * Runs a plugin function, turning a PluginError into the WIT `err` arm. Plugin functions are
 * synchronous: the host calls them and takes the answer at once, so a Promise is refused.
 */
function answer(f) {
  let result;
  try {
    result = f();
  } catch (e) {
    if (e instanceof PluginError) {
      throw { code: e.code, description: e.description };
    }
    // Anything else is a bug. It goes to the host's log with its stack, and an error code the
    // host does not know makes the call an incident: the client only sees `server_error`.
    hostLog('error', `uncaught exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    throw { code: 'plugin_failure', description: 'the plugin threw an exception' };
  }
  if (result instanceof Promise) {
    hostLog('error', 'a plugin function returned a Promise: plugin functions must be synchronous (no async)');
    throw { code: 'plugin_failure', description: 'the plugin returned a Promise' };
  }
  return result;
}

function object(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

function seconds(value) {
  return value === undefined || value === null ? undefined : BigInt(value);
}

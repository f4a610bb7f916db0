// Login hooks that demand a stronger authentication for sensitive requests.
//
// When a request asks for one of the `scopes` listed, or comes from one of the `clients`
// listed, the user must have authenticated with the `acr` given (e.g. a second factor). Once
// the front-end has authenticated the subject with a weaker acr, the hook asks it to
// authenticate the user again at that acr, and notes the step-up in the session `data` under
// "step_up" so the front-end can explain why. The login goes on once the acr is reached.
//
//   [config]
//   acr = "urn:gatehouse:mfa"
//   scopes = ["admin", "payments"]
//   clients = ["admin-console"]

import { Action, PluginError, config, log, loginHooks } from './gatehouse.js';

export const hooks = loginHooks({
  run(query) {
    if (query.stage !== 'authenticated') {
      return {};
    }
    const { acr, scopes = [], clients = [] } = config();
    if (typeof acr !== 'string' || acr === '') {
      log.error('config.acr must name the acr that sensitive requests need');
      throw new PluginError('server_error', 'the plugin is misconfigured');
    }
    const sensitive = query.scope.find((s) => scopes.includes(s));
    const reason = sensitive ? `the scope ${sensitive}` : clients.includes(query.clientId) ? `the application ${query.clientId}` : undefined;
    if (reason === undefined) {
      return {};
    }
    if (query.acr === acr) {
      return { data: { ...query.data, step_up: { acr, reason, status: 'satisfied' } } };
    }
    log.info(`step-up to ${acr} required for ${reason}`);
    return {
      data: { ...query.data, step_up: { acr, reason, status: 'required' } },
      action: Action.authenticate({ acr, reason: `${reason} needs a stronger sign-in` }),
    };
  },
});

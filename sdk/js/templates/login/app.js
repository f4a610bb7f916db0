// {{name}}: login hooks. A login whose `login_hint` is at one of the `blocked_domains` is
// denied as it starts; any other login goes on, marked in the session data.

import { Action, config, log, loginHooks } from './gatehouse.js';

export const hooks = loginHooks({
  run(query) {
    if (query.stage !== 'started') {
      return {};
    }
    const domain = (query.loginHint ?? '').split('@').pop().toLowerCase();
    if ((config().blocked_domains ?? []).includes(domain)) {
      log.info(`a login from ${domain} was denied`);
      return { action: Action.deny(`logins from ${domain} are not allowed`) };
    }
    return { action: Action.continue(), data: { ...query.data, checked_by: '{{name}}' } };
  },
});

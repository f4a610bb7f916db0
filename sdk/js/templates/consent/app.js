// {{name}}: a consent policy. Clients listed in `trusted_clients` get what they asked for
// without a consent screen; the user is asked about any other client.

import { Verdict, config, consentPolicy } from './gatehouse.js';

export const consent = consentPolicy({
  decide(query) {
    if ((config().trusted_clients ?? []).includes(query.clientId)) {
      return Verdict.grant({ scope: [...query.scope.new, ...query.scope.consented] });
    }
    return Verdict.ask();
  },
});

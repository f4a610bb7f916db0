// {{name}}: a claims source. It supplies `department`, looked up by subject in its
// configuration; change suppliedClaims and claims to supply your own.

import { claimsSource, config } from './gatehouse.js';

export const claims = claimsSource({
  suppliedClaims() {
    return ['department'];
  },

  claims(query) {
    const department = (config().departments ?? {})[query.sub];
    if (department === undefined || !query.claims.includes('department')) {
      return {};
    }
    return { department };
  },
});

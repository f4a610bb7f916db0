"""A consent policy that sorts scopes into tiers.

- ``auto``: low-risk scopes. A request that asks only for these (and that the client is
  registered for) is granted without a consent screen.
- ``reserved``: scopes only the listed clients may have. Any other client asking for one is
  denied with ``access_denied``; a listed client goes on to the user's consent screen.
- Everything else is asked of the user, as if there were no policy.

.. code-block:: toml

    [config]
    auto = ["openid", "profile", "email"]
    remember = false        # keep the automatic consent as a long-lived one (default false)

    [config.reserved]
    payments = ["bank-app"]
"""

import gatehouse
from gatehouse import Denial
from gatehouse.consent import ASK, ConsentPolicy, Grant, Query, Verdict


class ScopeTiers(ConsentPolicy):
    def decide(self, query: Query) -> Verdict:
        config = gatehouse.config()
        requested = query.scope.all()
        for scope in requested:
            allowed = config.get("reserved", {}).get(scope)
            if allowed is not None and query.client_id not in allowed:
                return Denial.access_denied(f"the scope {scope} is reserved for other applications")
        registered = query.registered_scopes()
        auto = config.get("auto", [])
        if all(s in auto and (registered is None or s in registered) for s in requested):
            return Grant(scope=requested, long_lived=bool(config.get("remember", False)))
        return ASK


Consent = gatehouse.consent.export(ScopeTiers())

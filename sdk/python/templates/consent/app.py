"""{{name}}: a consent policy. Clients listed in `trusted_clients` get what they asked for
without a consent screen; the user is asked about any other client."""

import gatehouse
from gatehouse.consent import ASK, ConsentPolicy, Grant, Query, Verdict


class Plugin(ConsentPolicy):
    def decide(self, query: Query) -> Verdict:
        if query.client_id in gatehouse.config().get("trusted_clients", []):
            return Grant(scope=query.scope.all())
        return ASK


Consent = gatehouse.consent.export(Plugin())

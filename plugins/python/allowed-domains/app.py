"""Login hooks that admit only users of the listed e-mail domains.

A login whose ``login_hint`` names an e-mail address outside ``domains`` is denied with
``access_denied`` as soon as it starts; after authentication the subject's domain is checked
again (the front-end may have let the user type another address), and the domain is noted in
the session ``data`` under ``"allowed_domain"``.

.. code-block:: toml

    [config]
    domains = ["wonderland.example", "partner.example"]
"""

from typing import Optional

import gatehouse
from gatehouse import Denial
from gatehouse.hooks import CONTINUE, LoginHooks, Outcome, Query, Stage


def domain(address: Optional[str]) -> Optional[str]:
    if address is None or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower()


class AllowedDomains(LoginHooks):
    def run(self, query: Query) -> Outcome:
        allowed = {d.lower() for d in gatehouse.config().get("domains", [])}
        if query.stage == Stage.STARTED:
            hinted = domain(query.login_hint)
            if hinted is not None and hinted not in allowed:
                return Outcome(action=Denial.access_denied(f"users of {hinted} cannot sign in here"))
            return Outcome(action=CONTINUE)
        if query.stage == Stage.AUTHENTICATED:
            found = domain(query.sub) or domain(query.login_hint)
            if found is not None and found not in allowed:
                return Outcome(action=Denial.access_denied(f"users of {found} cannot sign in here"))
            return Outcome(data={**query.data, "allowed_domain": found})
        return Outcome(action=CONTINUE)


Hooks = gatehouse.hooks.export(AllowedDomains())

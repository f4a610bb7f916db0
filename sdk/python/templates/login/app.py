"""{{name}}: login hooks. A login whose `login_hint` is at one of the `blocked_domains` is
denied as it starts; any other login goes on, marked in the session data."""

import gatehouse
from gatehouse import Denial, log
from gatehouse.hooks import CONTINUE, LoginHooks, Outcome, Query, Stage


class Plugin(LoginHooks):
    def run(self, query: Query) -> Outcome:
        if query.stage != Stage.STARTED:
            return Outcome()
        domain = (query.login_hint or "").rpartition("@")[2].lower()
        if domain in gatehouse.config().get("blocked_domains", []):
            log.info(f"a login from {domain} was denied")
            return Outcome(action=Denial.access_denied(f"logins from {domain} are not allowed"))
        return Outcome(action=CONTINUE, data={**query.data, "checked_by": "{{name}}"})


Hooks = gatehouse.hooks.export(Plugin())

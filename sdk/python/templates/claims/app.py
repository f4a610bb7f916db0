"""{{name}}: a claims source. It supplies `department`, looked up by subject in its
configuration; change `supplied_claims` and `claims` to supply your own."""

from typing import Any

import gatehouse
from gatehouse.claims import ClaimsSource, Query


class Plugin(ClaimsSource):
    def supplied_claims(self) -> list[str]:
        return ["department"]

    def claims(self, query: Query) -> dict[str, Any]:
        department = gatehouse.config().get("departments", {}).get(query.sub)
        if department is None or "department" not in query.claims:
            return {}
        return {"department": department}


Claims = gatehouse.claims.export(Plugin())

"""A claims source that computes group membership and roles from its configuration.

The ``groups`` claim lists the groups a subject belongs to: groups that name the subject
among their ``members``, and groups that take every user whose ``email`` session claim (given
by the login front-end) is in one of their ``domains``. The ``roles`` claim maps those groups
to application roles. Both lists are sorted, and a subject in no group gets no claims.

.. code-block:: toml

    [config.groups.admins]
    members = ["alice"]
    roles = ["gatehouse:admin"]

    [config.groups.wonderland]
    domains = ["wonderland.example"]
    roles = ["tea-party:guest"]
"""

from typing import Any

import gatehouse
from gatehouse import PluginError, log
from gatehouse.claims import ClaimsSource, Query


class GroupClaims(ClaimsSource):
    def supplied_claims(self) -> list[str]:
        return ["groups", "roles"]

    def claims(self, query: Query) -> dict[str, Any]:
        groups = gatehouse.config().get("groups", {})
        if not isinstance(groups, dict):
            log.error("config.groups must be a table of groups")
            raise PluginError("server_error", "the plugin is misconfigured")
        email = query.session_claims.get("email")
        domain = email.rpartition("@")[2].lower() if isinstance(email, str) and "@" in email else None
        member_of = sorted(
            name
            for name, group in groups.items()
            if query.sub in group.get("members", []) or (domain is not None and domain in group.get("domains", []))
        )
        if not member_of:
            return {}
        roles = sorted({role for name in member_of for role in groups[name].get("roles", [])})
        values = {"groups": member_of, "roles": roles}
        return {name: values[name] for name in query.claims if name in values}


Claims = gatehouse.claims.export(GroupClaims())

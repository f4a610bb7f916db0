"""Claims sources: supply claims about subjects for ID tokens, UserInfo and access tokens."""

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any

from wit_world import exports as _exports
from wit_world.exports import claims as _wit

from . import JsonObject, PluginError, json_object


class Purpose(Enum):
    """What the claims are for."""

    ID_TOKEN = "id-token"
    USERINFO = "userinfo"
    ACCESS_TOKEN = "access-token"


_PURPOSES = {
    _wit.Purpose.ID_TOKEN: Purpose.ID_TOKEN,
    _wit.Purpose.USERINFO: Purpose.USERINFO,
    _wit.Purpose.ACCESS_TOKEN: Purpose.ACCESS_TOKEN,
}


@dataclass
class Query:
    """A request for claims about one subject."""

    #: The subject identifier.
    sub: str
    #: The claims wanted, all among those the plugin said it supplies.
    claims: list[str]
    #: Preferred languages for the values.
    locales: list[str]
    #: The client the claims are released to.
    client_id: str
    #: The scopes granted to the client.
    scope: list[str]
    purpose: Purpose
    #: Claims the login front-end gave when it authenticated the subject.
    session_claims: JsonObject
    #: The authorization session's ``data``.
    data: JsonObject


class ClaimsSource(ABC):
    """Supplies claim values."""

    @abstractmethod
    def supplied_claims(self) -> list[str]:
        """The names of the claims this plugin can supply. Asked once, when the plugin loads."""

    @abstractmethod
    def claims(self, query: Query) -> dict[str, Any]:
        """Values (any JSON value) for those of ``query.claims`` the plugin knows; leave out the others."""


def export(plugin: ClaimsSource) -> type:
    """The class componentize-py calls; assign it to ``Claims`` in the plugin's module."""

    class Claims(_exports.Claims):
        def supplied_claims(self) -> list[str]:
            return list(plugin.supplied_claims())

        def claims(self, query: _wit.ClaimsQuery) -> list[_wit.Claim]:
            friendly = Query(
                sub=query.sub,
                claims=list(query.claims),
                locales=list(query.locales),
                client_id=query.client_id,
                scope=list(query.scope),
                purpose=_PURPOSES[query.purpose],
                session_claims=json_object(query.session_claims),
                data=json_object(query.data),
            )
            try:
                values = plugin.claims(friendly)
            except PluginError as e:
                raise e.to_wit()
            return [_wit.Claim(name, json.dumps(value)) for name, value in values.items()]

    return Claims

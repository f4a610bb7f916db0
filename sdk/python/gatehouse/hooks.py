"""Login hooks: run as an authorization session moves through login."""

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Union

from wit_world import exports as _exports
from wit_world.exports import hooks as _wit

from . import Denial, JsonObject, PluginError, json_object


class Stage(Enum):
    """Where the session stands."""

    #: The session was just created from the authentication request.
    STARTED = "started"
    #: The subject has been authenticated.
    AUTHENTICATED = "authenticated"
    #: Consent is settled; the final response comes next.
    BEFORE_RESPONSE = "before-response"


_STAGES = {
    _wit.Stage.STARTED: Stage.STARTED,
    _wit.Stage.AUTHENTICATED: Stage.AUTHENTICATED,
    _wit.Stage.BEFORE_RESPONSE: Stage.BEFORE_RESPONSE,
}


@dataclass
class Query:
    """The session as a hook sees it."""

    stage: Stage
    session_id: str
    client_id: str
    scope: list[str]
    #: The protected resources (RFC 8707) the tokens are for, such as MCP servers.
    resources: list[str]
    acr_values: list[str]
    login_hint: Optional[str]
    #: The subject, from :attr:`Stage.AUTHENTICATED` on.
    sub: Optional[str]
    acr: Optional[str]
    #: The session ``data``; return a changed copy in :attr:`Outcome.data` to replace it.
    data: JsonObject


class Continue:
    """Go on as if there were no hook."""


@dataclass
class Authenticate:
    """Ask the front-end to (re-)authenticate the user, optionally at an ``acr``."""

    acr: Optional[str] = None
    reason: Optional[str] = None


@dataclass
class Redirect:
    """Ask the front-end to send the user to an external identity provider at ``uri``."""

    uri: str


#: What the session does next.
Action = Union[Continue, Authenticate, Redirect, Denial]
CONTINUE = Continue()


@dataclass
class Outcome:
    action: Action = CONTINUE
    #: The new session ``data``, or ``None`` to keep it.
    data: Optional[JsonObject] = None


class LoginHooks(ABC):
    @abstractmethod
    def run(self, query: Query) -> Outcome:
        """What happens next, and the new session data."""


def _action(action: Action) -> _wit.Action:
    if isinstance(action, Continue):
        return _wit.Action_Continue()
    if isinstance(action, Authenticate):
        return _wit.Action_Authenticate(_wit.Authenticate(action.acr, action.reason))
    if isinstance(action, Redirect):
        return _wit.Action_Redirect(action.uri)
    if isinstance(action, Denial):
        return _wit.Action_Deny(action.to_wit())
    raise TypeError(f"not a hook action: {action!r}")


def export(plugin: LoginHooks) -> type:
    """The class componentize-py calls; assign it to ``Hooks`` in the plugin's module."""

    class Hooks(_exports.Hooks):
        def run(self, query: _wit.HookQuery) -> _wit.Outcome:
            friendly = Query(
                stage=_STAGES[query.stage],
                session_id=query.session_id,
                client_id=query.client_id,
                scope=list(query.scope),
                resources=list(query.resources),
                acr_values=list(query.acr_values),
                login_hint=query.login_hint,
                sub=query.sub,
                acr=query.acr,
                data=json_object(query.data),
            )
            try:
                outcome = plugin.run(friendly)
            except PluginError as e:
                raise e.to_wit()
            data = None if outcome.data is None else json.dumps(outcome.data)
            return _wit.Outcome(data, _action(outcome.action))

    return Hooks

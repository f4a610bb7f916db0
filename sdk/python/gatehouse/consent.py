"""Consent policies: grant, ask or deny in place of the login front-end's consent screen."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Optional, Union

from wit_world import exports as _exports
from wit_world.exports import consent as _wit

from . import Denial, JsonObject, PluginError, json_object


@dataclass
class Split:
    """Requested items, split into those not consented before and those already consented."""

    new: list[str] = field(default_factory=list)
    consented: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        """Everything requested."""
        return self.new + self.consented


@dataclass
class Previous:
    """A long-lived consent the subject gave this client before."""

    scope: list[str]
    claims: list[str]
    #: Seconds since the Unix epoch.
    updated_at: int


@dataclass
class Query:
    """A consent decision to make."""

    client_id: str
    #: The client's registered metadata (RFC 7591 §2), e.g. ``scope``, ``client_name``.
    client_metadata: JsonObject
    sub: str
    scope: Split
    claims: Split
    #: The protected resources (RFC 8707) the tokens are for, such as MCP servers.
    resources: list[str]
    previous: Optional[Previous]

    def registered_scopes(self) -> Optional[list[str]]:
        """The scopes the client is registered for, or ``None`` when it may ask for any."""
        scope = self.client_metadata.get("scope")
        return scope.split() if isinstance(scope, str) else None


@dataclass
class Grant:
    """Consent given without asking the user. Anything not requested is trimmed by the host."""

    scope: list[str]
    #: ``None``: the claims of the granted scopes and of the ``claims`` request parameter.
    claims: Optional[list[str]] = None
    #: Remember this consent for the subject and client.
    long_lived: bool = False
    #: Lifetimes in seconds; the server defaults when ``None``.
    access_token_lifetime: Optional[int] = None
    id_token_lifetime: Optional[int] = None
    refresh_token: bool = False
    refresh_token_lifetime: Optional[int] = None


@dataclass
class Ask:
    """Let the front-end ask the user.

    Scopes and claims the user consented to before are shown as already given, unless they
    are listed in ``reconfirm_scope`` / ``reconfirm_claims``: those are shown as new, so the
    user confirms them again. Items not consented before are shown as new anyway.
    """

    reconfirm_scope: list[str] = field(default_factory=list)
    reconfirm_claims: list[str] = field(default_factory=list)


#: What to do about the request: a :class:`Grant`, :data:`ASK` or a :class:`Denial`.
Verdict = Union[Grant, Ask, Denial]
ASK = Ask()


class ConsentPolicy(ABC):
    @abstractmethod
    def decide(self, query: Query) -> Verdict:
        """Grant, ask or deny."""


def export(plugin: ConsentPolicy) -> type:
    """The class componentize-py calls; assign it to ``Consent`` in the plugin's module."""

    class Consent(_exports.Consent):
        def decide(self, query: _wit.ConsentQuery) -> _wit.Verdict:
            previous = query.previous
            friendly = Query(
                client_id=query.client.client_id,
                client_metadata=json_object(query.client.metadata),
                sub=query.sub,
                scope=Split(list(query.scope.new), list(query.scope.consented)),
                claims=Split(list(query.claims.new), list(query.claims.consented)),
                resources=list(query.resources),
                previous=previous and Previous(list(previous.scope), list(previous.claims), previous.updated_at),
            )
            try:
                verdict = plugin.decide(friendly)
            except PluginError as e:
                raise e.to_wit()
            if isinstance(verdict, Grant):
                return _wit.Verdict_Grant(
                    _wit.Grant(
                        scope=list(verdict.scope),
                        claims=None if verdict.claims is None else list(verdict.claims),
                        long_lived=verdict.long_lived,
                        access_token_lifetime=verdict.access_token_lifetime,
                        id_token_lifetime=verdict.id_token_lifetime,
                        refresh_token=verdict.refresh_token,
                        refresh_token_lifetime=verdict.refresh_token_lifetime,
                    )
                )
            if isinstance(verdict, Denial):
                return _wit.Verdict_Deny(verdict.to_wit())
            if isinstance(verdict, Ask):
                return _wit.Verdict_Ask(_wit.AskUser(list(verdict.reconfirm_scope), list(verdict.reconfirm_claims)))
            raise TypeError(f"decide must return a Grant, ASK or a Denial, not {verdict!r}")

    return Consent

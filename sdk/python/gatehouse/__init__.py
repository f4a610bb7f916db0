"""Write Gatehouse policy plugins in Python.

A plugin is a class implementing one of three kinds, exported under the name componentize-py
looks for:

=============== ================================ ===========================================
kind            base class                       export line in the plugin's module
=============== ================================ ===========================================
claims source   ``gatehouse.claims.ClaimsSource``  ``Claims = gatehouse.claims.export(Plugin())``
consent policy  ``gatehouse.consent.ConsentPolicy`` ``Consent = gatehouse.consent.export(Plugin())``
login hooks     ``gatehouse.hooks.LoginHooks``    ``Hooks = gatehouse.hooks.export(Plugin())``
=============== ================================ ===========================================

The host makes a fresh instance for every call, so module globals do not carry anything from
one call to the next (with the manifest's ``reuse_instances = true`` they may: never keep
per-user data in them). The module is imported once, when the component is built: do not call
the host (``config()``, ``log``) at import time.

Read the plugin's configuration with :func:`config` and write to the host's log with
:mod:`gatehouse.log`. Nothing else is available: no files, no environment, no sockets.
"""

import json
from dataclasses import dataclass
from typing import Any

from componentize_py_types import Err
from wit_world.imports import config as _config
from wit_world.imports import types as _types

#: A JSON object: session data, session claims, client metadata, configuration.
JsonObject = dict[str, Any]


class PluginError(Exception):
    """An expected failure, delivered to the client as the OAuth 2.0 error ``code``.

    Raise one when the plugin cannot answer for a reason it understands, for example
    ``PluginError.unavailable("the user directory is down")``. Any other exception is an
    incident instead: the client only sees ``server_error`` and the host logs it.
    """

    def __init__(self, code: str, description: str):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

    @classmethod
    def unavailable(cls, description: str) -> "PluginError":
        """``temporarily_unavailable``: a dependency of the plugin is failing."""
        return cls("temporarily_unavailable", description)

    def to_wit(self) -> Err:
        """The ``err`` arm of the WIT ``result`` the host receives."""
        return Err(_types.PluginError(self.code, self.description))


@dataclass
class Denial:
    """A decision to refuse a request: the client receives ``code`` (usually ``access_denied``)."""

    code: str
    description: str

    @classmethod
    def access_denied(cls, description: str) -> "Denial":
        return cls("access_denied", description)

    def to_wit(self) -> _types.Denial:
        return _types.Denial(self.code, self.description)


def config() -> JsonObject:
    """The ``config`` table of the plugin's manifest, as a dict (empty when absent)."""
    value = json.loads(_config.get())
    return value if isinstance(value, dict) else {}


def json_object(text: str) -> JsonObject:
    """Parses a JSON text from the host into a dict (an empty one when it is not an object)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

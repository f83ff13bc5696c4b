"""``aperture-plugins token create|list|revoke``: the bearer tokens of ``/api`` and ``/events``.

A token is made by :meth:`PushStore.create_api_token` (``apt_`` and 32 random bytes) and shown
**once**: ``create`` prints it alone on stdout (so ``TOKEN=$(aperture-plugins token create)``
works) and what to do with it on stderr. Only its SHA-256 hash is stored; ``list`` shows an id
(the hash's first 12 characters), the label and when it was made, never the token;
``revoke ID`` deletes it (an id prefix of at least 8 characters). ``APERTURE_API_TOKEN`` is a
token too, for ``serve``, and is never stored.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from aperture_hookspecs import ApertureError

from .host import PluginHost
from .push_store import token_id


class UnknownTokenError(ApertureError):
    """``token revoke ID``: no stored token has that id."""

    code = "unknown_token"
    default_message = "No API token has that id"
    default_hints = ("See the ids with: aperture-plugins token list",)


def create(host: PluginHost, label: str = "") -> dict[str, Any]:
    """A new token and its id (the only time the token is known)."""
    store = host.push_store()
    token = store.create_api_token(label)
    return {"token": token, "id": token_id(token), "label": label}


def listed(host: PluginHost) -> list[dict[str, Any]]:
    """The stored tokens: id, label, created_at (never a token)."""
    return host.push_store().api_tokens()


def revoke(host: PluginHost, token_id: str) -> dict[str, Any]:
    """Delete the token with id ``token_id``; :class:`UnknownTokenError` if there is none."""
    if not host.push_store().revoke_api_token(token_id.strip()):
        raise UnknownTokenError(f"No API token has the id {token_id!r} (ids have at least 8 characters)")
    return {"revoked": token_id.strip()}


def tokens_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("id", "label", "created")
    for row in rows:
        table.add_row(row["id"], row["label"] or "-", row["created_at"])
    return table

"""What push and the HTTP surface keep in the settings store (schema 3).

* **Webhook secrets**: one per provider, generated here (32 random bytes, URL-safe text),
  encrypted with the master key like the API keys and re-encrypted by ``rotate-key``. The
  server sends it back as ``Authorization: Bearer <secret>``; :meth:`PushStore.push_authorized`
  compares the whole header in constant time.
* **API tokens** for ``/api`` and ``/events``: only a SHA-256 hash is stored (a token is 32
  random bytes, so a plain hash is enough); the token itself is shown once, by
  ``aperture-plugins token create``.
* **Push receipts**: per provider, the last push of each kind (``status``, ``test``,
  ``ignored``, ``refused``) with its time and a count, for ``webhook status``.
* **The event stream**: the event log (:mod:`.event_log`) holds a tracked request's
  transitions (kind ``status``) and, since push, the badge of a title for everyone (kind
  ``badge``). :meth:`PushStore.stream_after` reads both, in id order, for ``GET /events``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import json
import secrets
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aperture_hookspecs import Availability, RequestState

from .event_log import change_from_payload, utc_text
from .secrets import KeyMismatchError
from .store import SettingsStore, _file_errors

TOKEN_PREFIX = "apt_"
"""API tokens start with this, so a leaked one is recognisable (and scrubbed by the canary)."""

RECEIPT_KINDS = ("status", "test", "ignored", "refused")

_DECRYPTED: weakref.WeakKeyDictionary[SettingsStore, dict[str, tuple[str, str]]] = weakref.WeakKeyDictionary()
"""Per store and provider: the webhook secret's envelope last decrypted, and its clear text."""


@dataclass(frozen=True)
class StreamEvent:
    """One entry of ``GET /events``: its id, its kind (``status`` or ``badge``) and its data."""

    id: int
    kind: str
    data: dict[str, Any]
    user: str | None  # the user a status event concerns; None: a badge, for everyone


@dataclass(frozen=True)
class PushReceipt:
    """The last push of one kind a provider received."""

    kind: str
    at: datetime
    count: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at.isoformat(), "count": self.count, "detail": self.detail}


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def token_id(token: str) -> str:
    """The id ``token list`` shows for ``token`` (the first 12 characters of its hash)."""
    return _hash_token(token)[:12]


def _via_store(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the SQLite and OS errors of a :class:`PushStore` method into the store's
    :class:`~aperture_plugins.file_errors.DataFileError` subclasses (a damaged ``aperture.db``
    is ``store_damaged`` here too, not a raw ``sqlite3.DatabaseError``)."""

    @functools.wraps(method)
    def translated(self: PushStore, *args: Any, **kwargs: Any) -> Any:
        return _file_errors(lambda _store: method(self, *args, **kwargs))(self.store)

    return translated


def _translating(cls: type[PushStore]) -> type[PushStore]:
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _via_store(member))
    return cls


@_translating
class PushStore:
    """Push's tables of a :class:`~aperture_plugins.store.SettingsStore` (the same file and lock)."""

    def __init__(self, store: SettingsStore) -> None:
        self.store = store

    # -- webhook secrets -------------------------------------------------------------------

    def webhook_secret(self, provider: str) -> str | None:
        """The provider's webhook secret in clear text, or ``None`` if none was made yet.

        The stored envelope is read every time, so a secret renewed or re-encrypted by any
        process counts at once; the clear text of the envelope last decrypted is remembered
        with it (per store), since every push is authenticated and decrypting costs more than
        the rest of the check.
        """
        envelope = self._envelope(provider)
        if envelope is None:
            return None
        memo = _DECRYPTED.setdefault(self.store, {})
        known = memo.get(provider)
        if known is not None and known[0] == envelope:
            return known[1]
        what = f"the webhook secret of {provider}"
        try:
            secret = self.store.secrets.decrypt(envelope, what, provider)
        except KeyMismatchError:
            # a rotation in another process may have re-encrypted the row and dropped the old
            # key between the two reads: read the row again; an unchanged row is a real mismatch
            fresh = self._envelope(provider)
            if fresh is None or fresh == envelope:
                raise
            envelope, secret = fresh, self.store.secrets.decrypt(fresh, what, provider)
        memo[provider] = (envelope, secret)
        return secret

    def _envelope(self, provider: str) -> str | None:
        row = (
            self.store._connection()
            .execute("SELECT envelope FROM webhook_secrets WHERE provider = ?", (provider,))
            .fetchone()
        )
        return row[0] if row is not None else None

    def has_webhook_secret(self, provider: str) -> bool:
        """Whether a webhook secret was made for ``provider`` (without decrypting it)."""
        row = (
            self.store._connection()
            .execute("SELECT 1 FROM webhook_secrets WHERE provider = ?", (provider,))
            .fetchone()
        )
        return row is not None

    def ensure_webhook_secret(self, provider: str, *, renew: bool = False) -> str:
        """The provider's webhook secret, made (and stored encrypted) if there is none or ``renew``."""
        with self.store.transaction() as connection:
            if not renew:
                existing = self.webhook_secret(provider)
                if existing is not None:
                    return existing
            secret = secrets.token_urlsafe(32)
            envelope = self.store.secrets.encrypt(secret)
            connection.execute(
                "INSERT INTO webhook_secrets (provider, envelope, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (provider) DO UPDATE SET envelope = excluded.envelope, "
                "created_at = excluded.created_at",
                (provider, envelope, utc_text(datetime.now(UTC))),
            )
            return secret

    def push_authorized(self, provider: str, authorization: str | None) -> bool:
        """Whether ``authorization`` is exactly ``Bearer <the provider's secret>`` (constant time)."""
        secret = self.webhook_secret(provider)
        if secret is None or authorization is None:
            return False
        expected = f"Bearer {secret}".encode()
        given = authorization.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, expected)

    def remember_public_url(self, provider: str, url: str) -> None:
        """The public URL ``webhook install`` gave the server for ``provider`` (and the event log's
        position then: :meth:`unpushed_transitions` counts from there)."""
        self.store.cache_set(f"webhook.public_url:{provider}", url)
        self.store.cache_set(f"webhook.installed_after:{provider}", self.store.last_event_id())

    def confirm_polled(self, provider: str, request_id: str, state: RequestState) -> None:
        """A push announced what a poll had logged first (the push came late): the last such
        event no longer counts as unpushed (:meth:`unpushed_transitions`). Its ``source`` column
        becomes ``poll,push``; what was streamed stays as it was."""
        with self.store.transaction() as connection:
            connection.execute(
                "UPDATE events SET source = 'poll,push' WHERE id = (SELECT MAX(id) FROM events "
                "WHERE provider = ? AND kind = 'status' AND request_id = ? AND current = ?) "
                "AND source = 'poll'",
                (provider, request_id, RequestState(state).value),
            )

    def unpushed_transitions(self, provider: str) -> tuple[int, datetime | None]:
        """Transitions polling found since ``webhook install`` that every Seerr-family server
        pushes (approved, declined, failed; a movie becoming available), and the time of the
        last: with push working, a push reports them first and the poll logs nothing. (A show
        becoming available is left out: Overseerr sends no push for it.)"""
        after = self.store.cache_get(f"webhook.installed_after:{provider}")
        if not isinstance(after, int):
            return 0, None
        row = (
            self.store._connection()
            .execute(
                "SELECT COUNT(*), MAX(at) FROM events WHERE id > ? AND provider = ? AND kind = 'status' "
                "AND source = 'poll' AND (current IN ('approved', 'declined', 'failed') "
                "OR (current = 'available' AND item LIKE 'movie:%'))",
                (after, provider),
            )
            .fetchone()
        )
        return int(row[0]), datetime.fromisoformat(row[1]) if row[1] else None

    def public_url(self, provider: str) -> str | None:
        value = self.store.cache_get(f"webhook.public_url:{provider}")
        return value if isinstance(value, str) else None

    # -- API tokens ------------------------------------------------------------------------

    def create_api_token(self, label: str = "") -> str:
        """A new API token: returned once, only its hash is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as connection:
            connection.execute(
                "INSERT INTO api_tokens (token_hash, label, created_at) VALUES (?, ?, ?)",
                (_hash_token(token), label, utc_text(datetime.now(UTC))),
            )
        return token

    def api_token_valid(self, token: str) -> bool:
        """Whether ``token`` is one of the stored tokens (its hash is looked up and compared)."""
        digest = _hash_token(token)
        rows = self.store._connection().execute("SELECT token_hash FROM api_tokens").fetchall()
        return any(hmac.compare_digest(digest, row[0]) for row in rows)

    def has_api_tokens(self) -> bool:
        return self.store._connection().execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None

    def api_tokens(self) -> list[dict[str, Any]]:
        """The stored tokens as the admin may see them: label, created, a hash prefix; never the token."""
        rows = (
            self.store._connection()
            .execute("SELECT token_hash, label, created_at FROM api_tokens ORDER BY created_at")
            .fetchall()
        )
        return [{"id": row[0][:12], "label": row[1], "created_at": row[2]} for row in rows]

    def revoke_api_token(self, token_id: str) -> bool:
        """Delete the token whose hash starts with ``token_id`` (at least 8 characters)."""
        if len(token_id) < 8:
            return False
        with self.store.transaction() as connection:
            deleted = connection.execute(
                "DELETE FROM api_tokens WHERE substr(token_hash, 1, ?) = ?", (len(token_id), token_id)
            ).rowcount
        return deleted > 0

    # -- receipts --------------------------------------------------------------------------

    def record_receipt(self, provider: str, kind: str, detail: str = "") -> None:
        """Count one push of ``kind`` and remember when it came and what it was."""
        with self.store.transaction() as connection:
            connection.execute(
                "INSERT INTO push_receipts (provider, kind, at, count, detail) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (provider, kind) DO UPDATE SET at = excluded.at, count = count + 1, "
                "detail = excluded.detail",
                (provider, kind, utc_text(datetime.now(UTC)), detail[:300]),
            )

    def receipts(self, provider: str) -> dict[str, PushReceipt]:
        rows = (
            self.store._connection()
            .execute("SELECT kind, at, count, detail FROM push_receipts WHERE provider = ?", (provider,))
            .fetchall()
        )
        return {row[0]: PushReceipt(row[0], datetime.fromisoformat(row[1]), row[2], row[3]) for row in rows}

    # -- badge events and the stream -------------------------------------------------------

    def record_badges(self, provider: str, badges: Sequence[Availability], source: str) -> list[StreamEvent]:
        """Log the badge of each title whose guest-level state differs from the last one logged.

        Returns the events written (a badge equal to the last one is not logged again, so a
        duplicated push streams nothing new).
        """
        written: list[StreamEvent] = []
        now = utc_text(datetime.now(UTC))
        with self.store.transaction() as connection:
            for badge in badges:
                item = str(badge.item)
                last = connection.execute(
                    "SELECT current FROM events WHERE provider = ? AND kind = 'badge' AND item = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (provider, item),
                ).fetchone()
                state = RequestState(badge.state)
                if last is not None and last[0] == state.value:
                    continue
                data = {
                    "provider": provider,
                    **badge.item.to_dict(),
                    "state": state.value,
                    "label": state.label,
                    "color": state.color,
                    # a requestable title's reason is the guest's ("sign in to request"): not
                    # everyone's; other states' reasons are the title's own
                    "reason": None if state.may_request else badge.reason,
                    "at": now,
                    "source": source,
                }
                cursor = connection.execute(
                    "INSERT INTO events (at, provider, request_id, user_name, previous, current, "
                    "progress_json, payload_json, kind, source, item) "
                    "VALUES (?, ?, '', '', ?, ?, NULL, ?, 'badge', ?, ?)",
                    (
                        now,
                        provider,
                        last[0] if last else "",
                        state.value,
                        json.dumps(data, sort_keys=True),
                        source,
                        item,
                    ),
                )
                assert cursor.lastrowid is not None
                written.append(StreamEvent(cursor.lastrowid, "badge", data, None))
        return written

    def stream_after(
        self, event_id: int, *, provider: str | None = None, user: str | None = None, limit: int = 500
    ) -> list[StreamEvent]:
        """Events after ``event_id``, oldest first: every badge, and the status events of
        ``user`` (of everyone when ``user`` is ``None``)."""
        query = "SELECT id, kind, user_name, payload_json FROM events WHERE id > ?"
        parameters: list[Any] = [event_id]
        if provider is not None:
            query += " AND provider = ?"
            parameters.append(provider)
        if user is not None:
            query += " AND (kind = 'badge' OR user_name = ?)"
            parameters.append(user)
        rows = (
            self.store._connection().execute(query + " ORDER BY id LIMIT ?", (*parameters, limit)).fetchall()
        )
        events = []
        for row_id, kind, user_name, payload in rows:
            if kind == "status":
                events.append(StreamEvent(row_id, kind, change_from_payload(payload).to_dict(), user_name))
            else:
                events.append(StreamEvent(row_id, kind, json.loads(payload), None))
        return events

    def oldest_event_id(self) -> int:
        """The oldest id still in the log (0 if empty): a resume from before it has lost events."""
        row = self.store._connection().execute("SELECT MIN(id) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

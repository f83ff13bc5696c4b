"""The settings store: one SQLite file (``aperture.db``) in the data directory.

It holds each provider's settings (secret fields encrypted by :mod:`.secrets`), the requests
being tracked for polling, small caches that must survive a restart, and the last errors
(for diagnostics). Every write is one transaction: a save that fails half-way (validation,
a crash) leaves the previous settings as they were. WAL mode and a busy timeout let two
processes (Aperture and an admin's CLI) read and write at once without corrupting it.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades an older
file step by step, each step in its own transaction.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    DownloadProgress,
    MediaRef,
    RequestState,
    TrackedRequest,
)

from .secrets import SecretBox, SecretUnreadableError, mask

DATABASE_FILE_NAME = "aperture.db"
BUSY_TIMEOUT = 10.0
UNREADABLE = "unreadable (enter it again)"

MIGRATIONS: tuple[str, ...] = (
    # 1: settings, tracked requests, caches, last errors
    """
    CREATE TABLE provider_settings (
        provider TEXT PRIMARY KEY,
        plain_json TEXT NOT NULL,
        secrets_json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE tracked_requests (
        provider TEXT NOT NULL,
        request_id TEXT NOT NULL,
        media_type TEXT NOT NULL,
        tmdb_id INTEGER NOT NULL,
        user_json TEXT NOT NULL,
        state TEXT NOT NULL,
        is_4k INTEGER NOT NULL,
        seasons_json TEXT,
        progress_json TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (provider, request_id)
    );
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        value_json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE last_errors (
        provider TEXT NOT NULL,
        operation TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (provider, operation)
    );
    """,
    # 2: the poll lease (one poller per provider) and the event log of transitions. Event ids
    # come from AUTOINCREMENT: they only grow and are never reused after pruning, so a reader
    # resumes with "id > last seen" (the SSE Last-Event-ID of issue 14).
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        acquired_at TEXT NOT NULL,
        delivered_id INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        provider TEXT NOT NULL,
        request_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        previous TEXT NOT NULL,
        current TEXT NOT NULL,
        progress_json TEXT,
        payload_json TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (at);
    """,
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SettingsStore:
    """Provider settings and host state in SQLite (see the module docstring).

    Implements the host's ``SettingsSource``: :meth:`get` returns decrypted settings,
    :meth:`set` encrypts the fields the provider's schema marks secret.
    """

    def __init__(self, data_dir: Path, secrets: SecretBox | None = None) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DATABASE_FILE_NAME
        self.secrets = secrets or SecretBox(data_dir)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SettingsStore({str(self.path)!r})"

    # -- connection and migrations ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            try:
                connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
                _use_wal(connection)
                connection.execute("PRAGMA synchronous = NORMAL")
                self._migrate(connection)
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise ApertureError(
                    f"{self.path} was written by a newer version of aperture-plugins "
                    f"(schema {version}; this version knows {len(MIGRATIONS)})",
                    hints=("Upgrade aperture-plugins, or restore the data directory from a backup",),
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so writers queue instead of failing).

        Inside another one it is a savepoint: its changes are undone on an exception, and
        the outer transaction decides whether everything is committed.
        """
        connection = self._connection()
        if connection.in_transaction:
            connection.execute("SAVEPOINT nested")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK TO nested")
                connection.execute("RELEASE nested")
                raise
            connection.execute("RELEASE nested")
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    @property
    def schema_version(self) -> int:
        return self._connection().execute("PRAGMA user_version").fetchone()[0]

    # -- provider settings --------------------------------------------------------------------

    def _settings_row(self, provider: str) -> tuple[str, str] | None:
        return (
            self._connection()
            .execute("SELECT plain_json, secrets_json FROM provider_settings WHERE provider = ?", (provider,))
            .fetchone()
        )

    def get(self, provider: str) -> dict[str, Any] | None:
        """The provider's settings with secrets decrypted, or ``None`` if never saved."""
        row = self._settings_row(provider)
        if row is None:
            return None
        values = _plain(row[0], provider)
        for name, envelope in _envelopes(row[1], provider).items():
            values[name] = self.secrets.decrypt(envelope, f"the {name} of {provider}", provider)
        return values

    def set(
        self, provider: str, values: Mapping[str, Any], secret_fields: frozenset[str] = frozenset()
    ) -> None:
        """Save validated settings in one transaction, encrypting ``secret_fields``.

        The secrets are encrypted inside the transaction, under the store's write lock, so a
        key rotation in another process cannot slip between reading the master key and saving.
        """
        plain = {k: v for k, v in values.items() if k not in secret_fields}
        with self.transaction() as connection:
            secrets = {
                k: self.secrets.encrypt(str(v))
                for k, v in values.items()
                if k in secret_fields and v is not None
            }
            connection.execute(
                "INSERT INTO provider_settings (provider, plain_json, secrets_json, updated_at) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (provider) DO UPDATE SET plain_json = excluded.plain_json, "
                "secrets_json = excluded.secrets_json, updated_at = excluded.updated_at",
                (provider, json.dumps(plain, sort_keys=True), json.dumps(secrets, sort_keys=True), _now()),
            )

    def masked(self, provider: str, secret_fields: frozenset[str] = frozenset()) -> dict[str, Any] | None:
        """The settings as a UI may show them: secrets masked, never in clear text.

        A secret that cannot be decrypted shows as :data:`UNREADABLE`; ``secret_fields`` names
        the fields to mark so when the stored secrets are damaged as a whole.
        """
        row = self._settings_row(provider)
        if row is None:
            return None
        values = _plain(row[0], provider)
        try:
            envelopes = _envelopes(row[1], provider)
        except SecretUnreadableError:
            return {**values, **dict.fromkeys(secret_fields or ("secrets",), UNREADABLE)}
        for name, envelope in envelopes.items():
            try:
                values[name] = mask(self.secrets.decrypt(envelope, f"the {name} of {provider}", provider))
            except ApertureError:
                values[name] = UNREADABLE
        return values

    def readable_secrets(self) -> list[str]:
        """Every stored secret that can be decrypted, in clear text (to scrub it from reports)."""
        found = []
        for provider, secrets_json in self._connection().execute(
            "SELECT provider, secrets_json FROM provider_settings"
        ):
            try:
                envelopes = _envelopes(secrets_json, provider)
            except ApertureError:
                continue
            for envelope in envelopes.values():
                try:
                    found.append(self.secrets.decrypt(envelope))
                except ApertureError:
                    continue
        return found

    def providers_with_settings(self) -> list[str]:
        rows = (
            self._connection().execute("SELECT provider FROM provider_settings ORDER BY provider").fetchall()
        )
        return [row[0] for row in rows]

    def delete(self, provider: str) -> None:
        with self.transaction() as connection:
            connection.execute("DELETE FROM provider_settings WHERE provider = ?", (provider,))

    def rotate_secrets(self) -> int:
        """Re-encrypt every secret under the newest master key, in one transaction."""
        with self.transaction() as connection:
            rows = connection.execute("SELECT provider, secrets_json FROM provider_settings").fetchall()
            for provider, secrets_json in rows:
                secrets = {
                    name: self.secrets.rotate(envelope, f"the {name} of {provider}", provider)
                    for name, envelope in _envelopes(secrets_json, provider).items()
                }
                connection.execute(
                    "UPDATE provider_settings SET secrets_json = ? WHERE provider = ?",
                    (json.dumps(secrets, sort_keys=True), provider),
                )
        return sum(len(json.loads(row[1])) for row in rows)

    # -- tracked requests -------------------------------------------------------------------

    def track(self, provider: str, request: TrackedRequest) -> None:
        self.save_tracked(provider, [request])

    def save_tracked(
        self, provider: str, requests: list[TrackedRequest] | tuple[TrackedRequest, ...]
    ) -> None:
        """Insert or update tracked requests (one transaction)."""
        with self.transaction() as connection:
            connection.executemany(
                "INSERT INTO tracked_requests (provider, request_id, media_type, tmdb_id, user_json, state, "
                "is_4k, seasons_json, progress_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, request_id) DO UPDATE SET state = excluded.state, "
                "progress_json = excluded.progress_json, updated_at = excluded.updated_at",
                [
                    (
                        provider,
                        r.request_id,
                        r.item.media_type.value,
                        r.item.tmdb_id,
                        json.dumps(r.user.to_dict()),
                        r.state.value,
                        int(r.is_4k),
                        json.dumps(r.seasons if r.seasons in (None, "all") else list(r.seasons)),
                        json.dumps(r.progress.to_dict()) if r.progress else None,
                        _now(),
                    )
                    for r in requests
                ],
            )

    def tracked(
        self, provider: str | None = None, user: str | None = None
    ) -> list[tuple[str, TrackedRequest]]:
        """Tracked requests as ``(provider, request)``, oldest first."""
        query = (
            "SELECT provider, request_id, media_type, tmdb_id, user_json, state, is_4k, seasons_json, "
            "progress_json FROM tracked_requests"
        )
        rows = self._connection().execute(query + " ORDER BY rowid").fetchall()
        result = []
        for row in rows:
            if provider is not None and row[0] != provider:
                continue
            user_data = json.loads(row[4])
            if user is not None and user_data.get("name") != user:
                continue
            seasons = json.loads(row[7]) if row[7] else None
            progress = json.loads(row[8]) if row[8] else None
            result.append(
                (
                    row[0],
                    TrackedRequest(
                        request_id=row[1],
                        item=MediaRef(row[2], row[3]),
                        user=ApertureUser(**user_data),
                        state=RequestState(row[5]),
                        is_4k=bool(row[6]),
                        seasons=tuple(seasons) if isinstance(seasons, list) else seasons,
                        progress=_progress(progress),
                    ),
                )
            )
        return result

    # -- caches and errors -----------------------------------------------------------------

    def cache_get(self, key: str) -> Any:
        row = self._connection().execute("SELECT value_json FROM cache WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def cache_set(self, key: str, value: Any) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO cache (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
                (key, json.dumps(value), _now()),
            )

    def record_error(self, provider: str, operation: str, code: str, message: str) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO last_errors (provider, operation, code, message, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, operation) DO UPDATE SET code = excluded.code, "
                "message = excluded.message, at = excluded.at",
                (provider, operation, code, message, _now()),
            )

    def last_errors(self) -> list[dict[str, str]]:
        rows = (
            self._connection()
            .execute("SELECT provider, operation, code, message, at FROM last_errors ORDER BY at DESC")
            .fetchall()
        )
        return [
            dict(zip(("provider", "operation", "code", "message", "at"), row, strict=True)) for row in rows
        ]


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL mode, waiting for other processes opening the file at the same moment.

    The busy timeout does not cover this switch: on a new file, a second process opening it
    at once gets "database is locked" straight away. It is retried here, for as long as the
    busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def _plain(text: str, provider: str) -> dict[str, Any]:
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise ApertureError(
            f"The stored settings of {provider} are damaged",
            hints=(f"Enter them again: aperture-plugins configure {provider} --url URL --api-key-stdin",),
            provider=provider,
        )
    return values


def _envelopes(text: str, provider: str) -> dict[str, str]:
    """The encrypted secrets of a row; damaged data is a :class:`SecretUnreadableError`."""
    try:
        envelopes = json.loads(text)
    except ValueError:
        envelopes = None
    if not isinstance(envelopes, dict) or not all(isinstance(v, str) for v in envelopes.values()):
        raise SecretUnreadableError(
            f"The stored secrets of {provider} are damaged and cannot be decrypted",
            hints=(
                f"Enter the API key again: aperture-plugins configure {provider} --url URL --api-key-stdin",
            ),
            provider=provider,
        )
    return envelopes


def _progress(data: dict[str, Any] | None) -> DownloadProgress | None:
    if not data:
        return None
    eta = datetime.fromisoformat(data["eta"]) if data.get("eta") else None
    return DownloadProgress(
        fraction=data.get("fraction"),
        eta=eta,
        status=data.get("status"),
        size_bytes=data.get("size_bytes"),
        size_left_bytes=data.get("size_left_bytes"),
    )

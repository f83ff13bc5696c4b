"""The settings store: one SQLite file (``aperture.db``) in the data directory.

It holds each provider's settings (secret fields encrypted by :mod:`.secrets`), the requests
being tracked for polling, small caches that must survive a restart, and the last errors
(for diagnostics). Every write is one transaction: a save that fails half-way (validation,
a crash) leaves the previous settings as they were. WAL mode and a busy timeout let two
processes (Aperture and an admin's CLI) read and write at once without corrupting it.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades an older
file step by step, each step in its own transaction. Opening a file that is up to date takes
no lock and writes nothing, so a read-only data directory still allows reads (a directory in
which SQLite cannot create its ``-wal``/``-shm`` files is opened read-only, or as immutable
when it has no write-ahead log); only an old schema takes the write lock to migrate.

**Files.** ``aperture.db`` is created 0600 whatever the umask (SQLite gives ``-wal`` and
``-shm`` the database's mode), and an older, looser file is tightened when opened: they hold
users' names, emails and error texts.

**Errors.** Every public method turns SQLite and OS errors about the file into
:class:`~aperture_plugins.file_errors.DataFileError` subclasses (damaged, read-only, disk full,
locked for too long) naming the file and what to do; errors it does not recognise pass through.

**Concurrent edits.** :meth:`SettingsStore.read` returns the settings with their revision (the
stored row as it was read); :meth:`SettingsStore.replace` saves only if the row is still that
revision, checked and written in one transaction (compare-and-swap). :meth:`change_token`
changes whenever another connection committed anything (``PRAGMA data_version``): a cheap way
for a long-running host to notice that another process changed the settings.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import os
import random
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    MediaRef,
    RequestState,
    StatusChange,
    TrackedRequest,
)

from .event_log import (
    RETENTION_EVENTS,
    RETENTION_SECONDS,
    Lease,
    LoggedChange,
    change_from_payload,
    change_payload,
    holder_is_gone,
    progress_from_dict,
    utc_text,
)
from .file_errors import (
    DataFileError,
    ReadOnlyError,
    StoreTooNewError,
    from_os_error,
    from_sqlite_error,
    read_only_hints,
)
from .secrets import (
    KEY_FILE_NAME,
    KeyMismatchError,
    MasterKeyError,
    SecretBox,
    SecretUnreadableError,
    fsync_directory,
    mask,
)

DATABASE_FILE_NAME = "aperture.db"
BUSY_TIMEOUT = 10.0
UNREADABLE = "unreadable (enter it again)"
PRIVATE_MODE = 0o600
REOPEN_READ_ONLY_AFTER = 30.0
"""Seconds after which a store that could only be opened read-only tries to open for writing."""
_READ_ONLY_FALLBACK = ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_IOERR_SHM")
"""Errors opening the file for writing after which it is opened for reading only."""

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
    # 3: push (issue 14). Events gain a kind ('status': a tracked request's transition, 'badge':
    # a title's badge for everyone), how it was learned ('poll' or 'push') and the title
    # ('movie:680', for badges). Per-provider webhook secrets (encrypted like API keys), the
    # hashes of API tokens, and what pushes were received (for `webhook status`).
    """
    ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'status';
    ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'poll';
    ALTER TABLE events ADD COLUMN item TEXT;
    CREATE INDEX events_by_item ON events (provider, item, id);
    CREATE TABLE webhook_secrets (
        provider TEXT PRIMARY KEY,
        envelope TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    );
    CREATE TABLE push_receipts (
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (provider, kind)
    );
    """,
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


Revision = tuple[str, str] | None
"""A settings row as it was read (its two JSON texts), or ``None`` for "no row"."""


@dataclass(frozen=True)
class StoredSettings:
    """A provider's settings as :meth:`SettingsStore.read` found them.

    ``values`` holds what could be read: the plain values and every secret that could be
    decrypted. ``problem`` is the error that kept the rest from being read (damaged values or
    an unreadable secret), if any. ``revision`` is the row as read, for
    :meth:`SettingsStore.replace`.
    """

    values: dict[str, Any] | None
    revision: Revision
    problem: ApertureError | None = None


_P = ParamSpec("_P")
_R = TypeVar("_R")
_StoreType = TypeVar("_StoreType", bound=type)


def _file_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn SQLite and OS errors about the store's files into :class:`DataFileError` subclasses."""

    @functools.wraps(method)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except UnicodeDecodeError as error:  # only the key file is decoded from bytes here
            store = args[0]
            assert isinstance(store, SettingsStore)
            raise MasterKeyError(
                f"{KEY_FILE_NAME} in {store.data_dir} holds bytes that are not a key (it is not ASCII text)",
                hints=(
                    f"Restore {KEY_FILE_NAME} from your backup of the data directory",
                    f"Or delete {KEY_FILE_NAME}, then enter the API keys again: aperture-plugins configure",
                ),
            ) from error
        except sqlite3.Error as error:
            store = args[0]
            assert isinstance(store, SettingsStore)
            better = store._explain(error)
            if better is None:
                raise
            raise better from error
        except OSError as error:
            store = args[0]
            assert isinstance(store, SettingsStore)
            better = from_os_error(error, store.path)
            if better is None:
                raise
            raise better from error

    return translated


def _translating_file_errors(cls: _StoreType) -> _StoreType:
    """Apply :func:`_file_errors` to every public method and property of ``cls``.

    Methods added later are covered without anyone having to remember it.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, property) and member.fget is not None:
            setattr(cls, name, property(_file_errors(member.fget), member.fset, member.fdel, member.__doc__))
        elif inspect.isfunction(member):
            setattr(cls, name, _file_errors(member))
    return cls


_serials = itertools.count(1)


def _tracked_from_row(row: Sequence[Any], user_data: dict[str, Any]) -> TrackedRequest:
    """A ``tracked_requests`` row (provider, request_id, media_type, tmdb_id, user_json, state,
    is_4k, seasons_json, progress_json) as a :class:`TrackedRequest`; ``user_data`` is its user."""
    seasons = json.loads(row[7]) if row[7] else None
    progress = json.loads(row[8]) if row[8] else None
    return TrackedRequest(
        request_id=row[1],
        item=MediaRef(row[2], row[3]),
        user=ApertureUser(**user_data),
        state=RequestState(row[5]),
        is_4k=bool(row[6]),
        seasons=tuple(seasons) if isinstance(seasons, list) else seasons,
        progress=progress_from_dict(progress),
    )


@_translating_file_errors
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
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if (
            connection is not None
            and self._local.why_read_only is not None
            and not connection.in_transaction
            and time.monotonic() - self._local.opened_at > REOPEN_READ_ONLY_AFTER
        ):
            connection.close()  # opened read-only: perhaps the directory or the disk is fixed
            connection = self._local.connection = None
        if connection is None:
            connection, why_read_only = self._open()
            self._local.connection = connection
            self._local.why_read_only = why_read_only
            self._local.serial = next(_serials)
            self._local.opened_at = time.monotonic()
        return connection

    def _open(self) -> tuple[sqlite3.Connection, sqlite3.Error | None]:
        """Open the database (creating it 0600); returns the connection and, if it could only
        be opened for reading, the error that kept it from being opened for writing.

        A directory in which SQLite cannot create the ``-wal`` and ``-shm`` files (read-only,
        or a full disk) is opened read-only instead, or as immutable when there is no
        write-ahead log to read.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create_private(self.path)
        _tighten_modes(self.path)
        uri = "file:" + quote(str(self.path.absolute()))
        try:
            return self._open_uri(uri, read_only=False), None
        except sqlite3.OperationalError as error:
            name = getattr(error, "sqlite_errorname", "") or ""
            if not name.startswith(_READ_ONLY_FALLBACK) or not self.path.exists():
                raise
            first_error = error
        wal = self.path.with_name(self.path.name + "-wal")
        fallbacks = ["mode=ro"] + ([] if wal.exists() and wal.stat().st_size else ["immutable=1"])
        for query in fallbacks:
            try:
                return self._open_uri(f"{uri}?{query}", read_only=True), first_error
            except sqlite3.OperationalError:
                continue
        raise first_error

    def _explain(self, error: sqlite3.Error) -> DataFileError | None:
        """The :class:`DataFileError` for ``error``; a write refused by a connection opened
        read-only is explained by why it was (say, a full disk rather than permissions)."""
        why = getattr(self._local, "why_read_only", None)
        if why is not None and (getattr(error, "sqlite_errorname", "") or "").startswith("SQLITE_READONLY"):
            error = why
        return from_sqlite_error(error, self.path)

    def _open_uri(self, uri: str, read_only: bool) -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # the first read
            if not read_only:
                if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    _use_wal(connection)
                connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate(connection, version, read_only)
        except BaseException:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: sqlite3.Connection, version: int, read_only: bool) -> None:
        """Bring the schema up to date; a file that is up to date is left alone (no lock taken)."""
        if version == len(MIGRATIONS):
            return
        if version > len(MIGRATIONS):
            raise StoreTooNewError(
                f"{self.path} was written by a newer version of aperture-plugins "
                f"(schema {version}; this version knows {len(MIGRATIONS)})",
                file_name=self.path.name,
                hints=("Upgrade aperture-plugins, or restore the data directory from a backup",),
            )
        if read_only:
            raise ReadOnlyError(
                f"{self.path.name} in {self.data_dir} must be upgraded (schema {version} to "
                f"{len(MIGRATIONS)}), but it cannot be written",
                file_name=self.path.name,
                hints=read_only_hints(self.path),
            )
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # another may have
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @property
    def read_only(self) -> bool:
        """Whether this store could only be opened for reading (a read-only data directory)."""
        self._connection()
        return self._local.why_read_only is not None

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever another connection (any process) commits a change.

        ``PRAGMA data_version`` of this thread's connection: cheap (no disk read in WAL mode),
        and blind to this connection's own writes, which the caller knows about anyway.
        """
        connection = self._connection()
        return (self._local.serial, connection.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so writers queue instead of failing).

        Inside another one it is a savepoint: its changes are undone on an exception, and
        the outer transaction decides whether everything is committed. Failing to take the
        lock or to commit raises a :class:`~aperture_plugins.file_errors.DataFileError`.
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
        self._execute_translated(connection, "BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        try:
            self._execute_translated(connection, "COMMIT")
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")

    def _execute_translated(self, connection: sqlite3.Connection, sql: str) -> None:
        try:
            connection.execute(sql)
        except sqlite3.Error as error:
            better = self._explain(error)
            if better is None:
                raise
            raise better from error

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

    def _decrypt_settled(self, provider: str, name: str, envelope: str) -> str:
        """Decrypt the secret ``name`` of ``provider``, read from its row as ``envelope``.

        On a key mismatch the row is read once more and, if it changed, decrypted again: a
        rotation in another process may have re-encrypted the row and dropped the old key
        between reading the row and reading the key file. A row that did not change has a
        real mismatch (a wrong master key), raised at once.
        """
        what = f"the {name} of {provider}"
        try:
            return self.secrets.decrypt(envelope, what, provider)
        except KeyMismatchError:
            row = self._settings_row(provider)
            fresh = _envelopes(row[1], provider).get(name) if row is not None else None
            if fresh is None or fresh == envelope:
                raise
            return self.secrets.decrypt(fresh, what, provider)

    def get(self, provider: str) -> dict[str, Any] | None:
        """The provider's settings with secrets decrypted, or ``None`` if never saved."""
        row = self._settings_row(provider)
        if row is None:
            return None
        values = _plain(row[0], provider)
        for name, envelope in _envelopes(row[1], provider).items():
            values[name] = self._decrypt_settled(provider, name, envelope)
        return values

    def read(self, provider: str) -> StoredSettings:
        """The provider's settings with their revision, for a read-modify-write (see :meth:`replace`).

        Damaged values or an unreadable secret do not raise: ``problem`` says what could not
        be read, and ``values`` holds the rest, so that entering the settings again can
        repair them.
        """
        row = self._settings_row(provider)
        if row is None:
            return StoredSettings(None, None)
        try:
            values = _plain(row[0], provider)
        except ApertureError as error:
            return StoredSettings({}, row, error)
        try:
            envelopes = _envelopes(row[1], provider)
            for name, envelope in envelopes.items():
                values[name] = self._decrypt_settled(provider, name, envelope)
        except ApertureError as error:
            return StoredSettings(values, row, error)
        return StoredSettings(values, row)

    def set(
        self, provider: str, values: Mapping[str, Any], secret_fields: frozenset[str] = frozenset()
    ) -> None:
        """Save validated settings in one transaction, encrypting ``secret_fields``.

        The secrets are encrypted inside the transaction, under the store's write lock, so a
        key rotation in another process cannot slip between reading the master key and saving.
        """
        with self.transaction() as connection:
            self._write_settings(connection, provider, values, secret_fields)

    def replace(
        self,
        provider: str,
        values: Mapping[str, Any],
        secret_fields: frozenset[str],
        revision: Revision,
    ) -> bool:
        """Save ``values`` only if the stored row is still ``revision`` (from :meth:`read`).

        Checked and written in one transaction (compare-and-swap); returns ``False``, saving
        nothing, when another process changed the settings meanwhile: read them again, redo
        the change on them and try again.
        """
        with self.transaction() as connection:
            current = connection.execute(
                "SELECT plain_json, secrets_json FROM provider_settings WHERE provider = ?", (provider,)
            ).fetchone()
            if (tuple(current) if current is not None else None) != revision:
                return False
            self._write_settings(connection, provider, values, secret_fields)
        return True

    def _write_settings(
        self,
        connection: sqlite3.Connection,
        provider: str,
        values: Mapping[str, Any],
        secret_fields: frozenset[str],
    ) -> None:
        plain = {k: v for k, v in values.items() if k not in secret_fields}
        secrets = {
            k: self.secrets.encrypt(str(v)) for k, v in values.items() if k in secret_fields and v is not None
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
                values[name] = mask(self._decrypt_settled(provider, name, envelope))
            except ApertureError:
                values[name] = UNREADABLE
        return values

    def readable_secrets(self) -> list[str]:
        """Every stored secret that can be decrypted, in clear text (to scrub it from reports)."""
        found = []
        rows = self._connection().execute("SELECT provider, secrets_json FROM provider_settings").fetchall()
        for provider, secrets_json in rows:  # all read first: an open cursor would pin the snapshot
            try:
                envelopes = _envelopes(secrets_json, provider)
            except ApertureError:
                continue
            for name, envelope in envelopes.items():
                try:
                    found.append(self._decrypt_settled(provider, name, envelope))
                except ApertureError:
                    continue
        webhook_rows = self._connection().execute("SELECT provider, envelope FROM webhook_secrets").fetchall()
        for provider, envelope in webhook_rows:
            try:
                found.append(self._decrypt_settled(provider, "webhook secret", envelope))
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

    def rotate_master_key(self) -> int:
        """Re-encrypt every secret under a new master key; returns how many were re-encrypted.

        Safe against a crash or a power loss at any point (see :mod:`.secrets`): every
        secret stays readable with the key file as it is on disk.

        1. The key file gets a new key in front of the old ones, durably (fsynced file,
           rename, fsynced directory).
        2. Every secret is re-encrypted in one transaction committed with
           ``synchronous = FULL``, so the write-ahead log is on disk when COMMIT returns; the
           directory is fsynced too (the log file may be new).
        3. Only then is the old key dropped from the key file, durably again.

        Steps 1 and 2 hold the write lock, so no save (which encrypts under the newest key
        inside its own transaction) and no other rotation comes in between. A crash before
        step 3 leaves both keys in the file; running the rotation again finishes the job.
        """
        connection = self._connection()
        connection.execute("PRAGMA synchronous = FULL")
        try:
            with self.transaction():
                new_key = self.secrets.begin_rotation()  # 1
                count = self.rotate_secrets()  # 2, committed with the transaction
        finally:
            connection.execute("PRAGMA synchronous = NORMAL")
        fsync_directory(self.data_dir)
        with self.transaction():
            self.secrets.finish_rotation(new_key)  # 3
        return count

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
            webhook_rows = connection.execute("SELECT provider, envelope FROM webhook_secrets").fetchall()
            for provider, envelope in webhook_rows:
                rotated = self.secrets.rotate(envelope, f"the webhook secret of {provider}", provider)
                connection.execute(
                    "UPDATE webhook_secrets SET envelope = ? WHERE provider = ?", (rotated, provider)
                )
        return sum(len(json.loads(row[1])) for row in rows) + len(webhook_rows)

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
            result.append((row[0], _tracked_from_row(row, user_data)))
        return result

    def tracked_concerning(
        self, provider: str, request_id: str | None, item: MediaRef | None
    ) -> list[TrackedRequest]:
        """The provider's tracked requests a push can concern (``PushOutcome``: by request id, or
        by title when the push names no request), oldest first, read by that key alone: pushes
        may come hundreds a second, and reading every tracked request for each was the
        receiver's bottleneck."""
        query = (
            "SELECT provider, request_id, media_type, tmdb_id, user_json, state, is_4k, seasons_json, "
            "progress_json FROM tracked_requests WHERE provider = ? AND "
        )
        if request_id is not None:
            rows = self._connection().execute(query + "request_id = ?", (provider, request_id)).fetchall()
        elif item is not None:
            rows = (
                self._connection()
                .execute(
                    query + "media_type = ? AND tmdb_id = ? ORDER BY rowid",
                    (provider, item.media_type.value, item.tmdb_id),
                )
                .fetchall()
            )
        else:
            rows = []
        return [_tracked_from_row(row, json.loads(row[4])) for row in rows]

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

    # -- the poll lease and the event log (see aperture_plugins.event_log) -------------------

    event_retention_seconds: float = RETENTION_SECONDS
    event_retention_count: int = RETENTION_EVENTS

    def acquire_lease(self, name: str, holder: str, seconds: float) -> Lease:
        """Take or renew the lease ``name`` for ``seconds``, or learn who holds it.

        ``holder`` gets it when nobody holds it, when it is already theirs (a renewal), when
        the holder's time ran out, or when the holder is a process of this machine that is
        gone. The answer's ``holder`` says who holds it now.
        """
        with self.transaction() as connection:
            row = connection.execute(
                "SELECT holder, expires_at, delivered_id FROM leases WHERE name = ?", (name,)
            ).fetchone()
            now = time.time()
            if row is not None and row[0] != holder and row[1] > now and not holder_is_gone(row[0]):
                return Lease(name, row[0], row[1], row[2])
            renewal = row is not None and row[0] == holder and row[1] > now
            expires = now + seconds
            connection.execute(
                "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at, acquired_at = CASE "
                "WHEN leases.holder = excluded.holder AND leases.expires_at > ? "
                "THEN leases.acquired_at ELSE excluded.acquired_at END",
                (name, holder, expires, _now(), now),
            )
            return Lease(name, holder, expires, row[2] if row else 0, taken_over=not renewal)

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (if ``holder`` holds it): the next process that asks gets it at once."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", (name, holder)
            )

    def lease(self, name: str) -> Lease | None:
        """The lease as stored (holder, expiry, delivery cursor), or ``None`` if never taken."""
        row = (
            self._connection()
            .execute("SELECT holder, expires_at, delivered_id FROM leases WHERE name = ?", (name,))
            .fetchone()
        )
        return Lease(name, row[0], row[1], row[2]) if row else None

    def mark_delivered(self, name: str, event_id: int) -> None:
        """Every event up to ``event_id`` of the lease's provider has been broadcast."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE leases SET delivered_id = MAX(delivered_id, ?) WHERE name = ?", (event_id, name)
            )

    def record_cycle(
        self,
        provider: str,
        tracked: Sequence[TrackedRequest],
        changes: Sequence[StatusChange],
    ) -> list[LoggedChange]:
        """Save a polling cycle: new states and progress, and one event per transition, at once.

        ``tracked`` are the requests as the cycle left them, ``changes`` its transitions. A
        transition is saved (and logged) only if the stored state is still its ``previous``
        one; otherwise another poller saved it first and it is left out of the answer, so it
        is broadcast by that poller alone. Progress is saved only onto the state it was read
        in. Old events are pruned in the same transaction. Returns what was logged, in order.
        """
        by_id = {change.request.request_id: change for change in changes}
        logged: list[LoggedChange] = []
        now = _now()
        with self.transaction() as connection:
            for request in tracked:
                change = by_id.get(request.request_id)
                progress = json.dumps(request.progress.to_dict()) if request.progress else None
                expected = change.previous if change is not None else request.state
                updated = connection.execute(
                    "UPDATE tracked_requests SET state = ?, progress_json = ?, updated_at = ? "
                    "WHERE provider = ? AND request_id = ? AND state = ?",
                    (request.state.value, progress, now, provider, request.request_id, expected.value),
                ).rowcount
                if change is None or updated != 1:
                    continue
                cursor = connection.execute(
                    "INSERT INTO events (at, provider, request_id, user_name, previous, current, "
                    "progress_json, payload_json, kind, source, item) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'status', ?, ?)",
                    (
                        utc_text(change.at),
                        provider,
                        request.request_id,
                        request.user.name,
                        change.previous.value,
                        change.current.value,
                        json.dumps(change.progress.to_dict()) if change.progress else None,
                        change_payload(change),
                        change.source,
                        str(request.item),
                    ),
                )
                assert cursor.lastrowid is not None
                logged.append(LoggedChange(cursor.lastrowid, change))
            self._prune_events(connection)
        return logged

    def _prune_events(self, connection: sqlite3.Connection) -> None:
        cutoff = datetime.fromtimestamp(time.time() - self.event_retention_seconds, UTC)
        connection.execute("DELETE FROM events WHERE at < ?", (utc_text(cutoff),))
        connection.execute(
            "DELETE FROM events WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.event_retention_count - 1,),
        )

    def events_after(
        self, event_id: int = 0, provider: str | None = None, limit: int = 1000, *, polled_only: bool = False
    ) -> list[LoggedChange]:
        """Logged transitions with an id above ``event_id``, oldest first (at most ``limit``);
        ``polled_only``: leave out those a push brought (their receiver broadcast them)."""
        query = "SELECT id, payload_json FROM events WHERE id > ? AND kind = 'status'"
        if polled_only:
            query += " AND source != 'push'"
        parameters: list[Any] = [event_id]
        if provider is not None:
            query += " AND provider = ?"
            parameters.append(provider)
        rows = self._connection().execute(query + " ORDER BY id LIMIT ?", (*parameters, limit)).fetchall()
        return [LoggedChange(row[0], change_from_payload(row[1])) for row in rows]

    def last_event_id(self) -> int:
        """The highest event id ever given (0 if none): a reader that starts now resumes after it."""
        row = self._connection().execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only, if there is none yet.

    SQLite creates the ``-wal`` and ``-shm`` files with the mode of the database file, so
    they are private too. ``fchmod`` after the create: the umask could only have removed bits.
    """
    if path.exists():
        return
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:  # another process created it first
        return
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, PRIVATE_MODE)
    finally:
        os.close(descriptor)


def _tighten_modes(path: Path) -> None:
    """Make an existing database (and its ``-wal``/``-shm``) private, if it is ours and is not.

    Files written by an older version were created with the umask (often 0644).
    """
    if os.name != "posix":
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = file.stat()
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
                file.chmod(PRIVATE_MODE)
        except OSError:  # gone meanwhile, or a read-only data directory: nothing to do
            continue


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

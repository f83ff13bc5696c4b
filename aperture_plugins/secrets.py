"""Encryption at rest for provider secrets (API keys), with a master key the admin can rotate.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) and
stored as ``v1:<token>``: the prefix versions the envelope so the format can change later.

**The master key** comes from ``APERTURE_SECRET_KEY`` (one Fernet key, or several separated by
commas, newest first), or else from the key file ``secret.key`` in the data directory, created
on first use with mode 0600. Back that file up with the data directory: without it the stored
API keys cannot be read (they can always be entered again).

**Rotation** (:meth:`SecretBox.begin_rotation` / :meth:`SecretBox.finish_rotation`, driven by
``aperture-plugins rotate-key``) never leaves a moment in which a secret is unreadable:

1. a new key is written to the key file *in front of* the old one (both decrypt);
2. every secret is re-encrypted under the new key in one database transaction;
3. the old key is dropped from the file.

A crash between any two steps leaves every secret readable; running ``rotate-key`` again
finishes the job. With ``APERTURE_SECRET_KEY`` the admin puts the new key first in the variable
("NEW,OLD"), runs ``rotate-key``, then removes the old one.

**Durable, not only atomic.** Each version of the key file is written to a private temporary
file, fsynced, renamed into place, and then the directory is fsynced, so after a power loss
the file holds the old version or the new one, never none. Step 2 is committed with
``synchronous = FULL`` (:meth:`~aperture_plugins.store.SettingsStore.rotate_master_key`):
the re-encrypted rows are on disk before step 3 lets the old key go.

**Readers during a rotation.** A reader reads a row and then the key file; a rotation in
another process may finish in between (the row it holds is under the old key, the file has
only the new one). Such a key mismatch raises :class:`KeyMismatchError`, on which the store
reads the row again and retries once.

A wrong master key or an altered ciphertext raises :class:`SecretUnreadableError`, which says
how to recover; never a traceback, never an empty key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from aperture_hookspecs import ApertureError

SECRET_KEY_ENV = "APERTURE_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
ENVELOPE = "v1:"


class SecretUnreadableError(ApertureError):
    """A stored secret could not be decrypted (wrong master key, or the data was altered)."""

    code = "secret_unreadable"
    default_message = "A stored secret could not be decrypted"


class KeyMismatchError(SecretUnreadableError):
    """No master key in use decrypts the secret (a wrong or lost key, altered data, or a
    rotation that finished between reading the row and reading the key file)."""


class MasterKeyError(ApertureError):
    """The master key itself is unusable (malformed variable or key file)."""

    code = "master_key_invalid"
    default_message = "The master key is not valid"


def _parse_keys(text: str, source: str) -> list[bytes]:
    keys = [part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not keys:
        raise MasterKeyError(f"{source} holds no key", hints=(_key_hint(source),))
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise MasterKeyError(
                f"{source} holds something that is not a Fernet key (32 url-safe base64-encoded bytes)",
                hints=(_key_hint(source),),
            ) from None
    return keys


def _key_hint(source: str) -> str:
    if source == SECRET_KEY_ENV:
        return (
            f"Set {SECRET_KEY_ENV} to a key made by: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    return f"Restore {source} from your backup, or delete it and enter the API keys again"


class SecretBox:
    """Encrypts and decrypts secrets with the master key(s) of one data directory."""

    def __init__(self, data_dir: Path, environ: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self._environ = os.environ if environ is None else environ
        self.key_file = data_dir / KEY_FILE_NAME

    @property
    def from_environment(self) -> bool:
        return bool(self._environ.get(SECRET_KEY_ENV, "").strip())

    def _keys(self, create: bool) -> list[bytes]:
        if self.from_environment:
            return _parse_keys(self._environ[SECRET_KEY_ENV], SECRET_KEY_ENV)
        try:
            return _parse_keys(self.key_file.read_text(encoding="ascii"), str(self.key_file))
        except FileNotFoundError:
            if not create:
                raise SecretUnreadableError(
                    f"The master key file {self.key_file} is missing, so stored secrets cannot be read",
                    hints=(
                        f"Restore {KEY_FILE_NAME} from your backup of the data directory",
                        "Or enter the API key again (aperture-plugins configure NAME)",
                    ),
                ) from None
            return [self._create_key_file()]

    def _create_key_file(self) -> bytes:
        """Create the key file, complete, or use the one another process created first.

        The key is written to a private temporary file which is then hard-linked into place:
        the link fails if the key file exists, and no process can ever see it half-written
        (with ``O_EXCL`` on the key file itself, a second process could read it empty).
        """
        key = Fernet.generate_key()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self._write_temporary([key])
        try:
            os.link(temporary, self.key_file)
        except FileExistsError:  # another process created it first: use that one
            return self._keys(create=False)[0]
        except OSError:  # no hard links here (some file systems): exclusive create instead
            return self._create_key_file_exclusively(key)
        finally:
            temporary.unlink(missing_ok=True)
        fsync_directory(self.data_dir)
        return key

    def _create_key_file_exclusively(self, key: bytes) -> bytes:
        try:
            descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._keys(create=False)[0]
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(key.decode() + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        fsync_directory(self.data_dir)
        return key

    def _fernet(self, create: bool = False) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self._keys(create)])

    def encrypt(self, plaintext: str) -> str:
        """Encrypt under the newest master key (creating the key file on first use)."""
        return ENVELOPE + self._fernet(create=True).encrypt(plaintext.encode()).decode()

    def decrypt(self, envelope: str, what: str = "a stored secret", provider: str | None = None) -> str:
        """Decrypt; raises :class:`SecretUnreadableError` saying how to recover."""
        if not isinstance(envelope, str) or not envelope.startswith(ENVELOPE):
            raise SecretUnreadableError(
                f"{what} is stored in an unknown format", hints=_recovery(what, provider), provider=provider
            )
        try:
            return self._fernet().decrypt(envelope[len(ENVELOPE) :].encode()).decode()
        except InvalidToken:
            raise KeyMismatchError(
                f"{what} cannot be decrypted: the master key is not the one it was saved with, "
                "or the stored data was altered",
                hints=_recovery(what, provider),
                provider=provider,
            ) from None

    def rotate(self, envelope: str, what: str = "a stored secret", provider: str | None = None) -> str:
        """Re-encrypt under the newest key (the older keys must still be present)."""
        self.decrypt(envelope, what, provider)  # a clear error first, if it cannot be read at all
        return ENVELOPE + self._fernet().rotate(envelope[len(ENVELOPE) :].encode()).decode()

    # -- rotation of the key file -----------------------------------------------------------

    def begin_rotation(self) -> bytes:
        """Step 1: put a new key in front of the current ones (key file only); returns the new key.

        Run it, the re-encryption and :meth:`finish_rotation` while holding the settings
        store's write lock (:func:`aperture_plugins.admin.rotate_master_key` does), so that
        two rotations, or a rotation and a save, cannot interleave.
        """
        if self.from_environment:
            keys = self._keys(create=False)
            if len(keys) < 2:
                raise MasterKeyError(
                    f"The master key comes from {SECRET_KEY_ENV}, which this command cannot change",
                    hints=(
                        f"Put a new key first: {SECRET_KEY_ENV}=NEW,OLD; run rotate-key; then keep only NEW",
                        _key_hint(SECRET_KEY_ENV),
                    ),
                )
            return keys[0]
        keys = self._keys(create=True)
        new_key = Fernet.generate_key()
        self._write_keys([new_key, *keys])
        return new_key

    def finish_rotation(self, new_key: bytes | None = None) -> None:
        """Step 3: drop the keys older than ``new_key`` (default: all but the newest; key file only).

        Keys in front of ``new_key`` (put there by a later rotation) are kept.
        """
        if self.from_environment:
            return
        keys = self._keys(create=False)
        keep = keys.index(new_key) + 1 if new_key in keys else 1
        if keep < len(keys):
            self._write_keys(keys[:keep])

    def _write_temporary(self, keys: Sequence[bytes]) -> Path:
        temporary = self.key_file.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as stream:
                stream.write("".join(key.decode() + "\n" for key in keys))
                stream.flush()
                os.fsync(stream.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary

    def _write_keys(self, keys: Sequence[bytes]) -> None:
        """Replace the key file durably: a fsynced temporary file renamed into place, then the
        directory fsynced (the rename itself is only on disk once the directory is)."""
        temporary = self._write_temporary(keys)
        try:
            os.replace(temporary, self.key_file)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(self.data_dir)


def _recovery(what: str, provider: str | None = None) -> tuple[str, ...]:
    command = f"aperture-plugins configure {provider or 'NAME'} --url URL --api-key-stdin"
    return (
        f"Restore {KEY_FILE_NAME} (or {SECRET_KEY_ENV}) as it was when {what} was saved",
        f"Or enter the API key again: {command}",
    )


def fsync_directory(directory: Path) -> None:
    """Make the names in ``directory`` durable (a rename, a new file); a no-op where directories
    cannot be opened (Windows, whose renames are durable through the file system's journal)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def mask(secret: str) -> str:
    """How a stored secret is shown after saving: never the value, at most its last 4 characters."""
    if len(secret) >= 16:
        return "••••" + secret[-4:]
    return "set"

"""What a provider's author supplies to the kit, in one value: :class:`ProviderSetup`.

Only the plugin and example settings are required. Everything that needs a server or a way to
see inside it is optional; a check that needs what was not supplied is skipped with a reason
naming what to supply, never passed silently:

* ``settings_for_url`` – settings pointing at a given base URL (``http://127.0.0.1:PORT``):
  the unreachable-server checks point the provider at a closed port and a stalling server;
* ``count_requests`` – how many requests the author's server holds: the never-twice check;
* ``refusals`` – requests the author's server refuses (:class:`Refusal`);
* ``change_request`` – changes one request on the server (approves it): the polling check;
* ``push_examples`` – deliveries the author's server sends (:class:`PushExample`), for a provider
  declaring ``Capability.PUSH``: each must parse to a notice of its kind, and their notices are
  the ones the kit applies (without them it applies a notice it makes itself);
* ``push_elsewhere`` – makes the author's server push to a given URL, as another receiver's
  set-up would: the checks that ``INSTALL`` never overwrites it and ``REMOVE`` never touches it;
* ``user`` – an Aperture user who may request; ``items`` – the titles to look up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from ..push import PushKind
from ..types import ApertureUser, MediaRef, RequestOptions
from .session import ProviderSession
from .subject import PluginUnderTest

__all__ = [
    "CANARY_PREFIX",
    "DEFAULT_ITEMS",
    "DEFAULT_USER",
    "ProviderSetup",
    "PushExample",
    "Refusal",
    "new_canary",
    "unknown_user",
]

CANARY_PREFIX = "APERTURE-KIT-CANARY-"
"""Every canary starts with this: a settings value containing it is a secret."""

DEFAULT_ITEMS: tuple[MediaRef, ...] = tuple(
    MediaRef.parse(text)
    for text in ("movie:603", "tv:1399", "movie:550", "tv:603", "movie:27205", "tv:1396", "movie:155")
)
"""The titles looked up when the author supplies none: not sorted, and movie 603 next to tv 603."""

DEFAULT_USER = ApertureUser("aperture-kit-user")


def new_canary() -> str:
    """A fresh secret-looking value to use as a fake API key or token (printable ASCII, no spaces)."""
    return CANARY_PREFIX + secrets.token_hex(8)


def unknown_user() -> ApertureUser:
    """An Aperture user no server knows."""
    return ApertureUser(f"aperture-kit-nobody-{secrets.token_hex(4)}")


@dataclass(frozen=True)
class Refusal:
    """A request the author's server refuses; ``why`` is shown in messages ("no TV permission")."""

    item: MediaRef
    user: ApertureUser
    options: RequestOptions = field(default_factory=RequestOptions)
    why: str = ""


class PushExample(NamedTuple):
    """A delivery the author's server sends: its raw ``body`` and the ``kind`` of notice it must
    parse to (a plain ``(body, kind)`` tuple works too); ``label`` names it in messages."""

    body: bytes
    kind: PushKind
    label: str = ""


@dataclass
class ProviderSetup:
    """The plugin under test and what its author supplied (see the module docstring)."""

    plugin: Any
    entry_point: str
    settings: Mapping[str, Any]
    data_dir: Path
    user: ApertureUser = DEFAULT_USER
    items: Sequence[MediaRef] = DEFAULT_ITEMS
    settings_for_url: Callable[[str], Mapping[str, Any]] | None = None
    count_requests: Callable[[], int] | None = None
    refusals: Sequence[Refusal] = ()
    change_request: Callable[[str], Any] | None = None
    push_examples: Sequence[PushExample] = ()
    push_elsewhere: Callable[[str], Any] | None = None
    blocking_threshold: float = 0.25
    stall_deadline: float = 30.0
    deadline: float = 60.0

    @cached_property
    def subject(self) -> PluginUnderTest:
        """The plugin, admitted as the host would (a refusal is raised as the promise it breaks)."""
        return PluginUnderTest.admit(self.plugin, self.entry_point)

    def session(
        self, settings: Mapping[str, Any] | None = None, label: str = "the example settings"
    ) -> ProviderSession:
        """A fresh context (and event loop) on ``settings`` (the example settings by default)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return ProviderSession(
            self.subject,
            self.settings if settings is None else settings,
            self.data_dir,
            blocking_threshold=self.blocking_threshold,
            deadline=self.deadline,
            settings_label=label,
        )

    def settings_at(self, url: str) -> Mapping[str, Any]:
        """The author's settings for ``url`` (only called when ``settings_for_url`` was supplied)."""
        assert self.settings_for_url is not None
        return self.settings_for_url(url)

"""Finding the server user behind an Aperture user: the user directory and the mapping rules.

:class:`UserDirectory` keeps every server user (paged ``GET /user``, all pages) for
``ttl`` seconds and refreshes on a miss (a user created on the server since), single-flight so
a page of 200 cards triggers one refresh, not 200.

:func:`match_user` applies the rules in order; the first step that yields exactly one candidate
wins, two or more at one step leave the user unmapped with the candidates' ids (never a guess),
and nobody ever falls back to the API key's owner:

1. the manual map from the settings (a server user id, username or email): a target written
   exactly as one user's username or email wins over users it matches only case-insensitively
   (``map sam Sam`` picks "Sam" although "sam" exists too); otherwise it is compared like step 3;
2. the media-server user id (``jellyfinUserId``), compared without dashes, case-insensitively;
3. ``jellyfinUsername`` / ``plexUsername`` / ``username``, case-insensitive and
   Unicode-normalised (NFKC, casefold), so "José" matches "JOSÉ" and "ǅ" matches "Ǆ";
4. email, the same way.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aperture_hookspecs import ApertureUser

from .client import SeerrClient
from .models import SeerrUser

USER_PAGE_SIZE = 100


def fold(text: str | None) -> str | None:
    """Unicode-normalised, case-folded text for comparisons (``None`` stays ``None``)."""
    if text is None:
        return None
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return unicodedata.normalize("NFKC", folded) or None


def fold_id(text: str | None) -> str | None:
    """A media-server id without dashes, lower case."""
    if not text:
        return None
    return text.replace("-", "").strip().lower() or None


@dataclass(frozen=True)
class UserMatch:
    """The outcome of mapping one Aperture user.

    ``user`` is the server user (``None`` if unmapped); ``method`` says how it matched
    (``manual``, ``media-server id``, ``username``, ``email``); ``problem`` says why not.
    """

    user: SeerrUser | None
    method: str | None = None
    problem: str | None = None


def _candidates(users: Iterable[SeerrUser], predicate: Callable[[SeerrUser], bool]) -> list[SeerrUser]:
    return [user for user in users if predicate(user)]


def _ambiguous(step: str, found: list[SeerrUser]) -> UserMatch:
    ids = ", ".join(f"{u.id} ({u.display_name})" for u in sorted(found, key=lambda u: u.id))
    return UserMatch(None, problem=f"{len(found)} server users match by {step}: ids {ids}; map one by hand")


def _names(user: SeerrUser) -> set[str]:
    """The names a manual map may give for ``user``: its usernames and its email."""
    names = (user.username, user.jellyfin_username, user.plex_username, user.email)
    return {name for name in names if name}


def match_manual(target: int | str, users: list[SeerrUser]) -> UserMatch:
    """Resolve a manual map target: a server user id, a username or an email.

    A target spelled exactly as a name of one or more users is looked up among those only;
    the case-insensitive, Unicode-normalised comparison applies when no name is spelled so.
    """
    if isinstance(target, int):
        found = [u for u in users if u.id == target]
    else:
        found = _candidates(users, lambda u: target in _names(u))
        if not found:
            wanted = fold(target)
            found = _candidates(users, lambda u: wanted in {fold(name) for name in _names(u)})
    if len(found) == 1:
        return UserMatch(found[0], "manual")
    if not found:
        return UserMatch(
            None, problem=f"the manual map points at {target!r}, which is not a user on the server"
        )
    return _ambiguous("the manual map", found)


def match_user(user: ApertureUser, users: list[SeerrUser], manual: Mapping[str, int | str]) -> UserMatch:
    """Apply the mapping rules (see the module docstring)."""
    if user.name in manual:
        return match_manual(manual[user.name], users)
    steps: list[tuple[str, Callable[[SeerrUser], bool]]] = []
    wanted_id = fold_id(user.media_server_id)
    if wanted_id:
        steps.append(("media-server id", lambda u: fold_id(u.jellyfin_user_id) == wanted_id))
    wanted_name = fold(user.name)
    steps.append(
        (
            "username",
            lambda u: wanted_name in {fold(u.jellyfin_username), fold(u.plex_username), fold(u.username)},
        )
    )
    wanted_email = fold(user.email)
    if wanted_email:
        steps.append(("email", lambda u: fold(u.email) == wanted_email))
    for method, predicate in steps:
        found = _candidates(users, predicate)
        if len(found) == 1:
            return UserMatch(found[0], method)
        if len(found) > 1:
            return _ambiguous(method, found)
    return UserMatch(
        None,
        problem=(
            f"no server user has the username, media-server id or email of {user.name!r}; "
            "map the user by hand"
        ),
    )


class UserDirectory:
    """Every server user, cached for ``ttl`` seconds, refreshed on a miss without a stampede."""

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        miss_refresh_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.miss_refresh_after = miss_refresh_after
        self._clock = clock
        self._users: list[SeerrUser] = []
        self._loaded_at: float | None = None
        self._inflight: asyncio.Future[list[SeerrUser]] | None = None

    @property
    def users(self) -> list[SeerrUser]:
        return list(self._users)

    def expire(self) -> None:
        """Reload the list on next use (a mapped user turned out to be gone)."""
        self._loaded_at = None

    async def all(self, client: SeerrClient, *, force: bool = False) -> list[SeerrUser]:
        """Every user; reloaded when older than ``ttl`` (or when ``force``)."""
        fresh = self._loaded_at is not None and self._clock() - self._loaded_at < self.ttl
        if fresh and not force:
            return self._users
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._load(client))
            self._inflight.add_done_callback(self._clear)
        return await asyncio.shield(self._inflight)

    def _clear(self, _: asyncio.Future[list[SeerrUser]]) -> None:
        self._inflight = None

    async def _load(self, client: SeerrClient) -> list[SeerrUser]:
        users: list[SeerrUser] = []
        skip = 0
        while True:
            page = await client.users(take=USER_PAGE_SIZE, skip=skip)
            users.extend(page.results)
            skip += len(page.results)
            if len(page.results) < USER_PAGE_SIZE or skip >= page.page_info.results:
                break
        self._users = users
        self._loaded_at = self._clock()
        return users

    async def resolve(
        self, client: SeerrClient, user: ApertureUser, manual: Mapping[str, int | str]
    ) -> UserMatch:
        """Map ``user``; on a miss, reload the list once (if it is not brand new) and try again."""
        match = match_user(user, await self.all(client), manual)
        stale = self._loaded_at is None or self._clock() - self._loaded_at >= self.miss_refresh_after
        if match.user is None and stale:
            match = match_user(user, await self.all(client, force=True), manual)
        return match

"""Tests of ``aperture_overseerr.testing.FakeSeerr``: each trap and rule of the notes, per flavour.

Most tests talk to the fake through ``httpx.AsyncClient(transport=fake.transport())``; a few go
over real HTTP with ``fake.serve()``; the last ones route full scenarios through
``ValidatingTransport`` and check them against the servers' OpenAPI files.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.testing.fake_flavours import (
    ADMIN,
    AUTO_APPROVE,
    MANAGE_REQUESTS,
    MANAGE_USERS,
    REQUEST,
    REQUEST_4K,
    REQUEST_VIEW,
    flavour_traits,
    release_rules,
)
from aperture_overseerr.testing.fake_flavours import FLAVOURS as FLAVOURS_TABLE

from .openapi_validation import ValidatingTransport, exchange_problems, validate_exchange

FLAVOURS = ["overseerr", "jellyseerr", "seerr"]
KEY = "FAKE-API-KEY-0000"
BASE = "http://seerr.test"
FORBIDDEN = {"status": 403, "error": "You do not have permission to access this endpoint"}
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def make(flavour: str = "jellyseerr", **kwargs: Any) -> FakeSeerr:
    """A fake with a fixed clock, two movies and a three-season show (with specials)."""
    fake = FakeSeerr(flavour, clock=lambda: START, **kwargs)  # type: ignore[arg-type]
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 604, "The Matrix Reloaded")
    fake.add_title("tv", 1399, "Game of Thrones", seasons=3, specials=True)
    return fake


@asynccontextmanager
async def client(
    fake: FakeSeerr, *, key: str | None = KEY, user: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {}
    if key is not None:
        headers["X-Api-Key"] = key
    if user is not None:
        headers["X-Api-User"] = str(user)
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE, headers=headers) as http:
        yield http


async def post_request(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post("/api/v1/request", json=body)


# ---------------------------------------------------------------------- identity per flavour
@pytest.mark.parametrize(
    ("flavour", "api", "version", "server_type"),
    [
        ("overseerr", "Overseerr API", "1.34.0", None),
        ("jellyseerr", "Jellyseerr API", "2.7.3", 2),
        ("seerr", "Seerr API", "3.1.0", 2),
    ],
)
async def test_public_identity_routes(flavour: str, api: str, version: str, server_type: int | None) -> None:
    fake = make(flavour)
    async with client(fake, key=None) as http:
        root = await http.get("/api/v1")
        status = await http.get("/api/v1/status")
        public = await http.get("/api/v1/settings/public")
        slash = await http.get("/api/v1/")
    assert root.json() == {"api": api, "version": "1.0"}
    assert status.status_code == 200 and status.json()["version"] == version
    assert public.json().get("mediaServerType") == server_type
    assert ("mediaServerType" in public.json()) is (server_type is not None)
    assert {"movie4kEnabled", "series4kEnabled", "partialRequestsEnabled"} <= public.json().keys()
    assert slash.status_code == 404


# ---------------------------------------------------------------------- versions and timestamps (§14)
@pytest.mark.parametrize(
    ("flavour", "version", "override", "frozen"),
    [
        ("overseerr", None, None, False),
        ("overseerr", "1.35.0", None, False),
        ("jellyseerr", None, None, True),
        ("jellyseerr", "2.5.2", None, False),
        ("jellyseerr", "2.6.0", None, True),
        ("seerr", None, None, True),
        ("seerr", "3.0.0", None, True),
        ("seerr", "3.1.9", None, True),
        ("seerr", "3.2.0", None, False),
        ("seerr", "3.2.0", True, True),
        ("jellyseerr", None, False, False),
    ],
)
async def test_updated_at_frozen_per_version(
    flavour: str, version: str | None, override: bool | None, frozen: bool
) -> None:
    """Trap 16: approve, decline and arrival leave ``updatedAt`` at the creation second where the
    release freezes it, and move it elsewhere; ``/status`` reports the chosen version."""
    moments = [START]
    fake = FakeSeerr(flavour, version=version, frozen_updated_at=override, clock=lambda: moments[0])  # type: ignore[arg-type]
    fake.add_title("movie", 603, "The Matrix")
    fake.add_title("movie", 604, "The Matrix Reloaded")
    fake.add_title("tv", 1396, "Breaking Bad", seasons=3)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        movie = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        other = (await post_request(http, mediaType="movie", mediaId=604, is4k=False)).json()
        show = (await post_request(http, mediaType="tv", mediaId=1396, seasons=[1], is4k=False)).json()
    moments[0] = START + timedelta(seconds=5)
    async with client(fake) as http:
        await http.post(f"/api/v1/request/{movie['id']}/approve")
        await http.post(f"/api/v1/request/{show['id']}/decline")
        fake.mark_available(movie["id"])
        status = (await http.get("/api/v1/status")).json()
        after = (await http.get(f"/api/v1/request/{movie['id']}")).json()
        declined = (await http.get(f"/api/v1/request/{show['id']}")).json()
        requests = (await http.get("/api/v1/request?sort=modified")).json()["results"]
        media = (await http.get("/api/v1/media?sort=modified")).json()["results"]
    assert status["version"] == (version or fake.traits.version)
    assert fake.traits.frozen_updated_at is frozen
    created = "2025-06-01T12:00:00.000Z"
    later = "2025-06-01T12:00:05.000Z"
    assert after["createdAt"] == created and after["media"]["createdAt"] == created
    assert after["updatedAt"] == (created if frozen else later)
    assert after["media"]["updatedAt"] == (created if frozen else later)
    assert declined["updatedAt"] == (created if frozen else later)
    assert after["status"] in (2, 5) and after["media"]["status"] == 5  # the statuses do move
    # sort=modified: by updatedAt descending, equal seconds in ascending id order
    if frozen:
        assert [r["id"] for r in requests] == [movie["id"], other["id"], show["id"]]
        assert [m["id"] for m in media] == sorted(m["id"] for m in media)
    else:
        assert [r["id"] for r in requests] == [movie["id"], show["id"], other["id"]]
        assert media[0]["id"] == after["media"]["id"]  # the oldest row, changed last, comes first


def test_unknown_version_text_is_refused() -> None:
    with pytest.raises(ValueError, match="not a version number"):
        FakeSeerr("seerr", version="latest")
    with pytest.raises(ValueError, match="unknown flavour"):
        FakeSeerr("emby", version="1.0.0")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- releases besides the recorded ones
SPEC_DIR = Path(__file__).parents[1].parent / "shared" / "reference" / "openapi"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_recorded_release_is_exactly_the_table(flavour: str) -> None:
    """Asking for the recorded version changes nothing (the replay test's ground)."""
    recorded = FLAVOURS_TABLE[flavour]  # type: ignore[index]
    assert flavour_traits(flavour, recorded.version) == recorded  # type: ignore[arg-type]
    assert release_rules(flavour, recorded.version) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flavour", "version", "status", "request_status"),
    [
        ("overseerr", "1.34.0", 3, 2),  # the sync resets to PROCESSING, the request stays APPROVED
        ("overseerr", "1.35.0", 6, 5),  # DELETED is 6 there, and the request COMPLETED
        ("jellyseerr", "2.5.2", 3, 2),  # before DELETED and COMPLETED (2.6)
        ("jellyseerr", "2.6.0", 7, 5),
        ("seerr", "3.0.0", 7, 5),
    ],
)
async def test_a_title_removed_from_the_library_per_release(
    flavour: str, version: str, status: int, request_status: int
) -> None:
    fake = make(flavour, version=version)
    async with client(fake) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        fake.mark_available(created["id"])
        fake.remove_from_library("movie", 603)
        after = (await http.get(f"/api/v1/request/{created['id']}")).json()
        deleted = await http.get("/api/v1/request?filter=deleted")
        again = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    assert after["media"]["status"] == status and after["status"] == request_status
    assert fake.traits.media_status_name(status) == ("DELETED" if status in (6, 7) else "PROCESSING")
    if request_status == 5:  # the filter exists with COMPLETED, and a completed request blocks nothing
        assert [r["id"] for r in deleted.json()["results"]] == [created["id"]]
        assert again.status_code == 201 and again.json()["media"]["status"] == 2  # DELETED → PENDING
    else:  # the file of that release has no "deleted" filter; the approved request is a duplicate
        assert deleted.status_code == 400
        assert again.status_code == 409


@pytest.mark.parametrize(
    ("flavour", "version", "removed"),
    [("overseerr", "1.34.0", 1), ("overseerr", "1.35.0", 6), ("jellyseerr", "2.5.2", 1), ("seerr", None, 7)],
)
async def test_a_season_removed_from_the_library_may_be_requested_again(
    flavour: str, version: str | None, removed: int
) -> None:
    fake = make(flavour, version=version)
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5, 2: 5, 3: 1})
    fake.remove_from_library("tv", 1399, seasons=[2])
    async with client(fake) as http:
        info = (await http.get("/api/v1/tv/1399")).json()["mediaInfo"]
        again = await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)
        kept = await post_request(http, mediaType="tv", mediaId=1399, seasons=[1], is4k=False)
    assert info["status"] == 4  # season 1 is still there
    assert {s["seasonNumber"]: s["status"] for s in info["seasons"]} == {1: 5, 2: removed, 3: 1}
    assert again.status_code == 201 and [s["seasonNumber"] for s in again.json()["seasons"]] == [2]
    assert kept.status_code == 202  # the season in the library is not requested again
    with pytest.raises(ValueError, match="seasons of a TV show"):
        fake.remove_from_library("movie", 603, seasons=[1])


async def test_status_6_is_deleted_on_overseerr_135_and_blacklisted_on_jellyseerr() -> None:
    """6 is no blocklist on Overseerr ≥ 1.35: such a title may be requested again; a declined
    movie request leaves it DELETED; ``POST /media/{id}/deleted`` sets 6."""
    for flavour, version, status in (("overseerr", "1.35.0", 201), ("jellyseerr", "2.5.2", 403)):
        fake = make(flavour, version=version)
        alice = fake.add_user("alice")
        fake.add_media("movie", 603, status=6)
        async with client(fake, user=alice) as http:
            response = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        assert response.status_code == status
    assert fake.traits.media_status_name(6) == "BLACKLISTED"
    fake = make("overseerr", version="1.35.0")
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    media_id = fake.add_media("movie", 603, status=6)  # requested, then arrived and left
    async with client(fake) as http:
        await http.post(f"/api/v1/request/{created.json()['id']}/decline")
        declined = fake.find_media("movie", 603).status  # type: ignore[union-attr]
        marked = await http.post(f"/api/v1/media/{media_id}/deleted", json={"is4k": True})
    assert declined == 6  # DELETED stays (``updateParentStatus``)
    assert marked.status_code == 200 and marked.json()["status4k"] == 6


@pytest.mark.parametrize(
    ("flavour", "version", "status", "again"),
    [
        ("overseerr", "1.34.0", 2, 409),
        ("overseerr", "1.35.0", 5, 201),
        ("jellyseerr", "2.5.2", 2, 409),
        ("jellyseerr", "2.7.3", 5, 201),
    ],
)
async def test_completed_requests_per_release(flavour: str, version: str, status: int, again: int) -> None:
    """COMPLETED exists on Overseerr ≥ 1.35 and Jellyseerr ≥ 2.6: an arrived title's request
    turns 5, ``filter=completed`` lists it, and it no longer blocks a new request (notes §5, §8)."""
    fake = make(flavour, version=version)
    async with client(fake) as http:
        first = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        fake.mark_available(first["id"])
        read = (await http.get(f"/api/v1/request/{first['id']}")).json()
        available = (await http.get("/api/v1/request?filter=available")).json()["results"]
        completed = await http.get("/api/v1/request?filter=completed")
        count = (await http.get("/api/v1/request/count")).json()
        response = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    assert read["status"] == status and [r["id"] for r in available] == [first["id"]]
    assert response.status_code == again
    if status == 5:
        assert [r["id"] for r in completed.json()["results"]] == [first["id"]]
    else:
        assert completed.status_code == 400
        assert count["approved"] == count["available"] == 1  # an arrived request stays APPROVED
    # the key: recorded on Seerr only; Overseerr >= 1.35 after the notes (an inference)
    assert ("completed" in count) is ((flavour, version) == ("overseerr", "1.35.0"))


@pytest.mark.parametrize(
    ("flavour", "version", "accepted", "refused"),
    [
        (
            "overseerr",
            "1.34.0",
            (),
            ("/request?filter=completed", "/request?filter=deleted", "/media?filter=deleted"),
        ),
        (
            "overseerr",
            "1.35.0",
            ("/request?filter=completed", "/request?filter=deleted", "/media?filter=deleted"),
            (),
        ),
        (
            "jellyseerr",
            "2.5.2",
            ("/user?includeIds=1", "/request?sortDirection=asc"),
            (
                "/request?filter=completed",
                "/request?filter=deleted",
                "/media?filter=deleted",
                "/request?mediaType=tv",
            ),
        ),
        ("jellyseerr", "2.3.0", ("/user?q=admin",), ("/user?includeIds=1",)),
        (
            "jellyseerr",
            "2.6.0",
            ("/request?filter=completed", "/request?mediaType=tv", "/user?includeIds=1"),
            (),
        ),
    ],
)
async def test_query_parameters_per_release(
    flavour: str, version: str, accepted: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    fake = make(flavour, version=version)
    async with client(fake) as http:
        for path in accepted:
            assert (await http.get(f"/api/v1{path}")).status_code == 200, path
        for path in refused:
            response = await http.get(f"/api/v1{path}")
            assert response.status_code == 400, path
            assert "should be equal to one of" in response.json()["message"] or response.json()[
                "message"
            ].startswith("Unknown query parameter"), path


def _spec_query(path: Path, route: str) -> dict[str, tuple[str, ...] | None]:
    """The query parameters of ``GET <route>`` in an OpenAPI file, with their enums."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    operation = document["paths"][route]["get"]
    return {p["name"]: tuple(p["schema"].get("enum") or ()) or None for p in operation.get("parameters", [])}


@pytest.mark.parametrize(
    ("flavour", "version", "spec", "routes"),
    [
        ("overseerr", "1.35.0", "overseerr-api-develop-2025-08-14.yml", ("/request", "/media", "/user")),
        ("overseerr", None, "overseerr-api.yml", ("/request", "/media", "/user")),
        # the Jellyseerr snapshot is pre-2.4 develop (notes column J)
        ("jellyseerr", "2.3.0", "jellyseerr-api.yml", ("/request", "/media", "/user")),
        ("jellyseerr", None, "jellyseerr-v2.7.3-api.yml", ("/request", "/media", "/user", "/blacklist")),
    ],
)
def test_query_tables_match_the_openapi_file_of_the_release(
    flavour: str, version: str | None, spec: str, routes: tuple[str, ...]
) -> None:
    path = SPEC_DIR / spec
    if not path.is_file():
        pytest.skip(f"OpenAPI reference files not found at {SPEC_DIR} (shared/reference is not checked out)")
    traits = flavour_traits(flavour, version)  # type: ignore[arg-type]
    for route in routes:
        mine = {name: p.enum for name, p in traits.query_params[route].items()}
        assert mine == _spec_query(path, route), route
    statuses = yaml.safe_load(path.read_text(encoding="utf-8"))["paths"]["/media/{mediaId}/{status}"]
    [segment] = [p for p in statuses["post"]["parameters"] if p["name"] == "status"]
    assert traits.media_status_segments == tuple(segment["schema"]["enum"])


async def test_jellyseerr_1_has_no_blacklist() -> None:
    fake = make("jellyseerr", version="1.9.2")
    async with client(fake) as http:
        listing = await http.get("/api/v1/blacklist")
        public = (await http.get("/api/v1/settings/public")).json()
        main = (await http.get("/api/v1/settings/main")).json()
    assert listing.status_code == 404
    assert "hideBlacklisted" not in public and "blacklistedTags" not in main
    assert "mediaServerType" in public  # still Jellyseerr (notes §1: 1.x is told apart by it)
    with pytest.raises(ValueError, match="no blocklist"):
        fake.blocklist("movie", 603)


@pytest.mark.parametrize(("version", "own_email"), [("3.0.0", False), ("3.1.0", True)])
async def test_seerr_30_filters_your_own_profile(version: str, own_email: bool) -> None:
    """Notes §9: Seerr ≥ 3.1.0 leaves your own profile unfiltered on ``GET /user/{id}``."""
    fake = make("seerr", version=version)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        profile = (await http.get(f"/api/v1/user/{alice}")).json()
    assert ("email" in profile) is own_email


@pytest.mark.parametrize(
    ("flavour", "version", "all_off", "all_on"),
    [
        ("jellyseerr", "2.5.2", [1, 2, 3], [0, 1, 2, 3]),  # "all" follows the setting (notes §8)
        ("jellyseerr", None, [1, 2, 3], [1, 2, 3]),  # 2.6 and later: never in "all"
        ("seerr", None, [1, 2, 3], [1, 2, 3]),
    ],
)
async def test_enable_special_episodes(
    flavour: str, version: str | None, all_off: list[int], all_on: list[int]
) -> None:
    """The switch shows in ``/settings/public`` and ``/settings/main``; while it is off season 0
    is dropped from explicit lists, while it is on they keep it."""
    seen: dict[bool, dict[str, Any]] = {}
    for enabled in (False, True):
        fake = make(flavour, version=version)
        fake.enable_special_episodes = enabled
        async with client(fake) as http:
            public = (await http.get("/api/v1/settings/public")).json()
            main = (await http.get("/api/v1/settings/main")).json()
            listed = (
                await post_request(http, mediaType="tv", mediaId=1399, seasons=[0, 1], is4k=False)
            ).json()
            fake.delete_request(listed["id"])
            everything = (
                await post_request(http, mediaType="tv", mediaId=1399, seasons="all", is4k=False)
            ).json()
        assert public["enableSpecialEpisodes"] is enabled and main["enableSpecialEpisodes"] is enabled
        seen[enabled] = {
            "listed": [s["seasonNumber"] for s in listed["seasons"]],
            "all": [s["seasonNumber"] for s in everything["seasons"]],
        }
    assert seen == {False: {"listed": [1], "all": all_off}, True: {"listed": [0, 1], "all": all_on}}


def test_overseerr_has_no_special_episodes_setting() -> None:
    for version in ("1.34.0", "1.35.0"):
        fake = make("overseerr", version=version)
        with pytest.raises(ValueError, match="no enableSpecialEpisodes setting"):
            fake.enable_special_episodes = True
        fake.enable_special_episodes = False  # what it is anyway


@pytest.mark.parametrize(("version", "seasons"), [("1.34.0", [0, 1, 2, 3]), ("1.35.0", [1, 2, 3])])
async def test_overseerr_all_seasons_lose_specials_from_135(version: str, seasons: list[int]) -> None:
    fake = make("overseerr", version=version)
    async with client(fake) as http:
        everything = (
            await post_request(http, mediaType="tv", mediaId=1399, seasons="all", is4k=False)
        ).json()
        fake.delete_request(everything["id"])
        listed = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[0, 1], is4k=False)).json()
        public = (await http.get("/api/v1/settings/public")).json()
    assert [s["seasonNumber"] for s in everything["seasons"]] == seasons
    assert [s["seasonNumber"] for s in listed["seasons"]] == [0, 1]  # explicit lists keep season 0
    assert "enableSpecialEpisodes" not in public


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_timestamps_are_whole_seconds(flavour: str) -> None:
    """Trap 17: SQLite stores seconds; every timestamp the fake sends ends in ``.000Z``."""
    fake = FakeSeerr(flavour, clock=lambda: START + timedelta(microseconds=654_321))  # type: ignore[arg-type]
    fake.add_title("tv", 1399, "Game of Thrones", seasons=3)
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5})
    async with client(fake) as http:
        created = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)).json()
        fake.mark_available(created["id"])
        body = (await http.get(f"/api/v1/request/{created['id']}")).json()
        me = (await http.get("/api/v1/auth/me")).json()
    stamps: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.endswith(("At", "Change")) and isinstance(item, str):
                    stamps.append(item)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect([body, me])
    assert len(stamps) > 10
    assert all(stamp == "2025-06-01T12:00:00.000Z" for stamp in stamps), stamps


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_request_lists_embed_media_without_seasons(flavour: str) -> None:
    """Trap 18: ``GET /request`` and ``/user/{id}/requests`` embed ``media`` without ``seasons``;
    ``GET /request/{id}`` and ``/media`` carry them."""
    fake = make(flavour)
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5})
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)).json()
    async with client(fake) as http:
        listed = (await http.get("/api/v1/request")).json()["results"][0]
        own = (await http.get(f"/api/v1/user/{alice}/requests")).json()["results"][0]
        single = (await http.get(f"/api/v1/request/{created['id']}")).json()
        media = (await http.get("/api/v1/media")).json()["results"][0]
    assert "seasons" not in listed["media"] and "seasons" not in own["media"]
    assert [s["seasonNumber"] for s in listed["seasons"]] == [2]  # the request's own seasons stay
    assert [s["seasonNumber"] for s in single["media"]["seasons"]] == [1]
    assert [s["seasonNumber"] for s in media["seasons"]] == [1]


# ---------------------------------------------------------------------- authentication (notes §3)
async def test_missing_key_is_401_with_the_validator_body() -> None:
    fake = make()
    async with client(fake, key=None) as http:
        response = await http.get("/api/v1/auth/me")
        empty = await http.get("/api/v1/auth/me", headers={"X-Api-Key": ""})
    assert response.status_code == 401
    assert response.json() == {
        "message": "cookie 'connect.sid' required",
        "errors": [{"path": "/api/v1/auth/me", "message": "cookie 'connect.sid' required"}],
    }
    assert empty.status_code == 401


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"X-Api-Key": "WRONG-FAKE-KEY"}, 403, FORBIDDEN),
        ({"x-api-key": KEY}, 200, None),
        ({"X-API-KEY": KEY, "X-API-USER": "2"}, 200, None),
        ({"X-Api-Key": KEY, "X-Api-User": "99"}, 403, FORBIDDEN),
        ({"X-Api-Key": "WRONG-FAKE-KEY", "X-Api-User": "bob"}, 403, FORBIDDEN),  # key first
        ({"X-Api-Key": "WRONG-FAKE-KEY", "X-Api-User": "1"}, 403, FORBIDDEN),
        ({"Cookie": "connect.sid=s%3Afake"}, 403, FORBIDDEN),
    ],
)
async def test_auth_table(headers: dict[str, str], status: int, body: dict[str, Any] | None) -> None:
    fake = make()
    bob = fake.add_user("bob")
    async with client(fake, key=None) as http:
        response = await http.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == status
    if body is not None:
        assert response.json() == body
    elif "X-API-USER" in headers:
        assert response.json()["id"] == bob
    else:
        assert response.json()["id"] == 1 and response.json()["permissions"] == ADMIN


async def test_public_routes_ignore_the_key_and_admin_routes_need_admin() -> None:
    fake = make()
    bob = fake.add_user("bob", permissions=REQUEST | MANAGE_REQUESTS)
    async with client(fake, key="WRONG-FAKE-KEY") as http:
        assert (await http.get("/api/v1/status")).status_code == 200
        assert (await http.get("/api/v1/settings/public")).status_code == 200
    async with client(fake, user=bob) as http:
        about = await http.get("/api/v1/settings/about")
        me = await http.get("/api/v1/auth/me")
    assert about.status_code == 403 and about.json() == FORBIDDEN
    assert me.json()["email"] == "bob@example.invalid"  # your own profile keeps the email
    async with client(fake) as http:
        about = await http.get("/api/v1/settings/about")
    assert about.json()["version"] == "2.7.3" and about.json()["totalRequests"] == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_user_fields_per_flavour(flavour: str) -> None:
    fake = make(flavour)
    alice = fake.add_user(None, jellyfin_username="Alice", plex_username=None)
    async with client(fake) as http:
        me = (await http.get("/api/v1/auth/me")).json()
        other = (await http.get(f"/api/v1/user/{alice}")).json()
    jellyfin = flavour != "overseerr"
    assert ("jellyfinUserId" in me) is jellyfin and ("jellyfinUsername" in me) is jellyfin
    assert ("warnings" in me) is jellyfin  # recorded on Jellyseerr 2.7.3 and Seerr 3.1.0
    assert other["username"] is None
    assert other["displayName"] == ("Alice" if jellyfin else "alice@example.invalid")
    if jellyfin:
        assert other["userType"] == 3 and len(other["jellyfinUserId"]) == 32


# ---------------------------------------------------------------------- validator traps (notes §2)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("path", "jellyseerr_only"),
    [
        ("/api/v1/request?sortDirection=asc", True),
        ("/api/v1/request?mediaType=movie", True),
        ("/api/v1/user?q=alice", True),
        ("/api/v1/user?includeIds=1", True),
        ("/api/v1/media?tmdbId=603", None),
        ("/api/v1/auth/me?x=1", None),
    ],
)
async def test_unknown_query_parameters(flavour: str, path: str, jellyseerr_only: bool | None) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        response = await http.get(path)
    name = path.split("?")[1].split("=")[0]
    accepted = jellyseerr_only is True and flavour != "overseerr"
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json() == {
            "message": f"Unknown query parameter '{name}'",
            "errors": [{"path": f".query.{name}", "message": f"Unknown query parameter '{name}'"}],
        }


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("value", ["completed", "deleted"])
async def test_request_filter_enum_per_flavour(flavour: str, value: str) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        response = await http.get(f"/api/v1/request?filter={value}")
    if flavour == "overseerr":
        assert response.status_code == 400
        assert response.json()["message"].startswith("request.query.filter should be equal to one of")
    else:
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("q=the%20admin", 200),
        ("q=the+admin", 400),
        ("q=a%3Ab", 200),
        ("q=a:b", 400),
        ("includeIds=1%2C2", 200),
        ("includeIds=1,2", 400),
        ("q=it%27s", 200),
        ("q=it's", 400),
    ],
)
async def test_reserved_characters_in_raw_query(query: str, status: int) -> None:
    fake = make("seerr")
    async with client(fake) as http:
        response = await http.get(f"/api/v1/user?{query}")
    assert response.status_code == status
    if status == 400:
        name = query.split("=")[0]
        assert response.json()["message"] == (
            f"Parameter '{name}' must be url encoded. Its value may not contain reserved characters."
        )


async def test_httpx_params_encode_spaces_as_plus_which_the_server_refuses() -> None:
    fake = make("jellyseerr")
    async with client(fake) as http:
        response = await http.get("/api/v1/search", params={"query": "The Matrix"})
        fine = await http.get("/api/v1/search?query=The%20Matrix")
    assert response.status_code == 400
    assert fine.status_code == 200 and fine.json()["totalResults"] == 2


async def test_include_ids_and_q_filter_users() -> None:
    fake = make("seerr")
    ids = [fake.add_user(f"user{i}") for i in range(12)]
    async with client(fake) as http:
        listed = (await http.get(f"/api/v1/user?includeIds={'%2C'.join(map(str, ids))}")).json()
        found = (await http.get("/api/v1/user?q=USER1")).json()
    assert len(listed["results"]) == 12  # Seerr grows take to the number of ids
    assert {u["username"] for u in found["results"]} == {"user1", "user10", "user11"}


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/api/v1/media?filter=bogus", 400, "request.query.filter should be equal to one of"),
        ("GET", "/api/v1/media?take=ten", 400, "request.query.take should be number,null"),
        ("GET", "/api/v1/user/abc", 400, "request.params.userId should be number"),
        ("POST", "/api/v1/request/1/pending", 400, "request.params.status should be equal to one of"),
        ("GET", "/api/v1/nothing-here", 404, "not found"),
        ("PUT", "/api/v1/status", 405, "PUT method not allowed"),
        ("GET", "/api/v1/search", 400, "request.query should have required property 'query'"),
    ],
)
async def test_validator_errors(method: str, path: str, status: int, message: str) -> None:
    fake = make()
    async with client(fake) as http:
        response = await http.request(method, path)
    assert response.status_code == status
    assert response.json()["message"].startswith(message)


async def test_missing_key_wins_over_query_errors_and_404_over_missing_key() -> None:
    fake = make("overseerr")
    async with client(fake, key=None) as http:
        assert (await http.get("/api/v1/request?sortDirection=asc")).status_code == 401
        assert (await http.get("/api/v1/nope")).status_code == 404


async def test_request_body_is_validated() -> None:
    fake = make()
    async with client(fake) as http:
        missing = await post_request(http, mediaType="movie")
        wrong = await post_request(http, mediaType="film", mediaId=603)
        bad_seasons = await post_request(http, mediaType="tv", mediaId=1399, seasons="some")
    assert missing.status_code == 400 and missing.json() == {
        "message": "request.body should have required property 'mediaId'",
        "errors": [
            {
                "path": ".body.mediaId",
                "message": "should have required property 'mediaId'",
                "errorCode": "required.openapi.validation",
            }
        ],
    }
    assert wrong.status_code == 400 and "mediaType" in wrong.json()["message"]
    assert bad_seasons.status_code == 400
    assert fake.requests == {}


# ---------------------------------------------------------------------- pagination and lists
async def test_media_pagination_boundaries() -> None:
    fake = make("overseerr")
    for tmdb_id in range(1, 26):
        fake.add_media("movie", tmdb_id)
    async with client(fake) as http:
        first = (await http.get("/api/v1/media")).json()
        last = (await http.get("/api/v1/media?skip=20")).json()
        beyond = (await http.get("/api/v1/media?skip=25&take=5")).json()
        zero = (await http.get("/api/v1/media?take=0")).json()
    assert first["pageInfo"] == {"pages": 2, "pageSize": 20, "results": 25, "page": 1}
    assert len(first["results"]) == 20 and first["results"][0]["id"] == 25  # added = id desc
    assert len(last["results"]) == 5 and last["pageInfo"]["page"] == 2
    assert beyond["results"] == [] and beyond["pageInfo"] == {
        "pages": 5,
        "pageSize": 5,
        "results": 25,
        "page": 6,
    }
    assert zero["pageInfo"]["pageSize"] == 20
    assert "requests" not in first["results"][0] and first["results"][0]["tmdbId"] == 25


async def test_media_filters_and_sort_modified() -> None:
    fake = make()
    old = fake.add_media("movie", 10, status=5)
    partial = fake.add_media("tv", 20, status=4)
    fake.add_media("movie", 30, status=3)
    fake.advance(timedelta(minutes=5))
    fake.add_media("movie", 10, status=5, status4k=3)  # touches the first row again
    async with client(fake) as http:
        modified = (await http.get("/api/v1/media?sort=modified")).json()["results"]
        available = (await http.get("/api/v1/media?filter=available")).json()["results"]
        allavailable = (await http.get("/api/v1/media?filter=allavailable")).json()["results"]
        deleted = (await http.get("/api/v1/media?filter=deleted")).json()["results"]
    assert modified[0]["id"] == old
    assert [m["id"] for m in available] == [old]
    assert {m["id"] for m in allavailable} == {old, partial}
    assert len(deleted) == 3  # listed in the spec, implemented nowhere: no filter


async def test_user_list_paging_sort_and_email_stripping() -> None:
    fake = make("overseerr")
    for name in ["zed", "amy", "bob"]:
        fake.add_user(name)
    plain = fake.add_user("plain")
    manager = fake.add_user("manager", permissions=MANAGE_USERS)
    async with client(fake) as http:
        page = (await http.get("/api/v1/user?take=2&skip=2")).json()
        names = (await http.get("/api/v1/user?sort=displayname")).json()["results"]
    async with client(fake, user=plain) as http:
        stripped = (await http.get("/api/v1/user")).json()["results"]
    async with client(fake, user=manager) as http:
        visible = (await http.get("/api/v1/user")).json()["results"]
    assert page["pageInfo"] == {"pages": 3, "pageSize": 2, "results": 6, "page": 2}
    assert [u["id"] for u in page["results"]] == [3, 4]
    assert [u["displayName"] for u in names][:3] == ["admin", "amy", "bob"]
    assert all("email" not in u for u in stripped)
    assert all("email" in u for u in visible)


# ---------------------------------------------------------------------- quotas (notes §9)
async def test_quota_fields_are_omitted_without_limits() -> None:
    fake = make()
    alice = fake.add_user("alice")
    async with client(fake) as http:
        mine = (await http.get(f"/api/v1/user/{alice}/quota")).json()
        admin = (await http.get("/api/v1/user/1/quota")).json()
    assert mine == {"movie": {"used": 0, "restricted": False}, "tv": {"used": 0, "restricted": False}}
    assert admin["movie"] == {"limit": 0, "used": 0, "restricted": False}


async def test_quota_permission_rule() -> None:
    fake = make()
    alice = fake.add_user("alice")
    bob = fake.add_user("bob", permissions=MANAGE_USERS)
    both = fake.add_user("both", permissions=MANAGE_USERS | MANAGE_REQUESTS)
    async with client(fake, user=alice) as http:
        assert (await http.get(f"/api/v1/user/{alice}/quota")).status_code == 200
        assert (await http.get(f"/api/v1/user/{bob}/quota")).status_code == 403
    async with client(fake, user=bob) as http:
        assert (await http.get(f"/api/v1/user/{alice}/quota")).status_code == 403
    async with client(fake, user=both) as http:
        assert (await http.get(f"/api/v1/user/{alice}/quota")).status_code == 200


async def test_movie_quota_is_enforced_and_the_window_moves_with_the_clock() -> None:
    fake = make()
    alice = fake.add_user("alice", movie_quota_limit=1, movie_quota_days=7)
    async with client(fake, user=alice) as http:
        first = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        quota = (await http.get(f"/api/v1/user/{alice}/quota")).json()["movie"]
        second = await post_request(http, mediaType="movie", mediaId=604, is4k=False)
        fake.advance(timedelta(days=8))
        later = await post_request(http, mediaType="movie", mediaId=604, is4k=False)
    assert first.status_code == 201
    assert quota == {"days": 7, "limit": 1, "used": 1, "remaining": 0, "restricted": True}
    assert second.status_code == 403 and second.json() == {"message": "Movie Quota exceeded."}
    assert later.status_code == 201


async def test_tv_quota_counts_seasons_against_remaining() -> None:
    fake = make("seerr")
    alice = fake.add_user("alice", tv_quota_limit=2, tv_quota_days=30)
    async with client(fake, user=alice) as http:
        too_many = await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2, 3], is4k=False)
        fits = await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2], is4k=False)
        quota = (await http.get(f"/api/v1/user/{alice}/quota")).json()["tv"]
        restricted = await post_request(http, mediaType="tv", mediaId=1399, seasons=[3], is4k=False)
    assert too_many.status_code == 403 and too_many.json()["message"] == "Series Quota exceeded."
    assert fits.status_code == 201
    assert quota["used"] == 2 and quota["restricted"] is True
    assert restricted.status_code == 403


async def test_declined_requests_do_not_count() -> None:
    fake = make()
    alice = fake.add_user("alice", movie_quota_limit=1, movie_quota_days=7)
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        fake.decline(created["id"])
        again = await post_request(http, mediaType="movie", mediaId=604, is4k=False)
    assert again.status_code == 201


# ---------------------------------------------------------------------- POST /request (notes §8)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_request_flow_pending_to_available(flavour: str) -> None:
    fake = make(flavour)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    assert created.status_code == 201
    request = created.json()
    assert request["status"] == 1 and "modifiedBy" not in request  # the 201 has no such key
    assert request["media"]["status"] == 2 and request["media"]["status4k"] == 1
    async with client(fake) as http:
        approved = (await http.post(f"/api/v1/request/{request['id']}/approve")).json()
        assert approved["status"] == 2 and approved["modifiedBy"]["id"] == 1
        assert approved["media"]["status"] == 2  # the answer shows the media before the approval
        reread = (await http.get(f"/api/v1/request/{request['id']}")).json()
        assert reread["media"]["status"] == 3 and reread["media"]["externalServiceId"] is not None

        fake.set_download(request["id"], fraction=0.25, eta=START + timedelta(minutes=90))
        details = (await http.get("/api/v1/movie/603")).json()["mediaInfo"]
        item = details["downloadStatus"][0]
        assert item["size"] - item["sizeLeft"] == item["size"] // 4
        assert item["timeLeft"] == "01:30:00"
        assert item["estimatedCompletionTime"] == "2025-06-01T13:30:00.000Z"
        assert item["externalId"] == reread["media"]["externalServiceId"]
        assert item["mediaType"] == "movie" and item["status"] == "downloading"
        assert ("downloadId" in item) is (flavour != "overseerr")
        assert details["requests"][0]["id"] == request["id"]
        processing = (await http.get("/api/v1/request?filter=processing")).json()["results"]
        assert [r["id"] for r in processing] == [request["id"]]

        fake.mark_available(request["id"])
        done = (await http.get(f"/api/v1/request/{request['id']}")).json()
        available = (await http.get("/api/v1/request?filter=available")).json()["results"]
        count = (await http.get("/api/v1/request/count")).json()
    assert done["media"]["status"] == 5 and done["media"]["downloadStatus"] == []
    assert done["status"] == (2 if flavour == "overseerr" else 5)
    assert [r["id"] for r in available] == [request["id"]]
    # recorded: Overseerr counts the arrived (still APPROVED) request as approved and available;
    # on Jellyseerr 2.7.3 and Seerr 3.1.0 it is COMPLETED, counted only as completed (Seerr) or
    # in no state at all (Jellyseerr has no "completed" key)
    expected = {
        "overseerr": {"approved": 1, "available": 1, "processing": 0},
        "jellyseerr": {"approved": 0, "available": 0, "processing": 0},
        "seerr": {"approved": 0, "available": 0, "processing": 0, "completed": 1},
    }[flavour]
    assert {key: count[key] for key in expected} == expected
    assert ("completed" in count) is (flavour == "seerr") and count["total"] == 1


@pytest.mark.parametrize(("flavour", "seasons"), [("overseerr", [0, 1, 2, 3]), ("jellyseerr", [1, 2, 3])])
async def test_all_seasons_and_specials(flavour: str, seasons: list[int]) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        everything = (
            await post_request(http, mediaType="tv", mediaId=1399, seasons="all", is4k=False)
        ).json()
    assert [s["seasonNumber"] for s in everything["seasons"]] == seasons
    assert everything["status"] == 2 and everything["media"]["status"] == 2  # admin auto-approves
    assert fake.media[everything["media"]["id"]].status == 3  # after the 201 was built


async def test_explicit_season_zero_dropped_on_jellyseerr_kept_on_overseerr() -> None:
    for flavour, expected in (("overseerr", [0, 1]), ("seerr", [1])):
        fake = make(flavour)
        async with client(fake) as http:
            body = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[0, 1], is4k=False)).json()
        assert [s["seasonNumber"] for s in body["seasons"]] == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_tv_partial_availability_and_completion(flavour: str) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        first = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2], is4k=False)).json()
        fake.mark_available(first["id"], seasons=[1])
        partial = (await http.get(f"/api/v1/request/{first['id']}")).json()
        repeat = await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2], is4k=False)
        third = await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2, 3], is4k=False)
        fake.mark_available(first["id"], seasons=[2])
        two = (await http.get(f"/api/v1/request/{first['id']}")).json()
        fake.mark_available(third.json()["id"])
        all_seasons = (await http.get("/api/v1/tv/1399")).json()["mediaInfo"]
    assert partial["media"]["status"] == 4 and partial["status"] == 2
    assert repeat.status_code == 202 and repeat.json() == {"message": "No seasons available to request"}
    assert third.status_code == 201 and [s["seasonNumber"] for s in third.json()["seasons"]] == [3]
    assert two["media"]["status"] == 4
    assert two["status"] == (2 if flavour == "overseerr" else 5)
    assert all_seasons["status"] == 5
    assert {s["seasonNumber"]: s["status"] for s in all_seasons["seasons"]} == {1: 5, 2: 5, 3: 5}


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_duplicate_movie_409_and_the_missing_is4k_trap(flavour: str) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        first = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        duplicate = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        trap = await post_request(http, mediaType="movie", mediaId=603)
        uhd = await post_request(http, mediaType="movie", mediaId=603, is4k=True)
    assert first.status_code == 201
    assert duplicate.status_code == 409 and duplicate.json() == {
        "message": "Request for this media already exists."
    }
    assert trap.status_code == 201 and trap.json()["is4k"] is False  # two requests for one movie
    assert uhd.status_code == 201 and uhd.json()["media"]["status4k"] == 2  # before the auto-approval
    assert fake.find_media("movie", 603).status4k == 3  # type: ignore[union-attr]
    assert len(fake.requests) == 3


async def test_completed_request_no_longer_blocks_on_jellyseerr_but_does_on_overseerr() -> None:
    for flavour, status in (("overseerr", 409), ("jellyseerr", 201)):
        fake = make(flavour)
        async with client(fake) as http:
            first = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
            fake.mark_available(first["id"])
            again = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        assert again.status_code == status


@pytest.mark.parametrize(
    ("permissions", "body", "message"),
    [
        (
            0,
            {"mediaType": "movie", "mediaId": 603, "is4k": False},
            "You do not have permission to make movie requests.",
        ),
        (
            0,
            {"mediaType": "tv", "mediaId": 1399, "seasons": [1]},
            "You do not have permission to make series requests.",
        ),
        (
            REQUEST,
            {"mediaType": "movie", "mediaId": 603, "is4k": True},
            "You do not have permission to make 4K movie requests.",
        ),
    ],
)
async def test_permission_errors(permissions: int, body: dict[str, Any], message: str) -> None:
    fake = make()
    user = fake.add_user("limited", permissions=permissions)
    async with client(fake, user=user) as http:
        response = await http.post("/api/v1/request", json=body)
    assert response.status_code == 403 and response.json() == {"message": message}


async def test_request_4k_with_permission_stays_pending() -> None:
    fake = make()
    user = fake.add_user("uhd", permissions=REQUEST | REQUEST_4K)
    async with client(fake, user=user) as http:
        response = await post_request(http, mediaType="movie", mediaId=603, is4k=True)
    assert response.status_code == 201
    assert response.json()["status"] == 1 and response.json()["media"]["status4k"] == 2


async def test_tmdb_failures_are_500() -> None:
    fake = make()
    async with client(fake) as http:
        unknown = await post_request(http, mediaType="movie", mediaId=999999, is4k=False)
        no_seasons = await post_request(http, mediaType="tv", mediaId=1399, is4k=False)
        movie = await http.get("/api/v1/movie/999999")
        series = await http.get("/api/v1/tv/999999")
    assert unknown.status_code == 500
    assert no_seasons.status_code == 500
    assert movie.status_code == 500 and movie.json() == {"message": "Unable to retrieve movie."}
    assert series.status_code == 500 and series.json() == {"message": "Unable to retrieve series."}
    assert fake.requests == {}


async def test_details_without_a_row_have_no_media_info() -> None:
    fake = make()
    async with client(fake) as http:
        movie = (await http.get("/api/v1/movie/603")).json()
        tv = (await http.get("/api/v1/tv/1399")).json()
    assert "mediaInfo" not in movie and movie["title"] == "The Matrix"
    assert "mediaInfo" not in tv and [s["seasonNumber"] for s in tv["seasons"]] == [0, 1, 2, 3]
    assert tv["externalIds"]["tvdbId"] is not None


@pytest.mark.parametrize(
    ("flavour", "message"),
    [("jellyseerr", "This media is blacklisted."), ("seerr", "This media is blocklisted.")],
)
async def test_blocklisted_media_is_refused(flavour: str, message: str) -> None:
    fake = make(flavour)
    fake.blocklist("movie", 603)
    async with client(fake) as http:
        response = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        info = (await http.get("/api/v1/movie/603")).json()["mediaInfo"]
    assert response.status_code == 403 and response.json() == {"message": message}
    assert info["status"] == 6 and info["status4k"] == 6


def test_overseerr_has_no_blocklist() -> None:
    with pytest.raises(ValueError, match="no blocklist"):
        make("overseerr").blocklist("movie", 603)


async def test_user_id_on_behalf_rules() -> None:
    fake = make()
    alice = fake.add_user("alice")
    helper = fake.add_user("helper", permissions=REQUEST | MANAGE_REQUESTS)
    async with client(fake, user=helper) as http:
        refused = await post_request(http, mediaType="movie", mediaId=603, is4k=False, userId=alice)
    async with client(fake) as http:
        unknown = await post_request(http, mediaType="movie", mediaId=603, is4k=False, userId=99)
        on_behalf = await post_request(http, mediaType="movie", mediaId=603, is4k=False, userId=alice)
    async with client(fake, user=alice) as http:
        as_alice = await post_request(http, mediaType="movie", mediaId=604, is4k=False)
    assert refused.status_code == 403
    assert refused.json() == {"message": "You do not have permission to modify the request user."}
    assert unknown.status_code == 500
    body = on_behalf.json()
    assert body["requestedBy"]["id"] == alice and body["status"] == 2 and body["modifiedBy"]["id"] == 1
    assert as_alice.json()["status"] == 1


async def test_auto_approve_uses_the_caller_permission() -> None:
    fake = make()
    trusted = fake.add_user("trusted", permissions=REQUEST | AUTO_APPROVE)
    async with client(fake, user=trusted) as http:
        response = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    assert response.json()["status"] == 2 and response.json()["media"]["status"] == 2
    assert fake.media[response.json()["media"]["id"]].status == 3


async def test_available_but_never_requested_movie_can_be_requested() -> None:
    fake = make()
    fake.add_media("movie", 603, status=5)
    async with client(fake) as http:
        response = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    assert response.status_code == 201 and response.json()["media"]["status"] == 5


# ---------------------------------------------------------------------- request list and changes
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_request_list_visibility_and_extras(flavour: str) -> None:
    fake = make(flavour)
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    viewer = fake.add_user("viewer", permissions=REQUEST | REQUEST_VIEW)
    async with client(fake, user=alice) as http:
        await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    async with client(fake, user=bob) as http:
        await post_request(http, mediaType="movie", mediaId=604, is4k=False)
        own = (await http.get("/api/v1/request")).json()
        other = await http.get(f"/api/v1/request?requestedBy={alice}")
        single = await http.get("/api/v1/request/1")
    async with client(fake, user=viewer) as http:
        everyone = (await http.get("/api/v1/request")).json()
    async with client(fake) as http:
        admin = (await http.get("/api/v1/request")).json()
    assert [r["requestedBy"]["id"] for r in own["results"]] == [bob]
    assert other.status_code == 403
    assert single.status_code == 403
    assert everyone["pageInfo"]["results"] == 2
    extras = flavour != "overseerr"
    assert ("serviceErrors" in admin) is (flavour == "seerr")  # not on Jellyseerr 2.7.3 (recorded)
    assert ("profileName" in admin["results"][0]) is extras
    if extras:
        assert admin["results"][0]["canRemove"] is True
        assert "canRemove" not in own["results"][0]  # only managers' items have it (recorded)
    if flavour == "seerr":
        assert admin["serviceErrors"] == {"radarr": [], "sonarr": []}


async def test_service_errors_when_arr_is_unreachable() -> None:
    fake = make("seerr")
    fake.arr_unreachable = True
    async with client(fake) as http:
        body = (await http.get("/api/v1/request")).json()
    assert body["serviceErrors"] == {
        "radarr": [{"id": 0, "name": "Radarr"}],
        "sonarr": [{"id": 0, "name": "Sonarr"}],
    }


@pytest.mark.parametrize("flavour", ["jellyseerr", "seerr"])
async def test_request_list_sort_direction_and_media_type(flavour: str) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        await post_request(http, mediaType="tv", mediaId=1399, seasons=[1], is4k=False)
        await post_request(http, mediaType="movie", mediaId=604, is4k=False)
        ascending = (await http.get("/api/v1/request?sortDirection=asc")).json()["results"]
        movies = (await http.get("/api/v1/request?mediaType=movie")).json()["results"]
        paged = (await http.get("/api/v1/request?take=1&skip=1")).json()
    assert [r["id"] for r in ascending] == [1, 2, 3]
    assert [r["id"] for r in movies] == [3, 1]
    assert [r["id"] for r in paged["results"]] == [2]
    assert paged["pageInfo"] == {"pages": 3, "pageSize": 1, "results": 3, "page": 2}


# ---------------------------------------------------------------------- transitions (notes §14, recorded)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_decline_effects_on_tv_media_and_season_requests(flavour: str) -> None:
    """Declining the only pending TV request puts the media back to UNKNOWN (not while another
    request is pending); its season requests turn DECLINED on Seerr only."""
    fake = make(flavour)
    fake.add_title("tv", 1396, "Breaking Bad", seasons=3)
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    async with client(fake, user=alice) as http:
        only = (await post_request(http, mediaType="tv", mediaId=1396, seasons=[1, 2], is4k=False)).json()
        first = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[1], is4k=False)).json()
    async with client(fake, user=bob) as http:
        await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)
    async with client(fake) as http:
        await http.post(f"/api/v1/request/{only['id']}/decline")
        await http.post(f"/api/v1/request/{first['id']}/decline")
        declined = (await http.get(f"/api/v1/request/{only['id']}")).json()
        show = (await http.get("/api/v1/tv/1396")).json()["mediaInfo"]
        other = (await http.get("/api/v1/tv/1399")).json()["mediaInfo"]
    assert declined["status"] == 3 and declined["media"]["status"] == 1
    assert [s["status"] for s in declined["seasons"]] == ([3, 3] if flavour == "seerr" else [1, 1])
    assert show["status"] == 1 and show["seasons"] == []  # a row made by a request has no season rows
    assert other["status"] == 2  # bob's request is still pending


@pytest.mark.parametrize(
    ("flavour", "status", "after"), [("seerr", 5, 1), ("seerr", 7, 7), ("overseerr", 5, 1)]
)
async def test_declining_a_movie_resets_it_unless_deleted(flavour: str, status: int, after: int) -> None:
    fake = make(flavour)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
    fake.add_media("movie", 603, status=status)  # arrived, or arrived and left the library
    async with client(fake) as http:
        await http.post(f"/api/v1/request/{created.json()['id']}/decline")
    assert fake.find_media("movie", 603).status == after  # type: ignore[union-attr]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("before", "after"), [(4, 4), (5, 5), (3, 3), (1, 3)])
async def test_approval_keeps_partially_available_available_and_processing(
    flavour: str, before: int, after: int
) -> None:
    """Trap 19: approving on a partially available show leaves the media at 4 (and 5, 3)."""
    fake = make(flavour)
    fake.add_media("tv", 1399, status=before, season_statuses={1: 5} if before == 4 else None)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)).json()
    async with client(fake) as http:
        answer = (await http.post(f"/api/v1/request/{created['id']}/approve")).json()
        reread = (await http.get(f"/api/v1/request/{created['id']}")).json()
    # the answer shows the season requests approved, but still pending on Jellyseerr 2.7.3
    assert answer["status"] == 2 and [s["status"] for s in answer["seasons"]] == [
        1 if flavour == "jellyseerr" else 2
    ]
    assert [s["status"] for s in reread["seasons"]] == [2]
    assert reread["media"]["status"] == after
    assert answer["media"]["status"] == created["media"]["status"]  # the answer: media before


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_approval_with_an_unreachable_arr_fails_and_leaves_the_media(flavour: str) -> None:
    fake = make(flavour)
    fake.arr_unreachable = True  # a default Radarr on a closed port
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
    async with client(fake) as http:
        answer = (await http.post(f"/api/v1/request/{created['id']}/approve")).json()
        reread = (await http.get(f"/api/v1/request/{created['id']}")).json()
        auto = (await post_request(http, mediaType="movie", mediaId=604, is4k=False)).json()
    assert answer["status"] == 4 and reread["status"] == 4
    assert reread["media"]["status"] == 2 and reread["media"]["externalServiceId"] is None
    assert auto["status"] == 4 and fake.find_media("movie", 604).status == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("flavour", "added"), [("overseerr", False), ("jellyseerr", True), ("seerr", True)])
async def test_rows_created_by_a_request(flavour: str, added: bool) -> None:
    """``imdbId`` is null on a row created by a request; ``mediaAddedAt`` is set at creation on
    Jellyseerr/Seerr, null on Overseerr (also after ``POST /media/{id}/available``)."""
    fake = make(flavour)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
    async with client(fake) as http:
        marked = (
            await http.post(f"/api/v1/media/{created['media']['id']}/available", json={"is4k": False})
        ).json()
    assert created["media"]["imdbId"] is None and marked["imdbId"] is None
    assert (created["media"]["mediaAddedAt"] is not None) is added
    assert marked["mediaAddedAt"] == created["media"]["mediaAddedAt"]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_media_available_route_creates_the_body_seasons(flavour: str) -> None:
    fake = make(flavour)
    moments = [START]
    fake._clock = lambda: moments[0]
    async with client(fake) as http:
        created = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2], is4k=False)).json()
        moments[0] = START + timedelta(seconds=3)
        seasons = [{"seasonNumber": n, "name": f"Season {n}"} for n in (1, 2, 3)]
        body = {"is4k": False, "seasons": seasons}
        marked = (await http.post(f"/api/v1/media/{created['media']['id']}/available", json=body)).json()
    assert marked["status"] == 5
    assert [(s["seasonNumber"], s["status"]) for s in marked["seasons"]] == [(1, 5), (2, 5), (3, 5)]
    assert marked["lastSeasonChange"] == created["media"]["lastSeasonChange"]  # not written here


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_request_count_step_by_step(flavour: str) -> None:
    """The recorded ``/request/count`` bodies: three requests, then approve + arrive, decline."""
    fake = make(flavour)
    fake.radarr = fake.sonarr = False
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        movie = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        show = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[1], is4k=False)).json()
        await post_request(http, mediaType="movie", mediaId=604, is4k=False)
    async with client(fake) as http:
        counts = [(await http.get("/api/v1/request/count")).json()]
        await http.post(f"/api/v1/request/{movie['id']}/approve")
        counts.append((await http.get("/api/v1/request/count")).json())
        await http.post(f"/api/v1/request/{show['id']}/decline")
        await http.post(f"/api/v1/media/{movie['media']['id']}/available", json={"is4k": False})
        counts.append((await http.get("/api/v1/request/count")).json())
    states = ("pending", "approved", "declined", "processing", "available")
    assert [tuple(c[k] for k in states) for c in counts] == [
        (3, 0, 0, 0, 0),
        (2, 1, 0, 1, 0),
        (1, 1, 1, 0, 1) if flavour == "overseerr" else (1, 0, 1, 0, 0),
    ]
    assert [c.get("completed") for c in counts] == ([0, 0, 1] if flavour == "seerr" else [None] * 3)
    assert all((c["total"], c["movie"], c["tv"]) == (3, 2, 1) for c in counts)


async def test_decline_resets_a_movie_and_delete_rules() -> None:
    fake = make("overseerr")
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    async with client(fake, user=alice) as http:
        first = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        second = (await post_request(http, mediaType="movie", mediaId=604, is4k=False)).json()
    async with client(fake) as http:
        declined = (await http.post(f"/api/v1/request/{first['id']}/decline")).json()
        await http.post(f"/api/v1/request/{second['id']}/approve")
    async with client(fake, user=bob) as http:
        approve = await http.post(f"/api/v1/request/{second['id']}/approve")
        forbidden = await http.delete(f"/api/v1/request/{second['id']}")
    async with client(fake, user=alice) as http:
        deleted = await http.delete(f"/api/v1/request/{second['id']}")
        gone = await http.get(f"/api/v1/request/{second['id']}")
    assert declined["status"] == 3 and declined["media"]["status"] == 2  # the answer: media before
    assert fake.find_media("movie", 603).status == 1  # type: ignore[union-attr]
    assert approve.status_code == 403 and approve.json() == FORBIDDEN
    assert forbidden.status_code == 401
    assert deleted.status_code == 204 and deleted.content == b""
    assert gone.status_code == 404 and gone.json() == {"message": "Request not found."}
    assert fake.find_media("movie", 604).status == 1  # type: ignore[union-attr]


async def test_user_requests_route() -> None:
    fake = make()
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    async with client(fake, user=alice) as http:
        await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        await post_request(http, mediaType="movie", mediaId=604, is4k=False)
        mine = (await http.get(f"/api/v1/user/{alice}/requests?take=1")).json()
        others = await http.get(f"/api/v1/user/{bob}/requests")
    assert mine["pageInfo"] == {"pages": 2, "pageSize": 1, "results": 2, "page": 1}
    assert mine["results"][0]["id"] == 2
    assert others.status_code == 403


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_manual_media_status(flavour: str) -> None:
    fake = make(flavour)
    media_id = fake.add_media("movie", 603, status=3)
    async with client(fake) as http:
        available = await http.post(f"/api/v1/media/{media_id}/available", json={"is4k": True})
        deleted = await http.post(f"/api/v1/media/{media_id}/deleted", json={"is4k": False})
        missing = await http.post("/api/v1/media/999/available")
    assert (
        available.status_code == 200 and available.json()["status4k"] == 5 and available.json()["status"] == 3
    )
    if flavour == "overseerr":
        assert deleted.status_code == 400
    else:
        assert deleted.status_code == 200 and deleted.json()["status"] == 7
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("flavour", "status", "request_status"), [("overseerr", 3, 2), ("jellyseerr", 7, 5), ("seerr", 7, 5)]
)
async def test_remove_from_library(flavour: str, status: int, request_status: int) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        fake.mark_available(created["id"])
        fake.remove_from_library("movie", 603)
        after = (await http.get(f"/api/v1/request/{created['id']}")).json()
        deleted_filter = await http.get("/api/v1/request?filter=deleted")
    assert after["media"]["status"] == status
    assert after["status"] == request_status
    if flavour != "overseerr":
        assert [r["id"] for r in deleted_filter.json()["results"]] == [created["id"]]


async def test_restart_wipes_download_status_only() -> None:
    fake = make()
    async with client(fake) as http:
        created = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[1, 2], is4k=False)).json()
        fake.set_download(created["id"], fraction=0.5)
        before = (await http.get("/api/v1/media")).json()["results"][0]
        fake.restart()
        after = (await http.get("/api/v1/media")).json()["results"][0]
    assert [i["episode"]["seasonNumber"] for i in before["downloadStatus"]] == [1, 2]
    assert (
        after["downloadStatus"] == [] and after["status"] == 3 and after["updatedAt"] == before["updatedAt"]
    )


# ---------------------------------------------------------------------- faults and recording
@pytest.mark.parametrize(("flavour", "settings_path"), [("overseerr", "main"), ("seerr", "network")])
async def test_csrf_protection(flavour: str, settings_path: str) -> None:
    fake = make(flavour)
    fake.csrf_protection = True
    async with client(fake) as http:
        post = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        delete = await http.delete("/api/v1/request/1")
        get = await http.get("/api/v1/auth/me")
        settings = (await http.get(f"/api/v1/settings/{settings_path}")).json()
    assert post.status_code == 403 and post.json() == {"message": "invalid csrf token"}
    assert post.cookies.get("_csrf") and "XSRF-TOKEN" not in post.cookies  # notes §14
    assert "HttpOnly" in post.headers["set-cookie"]
    assert delete.status_code == 403
    assert get.status_code == 200 and get.cookies.get("XSRF-TOKEN")
    assert settings["csrfProtection"] is True
    assert fake.requests == {}


async def test_fail_next_and_html_login_page() -> None:
    fake = make()
    fake.fail_next(
        2, status=503, body="<h1>Bad gateway</h1>", content_type="text/html", path_prefix="/api/v1/request"
    )
    async with client(fake) as http:
        status = await http.get("/api/v1/status")
        first = await http.get("/api/v1/request")
        second = await http.get("/api/v1/request/count")
        third = await http.get("/api/v1/request")
        fake.html_login_page = True
        login = await http.get("/api/v1/auth/me")
    assert status.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.text == "<h1>Bad gateway</h1>" and first.headers["content-type"] == "text/html"
    assert login.status_code == 200 and login.headers["content-type"].startswith("text/html")
    assert "<form" in login.text


async def test_calls_are_recorded_and_classified() -> None:
    fake = make()
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        await http.get("/api/v1/movie/603")
        await http.get("/api/v1/tv/1399?language=en")
        await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        await http.get("/api/v1/request/1")
        await http.get("/api/v1/media")
    async with client(fake, key=None) as http:
        await http.get("/api/v1/status")
    assert fake.call_count() == 6
    assert fake.call_count("tmdb") == 3
    assert fake.call_count("db") == 3
    assert fake.call_count(path_prefix="/request") == 2
    assert fake.call_count("tmdb", "/api/v1/request") == 1
    tv = fake.calls[1]
    assert (tv.method, tv.path, tv.query, tv.user_id, tv.status, tv.kind) == (
        "GET",
        "/tv/1399",
        "language=en",
        alice,
        200,
        "tmdb",
    )
    assert fake.calls[-1].user_id is None


async def test_latency_overlaps_for_concurrent_async_calls() -> None:
    fake = make(tmdb_latency=0.2, db_latency=0.0)
    async with client(fake) as http:
        started = time.perf_counter()
        results = await asyncio.gather(*(http.get("/api/v1/movie/603") for _ in range(5)))
        tmdb_elapsed = time.perf_counter() - started
        started = time.perf_counter()
        await http.get("/api/v1/media")
        db_elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in results)
    assert 0.2 <= tmdb_elapsed < 0.8
    assert db_elapsed < 0.15


def test_sync_client_and_concurrent_threads() -> None:
    fake = make("seerr")
    users = [fake.add_user(f"user{i}") for i in range(8)]
    with httpx.Client(transport=fake.transport(), base_url=BASE, headers={"X-Api-Key": KEY}) as http:
        assert http.get("/api/v1/auth/me").json()["id"] == 1

        def submit(user_id: int) -> int:
            body = {"mediaType": "tv", "mediaId": 1399, "seasons": [1], "is4k": False}
            return http.post("/api/v1/request", json=body, headers={"X-Api-User": str(user_id)}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(submit, users))
    # the first pending request for season 1 wins; the others find the season taken (202)
    assert sorted(statuses) == [201] + [202] * 7
    assert len(fake.requests) == 1 and len(fake.calls) == 9


# ---------------------------------------------------------------------- real HTTP
async def test_serve_over_real_http_keeps_the_raw_query() -> None:
    fake = make("overseerr", db_latency=0.05)
    alice = fake.add_user("alice")
    with fake.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=base_url, headers={"X-Api-Key": KEY}) as http:
            me = await asyncio.gather(
                *(http.get("/api/v1/auth/me", headers={"X-Api-User": str(alice)}) for _ in range(4))
            )
            created = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
            plus = await http.get("/api/v1/search?query=the+matrix")
            unknown = await http.get("/api/v1/request?sortDirection=asc")
    assert all(r.json()["id"] == alice for r in me)
    assert created.status_code == 201 and created.json()["status"] == 2
    assert plus.status_code == 400 and "must be url encoded" in plus.json()["message"]
    assert unknown.status_code == 400
    assert fake.calls[-2].query == "query=the+matrix"


def test_serve_stops_on_exit() -> None:
    fake = make()
    with fake.serve() as base_url:
        assert httpx.get(f"{base_url}/api/v1/status").json()["version"] == "2.7.3"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/api/v1/status", timeout=1)


def test_non_numeric_acting_user_is_never_answered_and_serve_still_stops() -> None:
    """Notes §14: ``X-Api-User: abc`` makes the server never answer; the fake holds the
    connection until the client gives up, answers the next call, and ``serve()`` still stops."""
    fake = make()
    headers = {"X-Api-Key": KEY, "X-Api-User": "abc"}
    with fake.serve() as base_url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{base_url}/api/v1/auth/me", headers=headers, timeout=0.3)
        assert (
            httpx.get(f"{base_url}/api/v1/status", headers=headers | {"X-Api-User": "2"}).status_code == 200
        )
        held = httpx.Client(base_url=base_url, timeout=30)
        pool = ThreadPoolExecutor(1)
        pending = pool.submit(held.get, "/api/v1/status", headers=headers)
        time.sleep(0.2)  # the request is in, held by the fake; leaving the block stops the server
    with pytest.raises(httpx.TransportError):  # dropped when the server stopped, not after 30 s
        pending.result(timeout=10)
    pool.shutdown()
    held.close()
    with pytest.raises(httpx.ReadTimeout):  # in process: the timeout the client would end with
        httpx.Client(transport=fake.transport(), base_url=BASE).get("/api/v1/auth/me", headers=headers)
    assert [c.status for c in fake.calls if c.path == "/auth/me"] == [0, 0]


def test_fake_modules_import_one_way() -> None:
    """No import circle in the fake: each module imports only the ones before it in this order
    (``fake_routes`` drives ``fake_protocol.FakeServer``, ``FakeSeerr`` composes the router)."""
    import ast
    from pathlib import Path

    import aperture_overseerr.testing as package

    order = [
        "fake_flavours",
        "fake_state",
        "fake_webhook_template",
        "fake_webhook_sender",
        "fake_webhook",
        "fake_protocol",
        "fake_json",
        "fake_routes",
        "fake_seerr",
    ]
    folder = Path(package.__file__).parent
    assert sorted(p.stem for p in folder.glob("fake_*.py")) == sorted(order)
    for position, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }
        assert imported <= set(order[:position]), f"{name} imports {imported - set(order[:position])}"


# ---------------------------------------------------------------------- shapes (recorded)
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_created_request_answer_shape(flavour: str) -> None:
    """The 201 of ``POST /request`` (recorded): no ``seasonCount``, ``seasons`` for TV only,
    ``modifiedBy`` only when auto-approved, the full ``requestedBy`` (``email``, ``settings``,
    ``requestCount`` without this request), media without seasons/requests when the request
    created the row, with both when it existed."""
    fake = make(flavour)
    fake.add_media("tv", 1399, status=4, season_statuses={1: 5})
    alice = fake.add_user("alice")
    dave = fake.add_user("dave", permissions=REQUEST | AUTO_APPROVE)
    async with client(fake, user=alice) as http:
        movie = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        show = (await post_request(http, mediaType="tv", mediaId=1399, seasons=[2], is4k=False)).json()
    async with client(fake, user=dave) as http:
        auto = (await post_request(http, mediaType="movie", mediaId=604, is4k=False)).json()
    assert not {"modifiedBy", "seasons", "seasonCount"} & movie.keys()
    assert not {"seasons", "requests"} & movie["media"].keys()
    assert {"email", "settings", "plexId", "recoveryLinkExpirationDate"} <= movie["requestedBy"].keys()
    assert movie["requestedBy"]["requestCount"] == 0 and show["requestedBy"]["requestCount"] == 1
    assert "seasonCount" not in show and [s["seasonNumber"] for s in show["seasons"]] == [2]
    assert show["media"]["requests"] == [] and [s["seasonNumber"] for s in show["media"]["seasons"]] == [1]
    assert auto["modifiedBy"]["id"] == dave and "settings" in auto["modifiedBy"]
    region = "discoverRegion" if flavour != "overseerr" else "region"
    assert region in movie["requestedBy"]["settings"]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_users_embedded_in_requests_and_profiles(flavour: str) -> None:
    fake = make(flavour)
    alice = fake.add_user("alice")
    async with client(fake, user=alice) as http:
        created = (await post_request(http, mediaType="movie", mediaId=603, is4k=False)).json()
        own = (await http.get("/api/v1/request")).json()["results"][0]
        me = (await http.get("/api/v1/auth/me")).json()
    async with client(fake) as http:
        single = (await http.get(f"/api/v1/request/{created['id']}")).json()
        listed = (await http.get("/api/v1/user")).json()["results"][0]
        profile = (await http.get(f"/api/v1/user/{alice}")).json()
        info = (await http.get("/api/v1/movie/603")).json()["mediaInfo"]
    everywhere = {"requestCount", "recoveryLinkExpirationDate"} | (
        {"warnings"} if flavour != "overseerr" else set()
    )
    for user in (
        own["requestedBy"],
        single["requestedBy"],
        listed,
        profile,
        me,
        info["requests"][0]["requestedBy"],
    ):
        assert everywhere <= user.keys()
    assert {"email", "plexId"} <= own["requestedBy"].keys()  # a non-manager's own list: not stripped
    assert "settings" in single["requestedBy"] and "settings" not in own["requestedBy"]
    assert "settings" in me and "settings" in profile and "settings" not in listed
    assert own["requestedBy"]["requestCount"] == 1
    assert info["issues"] == [] and "seasons" not in info["requests"][0]["media"]


@pytest.mark.parametrize(
    ("flavour", "public", "absent"),
    [
        ("overseerr", {"region"}, {"hideBlacklisted", "hideBlocklisted", "youtubeUrl", "mediaServerType"}),
        ("jellyseerr", {"hideBlacklisted", "youtubeUrl", "discoverRegion"}, {"region", "jellyfinServerName"}),
        ("seerr", {"hideBlocklisted", "youtubeUrl", "streamingRegion"}, {"region", "jellyfinServerName"}),
    ],
)
async def test_settings_fields_per_product(flavour: str, public: set[str], absent: set[str]) -> None:
    fake = make(flavour)
    async with client(fake) as http:
        shown = (await http.get("/api/v1/settings/public")).json()
        main = (await http.get("/api/v1/settings/main")).json()
        network = await http.get("/api/v1/settings/network")
        about = (await http.get("/api/v1/settings/about")).json()
    assert public <= shown.keys() and not absent & shown.keys()
    assert set(about) == {"version", "totalMediaItems", "totalRequests", "appDataPath"}
    if flavour == "overseerr":
        assert {"csrfProtection", "trustProxy", "region"} <= main.keys() and network.status_code == 404
    else:
        name = "blacklist" if flavour == "jellyseerr" else "blocklist"
        assert {f"{name}edTags", f"{name}edTagsLimit", f"hide{name.capitalize()}ed"} <= main.keys()
        assert "csrfProtection" not in main and network.status_code == 200
        assert ({"dnsCache", "apiRequestTimeout"} <= network.json().keys()) is (flavour == "seerr")


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_error_texts(flavour: str) -> None:
    fake = make(flavour)
    alice = fake.add_user("alice")
    bob = fake.add_user("bob")
    async with client(fake, user=alice) as http:
        other = await http.get(f"/api/v1/user/{bob}/quota")
    async with client(fake) as http:
        unknown = await http.get("/api/v1/user/999/quota")
        take = await http.get("/api/v1/user?take=abc")
    assert other.status_code == 403
    assert other.json() == {"message": "You do not have permission to view this user's request limits."}
    assert unknown.status_code == 404 and unknown.json() == {
        "message": 'Could not find any entity of type "User" matching: '
        '{\n    "where": {\n        "id": 999\n    }\n}'
    }
    assert take.status_code == 400 and take.json()["message"] == "request.query.take should be number,null"
    assert take.json()["errors"][0]["path"] == ".query.take"


@pytest.mark.parametrize(
    ("flavour", "route", "other"), [("jellyseerr", "blacklist", "blocklist"), ("seerr", "blocklist", None)]
)
async def test_blocklist_routes(flavour: str, route: str, other: str | None) -> None:
    """Jellyseerr 2.7.3 serves ``/blacklist`` (``/blocklist`` is 404); Seerr serves ``/blocklist``
    and keeps ``/blacklist`` as an alias. Adding answers 201 with no body; the title is refused."""
    fake = make(flavour)
    alice = fake.add_user("alice")
    async with client(fake) as http:
        added = await http.post(
            f"/api/v1/{route}", json={"tmdbId": 603, "mediaType": "movie", "title": "The Matrix"}
        )
        again = await http.post(
            f"/api/v1/{route}", json={"tmdbId": 603, "mediaType": "movie", "title": "The Matrix"}
        )
        listed = (await http.get(f"/api/v1/{route}?take=20&skip=0")).json()
        alias = await http.get("/api/v1/blacklist")
        missing = await http.get(f"/api/v1/{other}") if other else None
    async with client(fake, user=alice) as http:
        refused = await post_request(http, mediaType="movie", mediaId=603, is4k=False)
        forbidden = await http.get(f"/api/v1/{route}")
    assert added.status_code == 201 and added.content == b"" and "content-type" not in added.headers
    assert again.status_code == 412
    assert listed["pageInfo"]["results"] == 1
    item = listed["results"][0]
    assert item["tmdbId"] == 603 and item[f"{route}edTags"] is None and item["user"]["id"] == 1
    assert alias.status_code == 200
    assert missing is None or missing.status_code == 404
    assert refused.status_code == 403 and refused.json()["message"].startswith("This media is b")
    assert forbidden.status_code == 403
    media = fake.find_media("movie", 603)
    assert media is not None and (media.status, media.status4k) == (6, 6)


# ---------------------------------------------------------------------- OpenAPI validation
async def _full_scenario(fake: FakeSeerr, http: httpx.AsyncClient) -> None:
    alice = fake.add_user("alice", jellyfin_username="alice", movie_quota_limit=5, movie_quota_days=7)
    fake.add_media("movie", 550, status=5)
    as_alice = {"X-Api-User": str(alice)}
    for path in ("/api/v1", "/api/v1/status", "/api/v1/status/appdata", "/api/v1/settings/public"):
        (await http.get(path)).raise_for_status()
    for path in ("/api/v1/settings/main", "/api/v1/settings/about", "/api/v1/auth/me"):
        (await http.get(path)).raise_for_status()
    (await http.get("/api/v1/auth/me", headers=as_alice)).raise_for_status()
    (await http.get("/api/v1/user", params={"take": 5, "skip": 0, "sort": "displayname"})).raise_for_status()
    (await http.get("/api/v1/user", headers=as_alice)).raise_for_status()
    (await http.get(f"/api/v1/user/{alice}")).raise_for_status()
    (await http.get(f"/api/v1/user/{alice}/quota")).raise_for_status()
    (await http.get("/api/v1/user/1/quota")).raise_for_status()
    created = await http.post(
        "/api/v1/request", json={"mediaType": "movie", "mediaId": 603, "is4k": False}, headers=as_alice
    )
    assert created.status_code == 201
    tv = await http.post(
        "/api/v1/request", json={"mediaType": "tv", "mediaId": 1399, "seasons": [1, 2], "is4k": False}
    )
    assert tv.status_code == 201
    request_id = created.json()["id"]
    (
        await http.get(
            "/api/v1/request", params={"take": 10, "skip": 0, "filter": "pending", "sort": "modified"}
        )
    ).raise_for_status()
    (await http.get("/api/v1/request", headers=as_alice)).raise_for_status()
    (await http.post(f"/api/v1/request/{request_id}/approve")).raise_for_status()
    fake.set_download(request_id, fraction=0.5)
    fake.set_download(tv.json()["id"], fraction=0.1)
    (await http.get(f"/api/v1/request/{request_id}")).raise_for_status()
    (await http.get(f"/api/v1/request/{request_id}", headers=as_alice)).raise_for_status()
    (await http.get("/api/v1/movie/603", headers=as_alice)).raise_for_status()
    (await http.get("/api/v1/tv/1399", params={"language": "en"})).raise_for_status()
    (
        await http.get("/api/v1/media", params={"take": 20, "skip": 0, "sort": "modified", "filter": "all"})
    ).raise_for_status()
    fake.mark_available(request_id)
    fake.mark_available(tv.json()["id"], seasons=[1])
    (await http.get("/api/v1/request", params={"filter": "available"})).raise_for_status()
    (await http.get("/api/v1/request/count")).raise_for_status()
    (await http.get(f"/api/v1/user/{alice}/requests", params={"take": 5})).raise_for_status()
    (await http.post("/api/v1/media/1/partial", json={"is4k": False})).raise_for_status()
    (await http.get("/api/v1/search?query=matrix&page=1")).raise_for_status()
    (await http.delete(f"/api/v1/request/{tv.json()['id']}")).raise_for_status()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_full_scenario_matches_the_openapi_file(flavour: str) -> None:
    fake = make(flavour)
    transport = ValidatingTransport(fake, allow_undocumented_errors=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers={"X-Api-Key": KEY}) as http:
        await _full_scenario(fake, http)
    assert transport.exchanges >= 25
    transport.assert_clean()


def _exchange(
    method: str, path: str, body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> tuple[httpx.Request, httpx.Response]:
    request = httpx.Request(method, f"{BASE}{path}", headers={"X-Api-Key": KEY, **(headers or {})})
    response = httpx.Response(status, json=body, request=request)
    return request, response


def _user(**overrides: Any) -> dict[str, Any]:
    return {
        "id": 2,
        "email": "a@example.invalid",
        "username": "a",
        "createdAt": "x",
        "updatedAt": "y",
        **overrides,
    }


def test_validator_flags_what_is_not_an_allowed_gap() -> None:
    cases = [
        ("GET", "/api/v1/auth/me", _user(id="two"), {}, "auth/me id as string"),
        (
            "GET",
            "/api/v1/auth/me",
            {k: v for k, v in _user().items() if k != "email"},
            {},
            "email without X-Api-User",
        ),
        (
            "GET",
            "/api/v1/auth/me",
            {k: v for k, v in _user().items() if k != "createdAt"},
            {"X-Api-User": "2"},
            "createdAt",
        ),
        ("GET", "/api/v1/auth/me", _user(avatar=None), {}, "null avatar"),
        (
            "GET",
            "/api/v1/request/1",
            {"id": 1, "status": 1, "media": {"status": None}},
            {},
            "null media status",
        ),
        ("GET", "/api/v1/request?sortDirection=asc", {"results": []}, {}, "unknown query parameter on O"),
        ("GET", "/api/v1/not-documented", {}, {}, "undocumented path"),
    ]
    for method, path, body, headers, label in cases:
        request, response = _exchange(method, path, body, headers=headers)
        assert exchange_problems("overseerr", request, response), label
    request, response = _exchange("GET", "/api/v1/request", {}, status=409)
    assert exchange_problems("overseerr", request, response)
    assert not exchange_problems("overseerr", request, response, allow_undocumented_errors=True)
    bare = httpx.Request("GET", f"{BASE}/api/v1/auth/me")
    with pytest.raises(AssertionError, match="Security"):
        validate_exchange(
            "seerr", bare, httpx.Response(401, json={}, request=bare), allow_undocumented_errors=True
        )


def test_validator_allows_exactly_the_listed_gaps() -> None:
    stripped = {k: v for k, v in _user(username=None, plexUsername=None).items() if k != "email"}
    request_body = {
        "id": 1,
        "status": 5,
        "serverId": None,
        "profileId": None,
        "rootFolder": None,
        "modifiedBy": None,
        "requestedBy": stripped,
        "media": {
            "id": 1,
            "tmdbId": 603,
            "tvdbId": None,
            "imdbId": None,
            "status": 7,
            "status4k": 6,
            "downloadStatus": [],
        },
        "profileName": "HD-1080p",
        "canRemove": False,
    }
    for flavour in FLAVOURS:
        request, response = _exchange("GET", "/api/v1/request/1", request_body, headers={"X-Api-User": "2"})
        validate_exchange(flavour, request, response)
        request, response = _exchange(
            "GET", "/api/v1/user/2/quota", {"movie": {"used": 0, "restricted": False}, "tv": {}}
        )
        validate_exchange(flavour, request, response)
        request, response = _exchange("GET", "/api/v1", {"api": "x", "version": "1.0"})
        validate_exchange(flavour, request, response)
    request, response = _exchange("GET", "/api/v1/request/1", request_body)  # no X-Api-User: email required
    with pytest.raises(AssertionError, match="email"):
        validate_exchange("seerr", request, response)


def test_fake_error_bodies_are_json() -> None:
    fake = make()
    response = fake.handle(httpx.Request("GET", f"{BASE}/api/v1/request/77", headers={"X-Api-Key": KEY}))
    assert response.status_code == 404 and json.loads(response.content) == {"message": "Request not found."}

"""The conformance kit (``aperture_hookspecs.testing``) on every provider the project ships, and on
the README's example provider.

* the null provider, as it is: no server, nothing to configure (the checks that need a server
  or a secret skip, saying so);
* the Overseerr provider against a fake Overseerr, the Jellyseerr provider against a fake
  Jellyseerr and a fake Seerr (the flavours where they differ), every fake served over real HTTP
  on 127.0.0.1, with every optional input of the kit supplied, so every check runs (push's
  example deliveries are the product's recorded ones, ``../shared/reference/recorded/*/
  webhooks.jsonl``: that check skips, saying so, without them);
* the README's "Write your own provider" example, installed as a distribution with its entry
  point, and checked by the README's own two lines in a pytest run of its own.

One fake server per flavour serves a whole class (starting and stopping one costs half a
second): each check starts from a fresh provider context, and picks what is requestable now,
so it does not matter what the checks before it filed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aperture_hookspecs import ApertureUser, MediaRef
from aperture_hookspecs.push import PushKind
from aperture_hookspecs.testing import (
    ProviderContract,
    ProviderSetup,
    PushExample,
    Refusal,
    provider_contract,
)
from aperture_overseerr.permissions import Permission
from aperture_overseerr.testing import FakeSeerr
from aperture_plugins import null_provider

from .conftest import CANARY
from .test_readme_example import readme_entry_point, readme_example

README = Path(__file__).parent.parent / "README.md"
RECORDED = Path(__file__).parents[1].parent / "shared" / "reference" / "recorded"
RECORDING_OF_FLAVOUR = {
    "overseerr": "overseerr-1.34.0",
    "jellyseerr": "jellyseerr-2.7.3",
    "seerr": "seerr-3.1.0",
}

TestNullProviderContract = provider_contract("null", plugin=null_provider, settings={})


# -- the Seerr providers against the fake server ---------------------------------------------------

MOVIES = {
    603: "The Matrix",
    550: "Fight Club",
    27205: "Inception",
    155: "The Dark Knight",
    157336: "Interstellar",
}
MOVIES |= {438631: "Dune", 329: "Jurassic Park", 680: "Pulp Fiction"}
SHOWS = {1399: ("Game of Thrones", 8), 603: ("Matrix: the series", 2), 1396: ("Breaking Bad", 5)}
SHOWS |= {71912: ("The Witcher", 3), 94605: ("Arcane", 2)}
ITEMS = tuple(
    MediaRef.parse(text)
    for text in (
        "movie:603", "tv:1399", "movie:550", "tv:603", "movie:27205", "tv:1396", "movie:155",
        "movie:157336", "tv:71912", "movie:438631", "tv:94605", "movie:329", "movie:680",
    )
)  # fmt: skip


@dataclass
class SeerrServer:
    """A fake Seerr-family server served over HTTP, with the users the checks need."""

    fake: FakeSeerr
    url: str


def build_fake(flavour: str) -> FakeSeerr:
    """A catalogue, a title in the library, one on the blocklist (J/S), someone else's request,
    and four users: alice may request, bob movies only, dave has used up his movie quota."""
    fake = FakeSeerr(flavour, api_key=CANARY)  # the suite's leak check watches for it too
    jelly = flavour != "overseerr"
    fake.add_user("alice", jellyfin_username="alice" if jelly else None)
    fake.add_user("bob", permissions=int(Permission.REQUEST_MOVIE))
    dave = fake.add_user("dave", movie_quota_limit=1, movie_quota_days=7)
    for tmdb_id, title in MOVIES.items():
        fake.add_title("movie", tmdb_id, title)
    for tmdb_id, (title, seasons) in SHOWS.items():
        fake.add_title("tv", tmdb_id, title, seasons=seasons)
    fake.add_media("movie", 603)  # in the library
    fake.create_request(fake.users[dave], {"mediaType": "movie", "mediaId": 550})  # someone else's
    if fake.traits.blocklist_name is not None:
        fake.blocklist("movie", 680)
    return fake


@pytest.fixture(scope="class")
def seerr_server(request: pytest.FixtureRequest) -> Iterator[SeerrServer]:
    fake = build_fake(request.cls.flavour)
    with fake.serve() as url:
        yield SeerrServer(fake, url)


def recorded_deliveries(flavour: str) -> list[PushExample]:
    """The flavour's recorded webhook deliveries (``body_raw``): the test notification parses to a
    TEST notice, every media event to a STATUS one. Empty when ../shared is missing."""
    path = RECORDED / RECORDING_OF_FLAVOUR[flavour] / "webhooks.jsonl"
    if not path.is_file():
        return []
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        delivery = json.loads(line)
        kind = PushKind.TEST if delivery["notification_type"] == "TEST_NOTIFICATION" else PushKind.STATUS
        label = f"{path.parent.name} #{delivery['seq']} {delivery['notification_type']}"
        examples.append(PushExample(delivery["body_raw"].encode(), kind, label))
    return examples


def seerr_settings(url: str) -> dict[str, Any]:
    return {"url": url, "api_key": CANARY, "timeout": 1}


class SeerrContract(ProviderContract):
    """The kit with every optional input supplied, against :func:`build_fake` served over HTTP:
    every check must run (a skip fails)."""

    flavour: ClassVar[str]
    require_every_check = True

    @pytest.fixture
    def provider_settings(self, seerr_server: SeerrServer) -> Mapping[str, Any]:
        return seerr_settings(seerr_server.url)

    @pytest.fixture
    def settings_for_url(self) -> Callable[[str], Mapping[str, Any]]:
        return seerr_settings

    @pytest.fixture
    def provider_user(self) -> ApertureUser:
        return ApertureUser("alice")

    @pytest.fixture
    def provider_items(self) -> Sequence[MediaRef]:
        return ITEMS

    @pytest.fixture
    def request_counter(self, seerr_server: SeerrServer) -> Callable[[], int]:
        return lambda: len(seerr_server.fake.requests)

    @pytest.fixture
    def refused_requests(self, seerr_server: SeerrServer) -> Sequence[Refusal]:
        refusals = [
            Refusal(MediaRef.parse("tv:1396"), ApertureUser("bob"), why="bob may request movies only"),
            Refusal(MediaRef.parse("movie:329"), ApertureUser("dave"), why="dave's movie quota is used up"),
        ]
        if seerr_server.fake.traits.blocklist_name is not None:
            refusals.append(Refusal(MediaRef.parse("movie:680"), ApertureUser("alice"), why="blocklisted"))
        return refusals

    @pytest.fixture
    def change_request(self, seerr_server: SeerrServer) -> Callable[[str], None]:
        return lambda request_id: seerr_server.fake.approve(int(request_id))

    @pytest.fixture
    def push_examples(self) -> Sequence[PushExample]:
        return recorded_deliveries(self.flavour)

    @pytest.fixture
    def push_elsewhere(self, seerr_server: SeerrServer) -> Callable[[str], None]:
        return lambda url: seerr_server.fake.configure_webhook(url, auth_header="Bearer another-receiver")

    def test_push_examples_parse_to_their_kind(self, provider_setup: ProviderSetup) -> None:
        if not recorded_deliveries(self.flavour):
            pytest.skip(f"{RECORDED} is missing: the recorded webhook deliveries are the push examples")
        super().test_push_examples_parse_to_their_kind(provider_setup)


class TestOverseerrOnOverseerrContract(SeerrContract):
    entry_point = "overseerr"
    flavour = "overseerr"


class TestJellyseerrOnJellyseerrContract(SeerrContract):
    entry_point = "jellyseerr"
    flavour = "jellyseerr"


class TestJellyseerrOnSeerrContract(SeerrContract):
    entry_point = "jellyseerr"
    flavour = "seerr"


# -- the README's example provider, with the README's two lines ------------------------------------


def readme_kit_lines() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- example: conformance-kit -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "the README lost the lines that run the conformance kit"
    return match.group(1)


def install_readme_provider(pytester: pytest.Pytester) -> None:
    """The README's provider as an installed distribution (module + dist-info with its entry point)."""
    name = readme_entry_point()
    pytester.makepyfile(aperture_shelf=readme_example())
    info = pytester.mkdir("aperture_shelf-1.0.0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aperture-shelf\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text(f"[aperture_plugins]\n{name} = aperture_shelf\n")
    pytester.syspathinsert()


def test_the_readme_lines_pass_the_kit_on_the_readme_provider(pytester: pytest.Pytester):
    lines = readme_kit_lines()
    assert len([line for line in lines.splitlines() if line.strip()]) == 2, "the README promises two lines"
    install_readme_provider(pytester)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_contract=lines)
    result = pytester.runpytest("-p", "aperture_hookspecs.testing", "-v", "-rs", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 15
    text = result.stdout.str()
    # it has no server, no connection test, no polling: those are skipped and say so
    assert "supply settings_for_url" in text
    assert "does not implement aperture_test_connection" in text
    assert "does not implement aperture_poll_status" in text
    assert "the provider does not declare Capability.PUSH" in text  # push's checks leave it alone
    # but its entry point, lookups, submit and secret were checked
    result.stdout.fnmatch_lines_random(
        [
            f"*::TestShelfContract::{name} PASSED*"
            for name in (
                "test_entry_point_loads_the_plugin",
                "test_provider_info",
                "test_lookup_one_answer_per_item_in_order",
                "test_submit_returns_the_request",
                "test_settings_schema_marks_secrets",
                "test_only_aperture_errors_and_no_secrets",
                "test_async_hygiene",
            )
        ]
    )

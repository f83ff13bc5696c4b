"""Replay the recordings of the real servers against the fake, and list every remaining difference.

``../shared/reference/recorded/<product>-<version>/`` holds the exchanges recorded from a real
server (``exchanges.jsonl``, and the API calls of the webhook run in ``webhook-exchanges.jsonl``).
For every folder this test builds ``FakeSeerr(<product>, version=<version>)``, seeds it as the
folder's README "Seed state" describes (users with their ids, permissions, quotas and user types;
media rows 603/1399/238 with their statuses and season rows; the fake TMDB catalogue of the
steps; the ``<API-KEY>`` placeholder as the API key; no Radarr/Sonarr), checks that seed against
the README's tables, then sends every recorded request in order, byte for byte over real HTTP
(``http.client``, as the recorder did) to ``FakeSeerr.serve()``, with the fake's clock at the
moment the request was recorded, and compares:

* the status code and the content type (a request the server never answered must time out);
* every JSON value, recursively, lists element by element: the key sets, the value types and the
  values, ids included (the same seed in the same order gives the same ids). Values aside:
  timestamps match within one second and must be whole seconds (``.000Z``), so a frozen or a
  moving ``updatedAt`` shows as a difference of several seconds; values made up by the seed
  (:data:`MADE_UP_VALUES`) are compared by type; values made up by the recording's fake TMDB
  (``/movie``, ``/tv`` and ``/search`` outside ``mediaInfo``) by type, where the recording has one
  (its minimal fake TMDB left some fields ``null``);
* the OpenAPI files: the fake's answer may break the flavour's file only where the recorded
  answer to the same request breaks it too (``openapi_validation``, notes §13).

Differences that remain are listed in :data:`KNOWN_DIFFERENCES`, each with its reason. The test
fails on a difference that is not listed and on a listed one that no longer occurs. The calls of
the webhook agent are replayed too, with real receivers standing in for the recorder's
(``recorded_webhooks``: a receiver answering 200 or 500, one that never answers, a closed port;
the recorded URLs are pointed at them and the answers name the recorded ports again); the
deliveries themselves are compared by ``test_fake_webhook_replay.py``. The webhook run's *arr
settings calls put the server in a state ("a Radarr on a closed port") that the replay sets up
through the fake's switches instead (:func:`drive_arr_settings`).
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aperture_overseerr.testing import FakeSeerr
from aperture_overseerr.testing.fake_flavours import FLAVOURS, USER_JELLYFIN, USER_LOCAL, USER_PLEX, Flavour

from .openapi_validation import exchange_problems
from .recorded_webhooks import webhook_run

RECORDED = Path(__file__).parents[1].parent / "shared" / "reference" / "recorded"
API_KEY = "<API-KEY>"  # the recordings' placeholder, used as the fake's key
#: How long the replay waits for an answer the real server never gave (the recorder waited 10 s).
NO_ANSWER_TIMEOUT = 0.5
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
ISO = re.compile(rf"^{STAMP.pattern}$")

pytestmark = pytest.mark.skipif(
    not RECORDED.is_dir(), reason=f"the recordings of the real servers are not here: {RECORDED}"
)


# ---------------------------------------------------------------------- the folders
def recorded_folders() -> list[Path]:
    """Every ``<product>-<version>`` folder of the recordings (more versions may arrive)."""
    if not RECORDED.is_dir():
        return []
    return sorted(p for p in RECORDED.iterdir() if p.is_dir() and not p.name.startswith("."))


def flavour_of(folder: Path) -> tuple[Flavour, str]:
    """``seerr-3.1.0`` → ``("seerr", "3.1.0")``; a folder of an unknown product is an error."""
    product, _, version = folder.name.rpartition("-")
    if product not in FLAVOURS or not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(
            f"recorded folder {folder.name!r} is not <product>-<version> of a product the fake "
            f"imitates ({', '.join(FLAVOURS)}); teach the fake that product or rename the folder"
        )
    return product, version  # type: ignore[return-value]


# ---------------------------------------------------------------------- the seed (README "Seed state")
@dataclass(frozen=True)
class SeedUser:
    id: int
    name: str
    email: str
    permissions: int
    movie_quota: tuple[int, int] | None = None  # (limit, days)
    local: bool = False  # userType 2 with a username; the others are the product's own accounts


SEED_USERS = (
    SeedUser(1, "owner", "owner@example.com", 2),
    SeedUser(2, "alice", "alice@example.com", 32),
    SeedUser(3, "bob", "bob@example.com", 262144, movie_quota=(1, 7)),
    SeedUser(4, "carol", "carol@example.com", 0),
    SeedUser(5, "sam", "sam@example.com", 32),
    SeedUser(6, "Sam", "sam.local@example.com", 32, local=True),
    SeedUser(7, "dave", "dave@example.com", 160),
)


@dataclass(frozen=True)
class SeedMedia:
    id: int
    media_type: str
    tmdb_id: int
    tvdb_id: int | None
    status: int
    seasons: tuple[tuple[int, int], ...] = ()  # (season number, status)


SEED_MEDIA = (
    SeedMedia(1, "movie", 603, None, 5),
    SeedMedia(2, "tv", 1399, 121361, 4, ((1, 5), (2, 1), (3, 1))),
    SeedMedia(3, "movie", 238, None, 3),
)

#: The recordings' fake TMDB (README "How it was recorded"): titles, and TV shows with seasons 0..3.
MOVIES = {
    603: "The Matrix",
    550: "Fight Club",
    680: "Pulp Fiction",
    13: "Forrest Gump",
    155: "The Dark Knight",
    27205: "Inception",
    24428: "The Avengers",
    157336: "Interstellar",
    278: "The Shawshank Redemption",
    238: "The Godfather",
}
#: TMDB id: (name, TVDB id, regular seasons); every show also has a season 0 (Specials).
SHOWS = {
    1399: ("Game of Thrones", 121361, 3),
    1396: ("Breaking Bad", 81189, 3),
    66732: ("Stranger Things", 305288, 3),
    60059: ("Better Call Saul", 273181, 2),  # overseerr seq 78: "all" requests seasons 0, 1, 2
}
GENERATED_MOVIES = range(100000, 101000)
#: The recordings' fake TMDB (README): every movie released 1999-03-31, overviews "Overview of
#: <title>.", posters ``/poster<id>.jpg``; the shows' first air date as the TV answers show it.
#: The webhook bodies carry them (``subject`` year, ``message``, ``image``).
MOVIE_DATE = "1999-03-31"
SHOW_DATE = "2011-04-17"


def tmdb_facts(tmdb_id: int, title: str, date: str) -> dict[str, str]:
    return {"overview": f"Overview of {title}.", "date": date, "poster_path": f"/poster{tmdb_id}.jpg"}


def _readme_table(readme: str, heading: str) -> list[list[str]]:
    """The rows of the first markdown table after the line starting with ``heading``."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header row


def check_seed_matches_readme(folder: Path) -> None:
    """The seed of this test is the README's: the users and media tables of "Seed state"."""
    readme = (folder / "README.md").read_text(encoding="utf-8")
    seed = readme[readme.index("## Seed state") :]
    users = _readme_table(seed, "Users")
    assert [(int(r[0]), r[1], r[2], int(r[3].split()[0])) for r in users] == [
        (u.id, u.name, u.email, u.permissions) for u in SEED_USERS
    ], f"{folder.name}: the README's seed users differ from SEED_USERS"
    quotas = {int(r[0]): r[4] for r in users}
    assert quotas[3] == "movie 1 per 7 days" and all(
        q in ("–", "none") for i, q in quotas.items() if i != 3
    ), f"{folder.name}: the README's seed quotas differ"
    assert "userType 2" in users[5][5], f"{folder.name}: user 6 should be the local user"
    media = _readme_table(seed, "Media rows")
    assert [(int(r[0]), r[1], int(r[2]), int(r[4].split()[0])) for r in media] == [
        (m.id, m.media_type, m.tmdb_id, m.status) for m in SEED_MEDIA
    ], f"{folder.name}: the README's seed media differ from SEED_MEDIA"
    assert "season 1 = 5, seasons 2 and 3 = 1" in media[1][5]


def seed_moment(folder: Path) -> datetime:
    """When the seed rows were written: the earliest timestamp the recorded answers show."""
    text = (folder / "exchanges.jsonl").read_text(encoding="utf-8")
    return min(_parse(stamp) for stamp in STAMP.findall(text))


def seeded_fake(flavour: Flavour, version: str, moment: list[datetime]) -> FakeSeerr:
    """A fake in the state the README describes; its clock reads ``moment[0]``."""
    owner = SEED_USERS[0]
    fake = FakeSeerr(
        flavour,
        version=version,
        api_key=API_KEY,
        clock=lambda: moment[0],
        owner_name=owner.name,
        owner_email=owner.email,
    )
    fake.radarr = fake.sonarr = False  # no Radarr or Sonarr was configured
    jellyfin = fake.traits.has_jellyfin_fields
    for user in SEED_USERS[1:]:  # the owner (id 1) is the constructor's
        kwargs: dict[str, Any] = {"email": user.email, "permissions": user.permissions}
        if user.local:
            kwargs.update(username=user.name, user_type=USER_LOCAL)
        elif jellyfin:
            kwargs.update(jellyfin_username=user.name, user_type=USER_JELLYFIN)
        else:
            kwargs.update(plex_username=user.name, user_type=USER_PLEX)
        if user.movie_quota:
            kwargs.update(movie_quota_limit=user.movie_quota[0], movie_quota_days=user.movie_quota[1])
        made_id = fake.add_user(**kwargs)
        assert made_id == user.id, f"seed user {user.name} got id {made_id}, not {user.id}"
    for tmdb_id, title in [*MOVIES.items(), *((n, f"Generated Movie {n}") for n in GENERATED_MOVIES)]:
        fake.add_title("movie", tmdb_id, title, **tmdb_facts(tmdb_id, title, MOVIE_DATE))
    for tmdb_id, (title, tvdb_id, seasons) in SHOWS.items():
        fake.add_title(
            "tv",
            tmdb_id,
            title,
            seasons=seasons,
            tvdb_id=tvdb_id,
            specials=True,
            **tmdb_facts(tmdb_id, title, SHOW_DATE),
        )
    for media in SEED_MEDIA:
        made_id = fake.add_media(
            media.media_type,  # type: ignore[arg-type]
            media.tmdb_id,
            status=media.status,
            season_statuses=dict(media.seasons) or None,
        )
        assert made_id == media.id
    fake.calls.clear()
    return fake


# ---------------------------------------------------------------------- replay
def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


#: Calls of the recordings that are not replayed, by path pattern, with the reason (none left:
#: the webhook agent's calls are replayed since the fake has the agent, issue 14).
NOT_REPLAYED: dict[str, str] = {}


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer before the timeout
    content_type: str | None
    body: Any
    raw: bytes = b""


def send(
    base_url: str,
    request: dict[str, Any],
    *,
    timeout: float,
    restore: Callable[[bytes], bytes] | None = None,
) -> Answer:
    """One recorded request, exactly as recorded (method, raw path, headers, JSON body);
    ``restore`` rewrites the raw answer before it is parsed (the receivers' ports)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = dict(request.get("headers") or {})
    try:
        connection.request(request["method"], request["path"], body=_request_body(request), headers=headers)
        response = connection.getresponse()
        raw = response.read()
        if restore is not None:
            raw = restore(raw)
    except TimeoutError:
        return Answer(None, None, None)
    finally:
        connection.close()
    content_type = response.getheader("content-type")
    if not raw:
        return Answer(response.status, content_type, None)
    try:
        return Answer(response.status, content_type, json.loads(raw), raw)
    except ValueError:
        return Answer(response.status, content_type, raw.decode("utf-8", "replace"), raw)


def _request_body(request: dict[str, Any]) -> bytes | None:
    return None if request.get("body") is None else json.dumps(request["body"]).encode()


@dataclass(frozen=True)
class Difference:
    folder: str
    file: str
    seq: int
    path: str  # "status", "content_type", "openapi" or a JSON path ("body.results[0].media.seasons")
    detail: str

    def __str__(self) -> str:
        return f"{self.folder} {self.file} #{self.seq} {self.path}: {self.detail}"


#: Keys whose values the seed or the recording's fake TMDB made up: compared by type only.
MADE_UP_VALUES = frozenset({"jellyfinUserId", "avatar", "vapidPublic"})
_TMDB_ROUTES = re.compile(r"^/api/v1/(movie|tv)/\d+|^/api/v1/search")


def compare(
    recorded: Any,
    actual: Any,
    path: str,
    *,
    tmdb: bool,
    out: list[tuple[str, str]],
    truncated: dict[str, int] | None = None,
) -> None:
    """Append ``(path, detail)`` for every difference between two JSON values.

    ``truncated`` maps the path of a list the recorder cut to its first items (README:
    "Truncation rule") to its original length: only the kept items are compared."""
    truncated = truncated or {}
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for key in recorded.keys() - actual.keys():
            out.append((f"{path}.{key}", "missing"))
        for key in actual.keys() - recorded.keys():
            out.append((f"{path}.{key}", "extra"))
        for key in recorded.keys() & actual.keys():
            inner_tmdb = tmdb and key != "mediaInfo"
            compare(
                recorded[key], actual[key], f"{path}.{key}", tmdb=inner_tmdb, out=out, truncated=truncated
            )
        return
    if isinstance(recorded, list) and isinstance(actual, list):
        length = truncated.get(path, len(recorded))
        if length != len(actual):
            out.append((path, f"{len(actual)} items, recorded {length}"))
        for index, (left, right) in enumerate(zip(recorded, actual, strict=False)):
            compare(left, right, f"{path}[{index}]", tmdb=tmdb, out=out, truncated=truncated)
        return
    if tmdb and recorded is None:
        return  # a field the recording's minimal fake TMDB left empty (README: do not read into it)
    if _kind(recorded) != _kind(actual):
        out.append((path, f"{_kind(actual)} {_short(actual)}, recorded {_kind(recorded)} {_short(recorded)}"))
        return
    key = path.rsplit(".", 1)[-1]
    if tmdb or key in MADE_UP_VALUES or recorded == actual:
        return
    if isinstance(recorded, str) and ISO.match(recorded) and isinstance(actual, str):
        if not ISO.match(actual) or not actual.endswith(".000Z"):
            out.append((path, f"timestamp {actual!r} is not whole seconds"))
        elif abs(_parse(actual) - _parse(recorded)) > timedelta(seconds=1):
            out.append((path, f"{actual}, recorded {recorded}"))
        return
    out.append((path, f"{_short(actual)}, recorded {_short(recorded)}"))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Step:
    """One replayed exchange: the record, the fake's answer (None for the *arr settings calls,
    which the replay sets through switches), and the webhook POSTs the exchange caused
    (``(recorded receiver port, Received)`` in order of arrival)."""

    record: dict[str, Any]
    answer: Answer | None
    deliveries: list[tuple[int, Any]]


def drive(folder: Path, file: str) -> Iterator[Step]:
    """Send one recorded file to a freshly seeded fake, with the webhook run's receivers up
    (``recorded_webhooks``: the recorded URLs point at them, the answers name the recorded
    ports again); after each exchange every delivery it caused has been answered."""
    flavour, version = flavour_of(folder)
    moment = [seed_moment(folder)]
    fake = seeded_fake(flavour, version, moment)
    with webhook_run(folder) as run, fake.serve() as base_url:
        for record in _records(folder / file):
            request, expected = record["request"], record["response"]
            if not_replayed(request):
                continue
            moment[0] = _parse(record["recorded_at"])
            run.before(record["seq"])
            if drive_arr_settings(fake, request):
                yield Step(record, None, run.after(fake))
                continue
            timeout = NO_ANSWER_TIMEOUT if expected["status"] is None else 10
            answer = send(base_url, run.outgoing(request), timeout=timeout, restore=run.restore)
            yield Step(record, answer, run.after(fake))


def replay(folder: Path, file: str) -> list[Difference]:
    """Replay one recorded file against a freshly seeded fake; every difference found."""
    flavour, _ = flavour_of(folder)
    found: list[Difference] = []
    for step in drive(folder, file):
        record, answer = step.record, step.answer
        if answer is None:
            continue
        request, expected = record["request"], record["response"]
        problems: list[tuple[str, str]] = []
        if answer.status != expected["status"]:
            problems.append(("status", f"{answer.status}, recorded {expected['status']}"))
        elif expected["status"] is not None:
            if answer.content_type != expected.get("content_type"):
                problems.append(
                    ("content_type", f"{answer.content_type}, recorded {expected.get('content_type')}")
                )
            tmdb = bool(_TMDB_ROUTES.match(request["path"]))
            cut = {
                item["path"].removeprefix("response."): item["original_length"]
                for item in record.get("truncated_lists", [])
            }
            compare(expected.get("body"), answer.body, "body", tmdb=tmdb, out=problems, truncated=cut)
            problems.extend(("openapi", problem) for problem in _openapi_news(flavour, record, answer))
        found.extend(Difference(folder.name, file, record["seq"], path, detail) for path, detail in problems)
    return found


def not_replayed(request: dict[str, Any]) -> bool:
    path = request["path"].split("?")[0]
    return any(fnmatch.fnmatch(path, pattern) for pattern in NOT_REPLAYED)


def _openapi_news(flavour: Flavour, record: dict[str, Any], answer: Answer) -> list[str]:
    """OpenAPI problems of the fake's answer that the recorded answer to the same request does
    not have (the error steps send invalid requests on purpose; both answers share those)."""
    request = record["request"]
    outgoing = httpx.Request(
        request["method"],
        f"http://seerr.test{request['path']}",
        headers=request.get("headers") or {},
        content=_request_body(request),
    )
    expected = record["response"]
    recorded_body = b"" if expected.get("body") is None else json.dumps(expected["body"]).encode()
    recorded = httpx.Response(
        expected["status"],
        headers={"content-type": expected["content_type"]} if expected.get("content_type") else {},
        content=recorded_body,
        request=outgoing,
    )
    fake_answer = httpx.Response(
        answer.status or 0,
        headers={"content-type": answer.content_type} if answer.content_type else {},
        content=answer.raw,
        request=outgoing,
    )
    real = set(exchange_problems(flavour, outgoing, recorded, allow_undocumented_errors=True))
    return [
        p
        for p in exchange_problems(flavour, outgoing, fake_answer, allow_undocumented_errors=True)
        if p not in real
    ]


def drive_arr_settings(fake: FakeSeerr, request: dict[str, Any]) -> bool:
    """The webhook run adds a default Radarr on a closed port and later removes it
    (``POST /settings/radarr``, ``DELETE /settings/radarr/0``; routes the fake does not have):
    set that state with the fake's switches instead. True when the call was one of those."""
    path = request["path"]
    if request["method"] == "POST" and path == "/api/v1/settings/radarr":
        fake.radarr = True
        fake.arr_unreachable = True
        return True
    if request["method"] == "DELETE" and path.startswith("/api/v1/settings/radarr/"):
        fake.radarr = False
        fake.arr_unreachable = False
        return True
    return False


# ---------------------------------------------------------------------- what remains
@dataclass(frozen=True)
class Known:
    """A difference the fake keeps on purpose: folders, file, seq (None = any) and path patterns."""

    folders: str
    file: str
    seq: int | None
    path: str
    reason: str

    def matches(self, difference: Difference) -> bool:
        return (
            fnmatch.fnmatch(difference.folder, self.folders)
            and fnmatch.fnmatch(difference.file, self.file)
            and (self.seq is None or self.seq == difference.seq)
            and fnmatch.fnmatch(difference.path, self.path)
        )


#: Every difference between the fake and the recordings that remains, with its reason.
KNOWN_DIFFERENCES: tuple[Known, ...] = (
    Known(
        "jellyseerr-2.7.3",
        "webhook-exchanges.jsonl",
        28,
        "body.status",
        "a race seen once: dave's auto-approved request with Radarr on a closed port answered 201 with "
        "status 2 (APPROVED) on Jellyseerr 2.7.3, 4 (FAILED) on Seerr 3.1.0 and Overseerr 1.34.0; read "
        "back later (seq 48) it is 4 on Jellyseerr too. The fake answers 4, as the push fails at once.",
    ),
)


# ---------------------------------------------------------------------- tests
FOLDERS = recorded_folders()
FILES = ("exchanges.jsonl", "webhook-exchanges.jsonl")


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_recorded_folder_is_a_known_product_with_the_readme_seed(folder: Path) -> None:
    try:
        flavour_of(folder)
    except ValueError as error:
        pytest.fail(str(error))
    for name in ("README.md", *FILES):
        assert (folder / name).is_file(), f"{folder.name} has no {name}"
    check_seed_matches_readme(folder)


def test_an_unknown_product_folder_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not <product>-<version> of a product the fake imitates"):
        flavour_of(Path("emby-4.8.0"))
    with pytest.raises(ValueError, match="rename the folder"):
        flavour_of(Path("seerr-latest"))
    assert flavour_of(Path("seerr-3.2.0")) == ("seerr", "3.2.0")
    assert flavour_of(Path("jellyseerr-2.5.2")) == ("jellyseerr", "2.5.2")


def test_every_not_replayed_pattern_is_still_recorded() -> None:
    """:data:`NOT_REPLAYED` cannot rot: each pattern skips some recorded call."""
    calls = [r["request"] for folder in FOLDERS for file in FILES for r in _records(folder / file)]
    for pattern in NOT_REPLAYED:
        assert any(fnmatch.fnmatch(c["path"].split("?")[0], pattern) for c in calls), pattern


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_replay_matches_the_recording(folder: Path, file: str) -> None:
    differences = replay(folder, file)
    known = [
        k
        for k in KNOWN_DIFFERENCES
        if fnmatch.fnmatch(folder.name, k.folders) and fnmatch.fnmatch(file, k.file)
    ]
    unlisted = [d for d in differences if not any(k.matches(d) for k in known)]
    stale = [k for k in known if not any(k.matches(d) for d in differences)]
    message = []
    if unlisted:
        message.append(f"{len(unlisted)} differences not in KNOWN_DIFFERENCES:")
        message.extend(f"  {d}" for d in unlisted)
    if stale:
        message.append("listed in KNOWN_DIFFERENCES but no longer seen (remove them):")
        message.extend(f"  {k.folders} {k.file} #{k.seq} {k.path}" for k in stale)
    assert not message, "\n".join(message)

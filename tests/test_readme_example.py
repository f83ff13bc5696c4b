"""The README's "Write your own provider" example is real: installed as a distribution with an
entry point, it is discovered, made active, answers lookups and takes requests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aperture_hookspecs import (
    ApertureUser,
    MediaRef,
    RequestState,
    UserNotMappedError,
    secret_fields,
)
from aperture_plugins import PluginHost

README = Path(__file__).parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- example: third-party-provider -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "the README lost its third-party provider example"
    return match.group(1)


def readme_entry_point() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"\[project\.entry-points\.aperture_plugins\]\n(\w+) = \"(\w+)\"", text)
    assert match, "the README lost the example's entry point"
    return match.group(1)


async def test_the_readme_provider_works_end_to_end(data_dir, install_distribution):
    entry_name = readme_entry_point()
    install_distribution("aperture-shelf", "aperture_shelf", readme_example(), entry_name=entry_name)
    host = PluginHost(data_dir).load()
    assert host.broken == []
    shelf = next(s for s in host.providers() if s.record.name == "shelf")
    assert shelf.record.origin == "aperture-shelf"
    assert secret_fields(host.settings_schema("shelf")) == {"token"}

    host.use("shelf")
    host.set_settings("shelf", {"token": "FAKE-TOKEN"})
    matrix, thrones = MediaRef.parse("movie:603"), MediaRef.parse("tv:1399")
    guest_view = await host.lookup([matrix, thrones], None)
    assert [(a.state, a.can_request) for a in guest_view] == [
        (RequestState.AVAILABLE, False),
        (RequestState.REQUESTABLE, False),
    ]
    result = await host.submit_request(thrones, ApertureUser("alice"))
    assert result.state is RequestState.PENDING
    [after] = await host.lookup([thrones], ApertureUser("alice"))
    assert after.state is RequestState.PENDING
    with pytest.raises(UserNotMappedError, match="guest has no account"):
        await host.submit_request(matrix, ApertureUser("guest"))

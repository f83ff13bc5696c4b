"""Loading through entry points: third-party providers are found like the built-in ones, and a
broken plugin is reported with its name and skipped without taking the host down."""

from __future__ import annotations

import pytest

from aperture_hookspecs import ApertureUser, MediaRef, RequestState, specs
from aperture_plugins import PluginHost

THIRD_PARTY_PROVIDER = """
    import asyncio
    from aperture_hookspecs import Availability, ProviderInfo, RequestState, hookimpl

    AWAITED = []

    @hookimpl
    def aperture_provider_info():
        return ProviderInfo(name="ombi", title="Ombi", version="2.0.0")

    @hookimpl
    async def aperture_lookup_availability(items, user):
        await asyncio.sleep(0)
        AWAITED.append([str(item) for item in items])
        return [Availability(item, RequestState.PENDING) for item in items]
"""

ITEMS = [MediaRef.parse("movie:603"), MediaRef.parse("tv:1399")]


def test_installed_seerr_providers_and_null_are_listed_with_their_origins(data_dir):
    host = PluginHost(data_dir).load()
    listed = {status.record.name: status for status in host.providers()}
    assert {"null", "overseerr", "jellyseerr"} <= listed.keys()
    assert listed["null"].record.origin == "built-in"
    assert listed["overseerr"].record.origin == "aperture-overseerr"
    assert listed["jellyseerr"].record.origin == "aperture-jellyseerr"
    assert listed["null"].active and not listed["jellyseerr"].active
    assert host.broken == []


def test_seerr_providers_return_their_settings_schema(data_dir):
    host = PluginHost(data_dir).load()
    for name in ("overseerr", "jellyseerr"):
        values = host.settings_schema(name)({"url": "http://seerr.local:5055/api/v1/", "api_key": "FAKE-KEY"})
        assert values["url"] == "http://seerr.local:5055"
        assert values["verify_tls"] is True


async def test_a_third_party_distribution_is_discovered_activated_and_awaited(data_dir, install_distribution):
    install_distribution("aperture-ombi", "aperture_ombi", THIRD_PARTY_PROVIDER, entry_name="ombi")
    host = PluginHost(data_dir).load()
    ombi = next(status for status in host.providers() if status.record.name == "ombi")
    assert (ombi.record.origin, ombi.record.info.title, ombi.enabled, ombi.active) == (
        "aperture-ombi",
        "Ombi",
        True,
        False,
    )
    host.use("ombi")
    answers = await host.lookup(ITEMS, ApertureUser("alice"))
    assert [a.state for a in answers] == [RequestState.PENDING, RequestState.PENDING]
    import aperture_ombi  # the module the entry point loaded

    assert aperture_ombi.AWAITED == [["movie:603", "tv:1399"]]


BROKEN_PLUGINS = {
    "raises-at-import": (
        "import",
        "RuntimeError: cannot import me",
        "raise RuntimeError('cannot import me')",
    ),
    "bad-signature": (
        "register",
        "wrong hook signature",
        """
        from aperture_hookspecs import ProviderInfo, hookimpl

        @hookimpl
        def aperture_provider_info():
            return ProviderInfo(name="bad-signature", title="Bad", version="1")

        @hookimpl
        async def aperture_lookup_availability(items, user, page_number):
            return []
        """,
    ),
    "misspelled": (
        "validate",
        "'aperture_lookup_availabilty', which is not an Aperture hook",
        """
        from aperture_hookspecs import hookimpl

        @hookimpl
        def aperture_lookup_availabilty(items):
            return []
        """,
    ),
    "async-wrapper": (
        "register",
        "a wrapper is a plain generator with one 'yield', not async def",
        """
        from aperture_hookspecs import hookimpl

        @hookimpl(wrapper=True)
        async def aperture_lookup_availability(items):
            return []
        """,
    ),
    "not-a-provider": (
        "validate",
        "without aperture_provider_info",
        """
        from aperture_hookspecs import hookimpl

        @hookimpl
        async def aperture_submit_request(item):
            return None
        """,
    ),
    "wrong-name": (
        "validate",
        "declares the provider name 'other' but is registered as 'wrong-name'",
        """
        from aperture_hookspecs import ProviderInfo, hookimpl

        @hookimpl
        def aperture_provider_info():
            return ProviderInfo(name="other", title="Other", version="1")
        """,
    ),
    "info-raises": (
        "validate",
        "aperture_provider_info raised ValueError",
        """
        from aperture_hookspecs import ProviderInfo, hookimpl

        @hookimpl
        def aperture_provider_info():
            return ProviderInfo(name="Not Valid!", title="x", version="1")
        """,
    ),
}


@pytest.mark.parametrize("name", list(BROKEN_PLUGINS))
async def test_a_broken_plugin_is_reported_by_name_and_skipped(data_dir, install_distribution, name):
    stage, message, source = BROKEN_PLUGINS[name]
    module = "broken_" + name.replace("-", "_")
    install_distribution(f"aperture-{name}", module, source, entry_name=name)
    install_distribution("aperture-ombi", "aperture_ombi", THIRD_PARTY_PROVIDER, entry_name="ombi")
    host = PluginHost(data_dir).load()
    [broken] = host.broken
    assert (broken.name, broken.origin, broken.stage) == (name, f"aperture-{name}", stage)
    assert message in broken.error
    assert name not in {status.record.name for status in host.providers()}
    # the host keeps working, other third-party plugins still load
    host.use("ombi")
    assert [a.state for a in await host.lookup(ITEMS, None)] == [RequestState.PENDING] * 2
    with pytest.raises(Exception, match="failed to load"):
        host.use(name)


def test_a_provider_name_taken_twice_keeps_the_first(data_dir, install_distribution):
    install_distribution("aperture-ombi", "aperture_ombi", THIRD_PARTY_PROVIDER, entry_name="ombi")
    host = PluginHost(data_dir).load()
    with pytest.raises(Exception, match="already loaded"):
        host.register(object(), "ombi")
    assert [b.name for b in host.broken] == ["ombi"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"null", "overseerr", "jellyseerr", "ombi"}),
        ("", {"null"}),
        ("ombi", {"null", "ombi"}),
        (" ombi , jellyseerr ", {"null", "ombi", "jellyseerr"}),
    ],
)
def test_the_load_plugins_variable_restricts_what_loads(
    data_dir, install_distribution, monkeypatch, value, expected
):
    install_distribution("aperture-ombi", "aperture_ombi", THIRD_PARTY_PROVIDER, entry_name="ombi")
    if value is not None:
        monkeypatch.setenv("APERTURE_LOAD_PLUGINS", value)
    host = PluginHost(data_dir).load()
    assert {status.record.name for status in host.providers()} == expected


def test_loading_is_idempotent(data_dir):
    host = PluginHost(data_dir)
    host.load()
    host.load()
    assert [s.record.name for s in host.providers()].count("jellyseerr") == 1


def test_tracing_prints_hook_calls(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("APERTURE_TRACE_PLUGINS", "1")
    host = PluginHost(data_dir, load_entry_points=False).load()
    host.settings_schema("null")
    assert "aperture_settings_schema" in capsys.readouterr().err


def test_every_hook_is_documented_and_has_a_test():
    """The contract cannot drift from its docs: each hook has a real docstring, and a test uses it."""
    from pathlib import Path

    tests = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    fakes = (Path(__file__).parent / "fakes.py").read_text()
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name, function in specs.spec_docs().items():
        assert function.__doc__ and len(function.__doc__.split()) >= 30, f"{name} needs real documentation"
        assert name in tests + fakes, f"no test implements or calls {name}"
        assert name in readme, f"the README's hook table does not mention {name}"

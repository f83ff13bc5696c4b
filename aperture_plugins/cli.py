"""The ``aperture-plugins`` command: the admin's view of the request-provider layer.

Every command takes ``--json`` and then prints exactly one JSON document on stdout (errors
too: ``{"error": CODE, "message": …, "hints": […]}``); logs and warnings go to stderr.

Exit codes:

===  ====================================================================
0    done (``request``: also when USER's own earlier request already covers ITEM; it is tracked)
1    aborted (Ctrl-C), or an unexpected error: a bug (the message says what; -vv shows the traceback)
2    bad input or settings (unknown provider, malformed ITEM, invalid config.toml, unreadable key);
     ``serve``: a non-loopback --host without an API token (``token_required``), an address
     that cannot be listened on (``address_unavailable``)
3    cannot connect to the request server
4    unauthorized (the API key was refused)
5    unexpected answer from the server (CSRF protection on: ``csrf_enabled``), or a plugin bug
6    refused by the server (permission, quota, blocklisted, or already requested by another
     user or in the library: movies and TV alike); ``webhook install``: the server's webhook
     goes to another receiver (add ``--replace``)
7    the data directory cannot be used: aperture.db damaged, read-only, disk full, locked too long
===  ====================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    CannotConnectError,
    ConnectionReport,
    ForeignWebhookError,
    MediaRef,
    ProviderContractError,
    RequestOptions,
    RequestRefusedError,
    Severity,
    UnauthorizedError,
    UnexpectedResponseError,
)

from . import __version__, admin, render, tokens, webhook_admin
from .file_errors import DataFileError
from .host import PluginHost
from .paths import DATA_DIR_ENV

EXIT_OK = 0
EXIT_UNEXPECTED_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_CANNOT_CONNECT = 3
EXIT_UNAUTHORIZED = 4
EXIT_UNEXPECTED = 5
EXIT_REFUSED = 6
EXIT_DATA_DIR = 7

log = logging.getLogger(__name__)


def exit_code_for(error: ApertureError) -> int:
    """The documented exit code for an error."""
    if isinstance(error, CannotConnectError):
        return EXIT_CANNOT_CONNECT
    if isinstance(error, UnauthorizedError):
        return EXIT_UNAUTHORIZED
    if isinstance(error, UnexpectedResponseError | ProviderContractError):
        return EXIT_UNEXPECTED
    if isinstance(error, RequestRefusedError | ForeignWebhookError):
        return EXIT_REFUSED
    if isinstance(error, DataFileError):
        return EXIT_DATA_DIR
    return EXIT_BAD_INPUT


class MediaRefParam(click.ParamType):
    """``movie:603`` / ``tv:1399`` on the command line."""

    name = "ITEM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> MediaRef:
        if isinstance(value, MediaRef):
            return value
        try:
            return MediaRef.parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class Output:
    """Where a command writes: JSON on stdout, or rich text for a person."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False)

    def json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def print(self, *objects: Any, **options: Any) -> None:
        self.console.print(*objects, **options)


def _host(ctx: click.Context) -> PluginHost:
    return ctx.obj["host"].load()


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Where config and settings live (default: ${DATA_DIR_ENV}, else the per-user data directory).",
)
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-vv for debug).")
@click.version_option(__version__, prog_name="aperture-plugins")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, verbose: int) -> None:
    """Request providers for Aperture: choose and configure them, look titles up, file requests."""
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    ctx.ensure_object(dict)
    ctx.obj.setdefault("host", PluginHost(data_dir))


@cli.command()
@json_option
@click.pass_context
def providers(ctx: click.Context, as_json: bool) -> None:
    """List the request providers: name, title, version, origin, enabled, active."""
    host = _host(ctx)
    out = Output(as_json)
    statuses = host.providers()
    observers = host.observers()
    problem = host.active_problem()
    if as_json:
        out.json(
            {
                "active": host.active_provider().name,
                "active_problem": problem,
                "data_dir": str(host.data_dir),
                "providers": [status.to_dict() for status in statuses],
                "plugins": [
                    {
                        "name": r.name,
                        "version": r.version,
                        "origin": r.origin,
                        "enabled": host.is_enabled(r.name),
                        "hooks": list(r.hooks),
                    }
                    for r in observers
                ],
                "broken": [b.to_dict() for b in host.broken],
            }
        )
        return
    out.print(render.providers_table(statuses))
    if observers:
        out.print(render.observers_table(observers, {r.name: host.is_enabled(r.name) for r in observers}))
    if host.broken:
        out.print(render.broken_table(host.broken))
    if problem:
        out.print(f"[yellow]Note:[/] {problem}")


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def enable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Enable a plugin (providers are enabled unless disabled)."""
    host = _host(ctx)
    host.enable(name)
    _switch_report(host, Output(as_json), name, f"{name} is enabled")


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def disable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Disable a plugin; if it was the active provider, the null provider answers."""
    host = _host(ctx)
    was_active = host.disable(name)
    message = f"{name} is disabled"
    if was_active:
        message += "; it was the active provider, so the null provider answers now (Not Available)"
    _switch_report(host, Output(as_json), name, message)


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def use(ctx: click.Context, name: str, as_json: bool) -> None:
    """Make NAME the active provider (enabling it); "null" means none."""
    host = _host(ctx)
    record = host.use(name)
    title = record.info.title if record.info else name
    _switch_report(host, Output(as_json), name, f"{title} ({name}) is the active provider")


def _switch_report(host: PluginHost, out: Output, name: str, message: str) -> None:
    if out.as_json:
        out.json(
            {
                "name": name,
                "enabled": host.is_enabled(name),
                "active": host.active_provider().name,
                "message": message,
            }
        )
    else:
        out.print(message)


@cli.command()
@click.argument("items", nargs=-1, required=True, type=MediaRefParam())
@click.option(
    "--user", "user_name", metavar="NAME", help="The Aperture user to look up for (default: a guest)."
)
@json_option
@click.pass_context
def lookup(ctx: click.Context, items: Sequence[MediaRef], user_name: str | None, as_json: bool) -> None:
    """Show the Discovery badge of each ITEM (movie:603, tv:1399) through the active provider."""
    host = _host(ctx)
    user = ApertureUser(user_name) if user_name else None
    answers = asyncio.run(_lookup(host, list(items), user))
    try:
        provider = host.active_provider()
        name, title = provider.name, (provider.info.title if provider.info else provider.name)
    except ApertureError:  # config.toml is damaged: the cards say so (admin_reason)
        name, title = None, "Requests"
    out = Output(as_json)
    if as_json:
        out.json([{**answer.to_dict(), "provider": name} for answer in answers])
        return
    out.print(render.availability_table(title, user_name, answers))


async def _lookup(host: PluginHost, items: list[MediaRef], user: ApertureUser | None) -> list[Any]:
    async with host:
        return await host.lookup(items, user)


PROBLEM_EXIT_CODES = {
    **dict.fromkeys(("cannot_connect", "connection_refused", "host_not_found", "timeout", "tls_error"), 3),
    **dict.fromkeys(("invalid_auth", "missing_api_key", "invalid_api_key"), 4),
    **dict.fromkeys(
        ("unexpected_response", "unsupported_server", "server_misconfigured", "csrf_enabled", "provider_bug"),
        5,
    ),
}


def exit_code_for_report(report: ConnectionReport | None) -> int:
    """0 when the connection test passed, else the exit code of its first error."""
    if report is None or report.ok:
        return EXIT_OK
    first = next(p for p in report.problems if p.severity == Severity.ERROR)
    return PROBLEM_EXIT_CODES.get(first.code, EXIT_BAD_INPUT)


def _read_api_key(from_stdin: bool, from_file: str | None) -> str | None:
    if from_stdin and from_file:
        raise click.UsageError("give the API key one way: --api-key-stdin or --api-key-file")
    if from_stdin:
        if sys.stdin.isatty():
            return click.prompt("API key", hide_input=True, err=True)
        return sys.stdin.readline().strip()
    if from_file:
        try:
            with open(from_file, encoding="utf-8") as stream:
                return stream.readline().strip()
        except OSError as error:
            raise click.UsageError(f"cannot read the API key file {from_file}: {error.strerror}") from None
    return None


@cli.command()
@click.argument("name")
@click.option("--url", help="The server's address, e.g. http://jellyseerr:5055.")
@click.option(
    "--api-key-stdin", is_flag=True, help="Read the API key from standard input (or a hidden prompt)."
)
@click.option(
    "--api-key-file", type=click.Path(dir_okay=False), help="Read the API key from the first line of F."
)
@click.option("--api-key", "api_key_argument", hidden=True)
@click.option("--timeout", type=float, help="Seconds per HTTP call (default 10).")
@click.option(
    "--verify-tls/--no-verify-tls",
    default=None,
    help="Verify the server's TLS certificate (the default), or do not.",
)
@click.option(
    "--default-4k/--no-default-4k", default=None, help="Request in 4K unless a user says otherwise."
)
@click.option("--save-untested", is_flag=True, help="Save even if the connection test fails (says so).")
@json_option
@click.pass_context
def configure(
    ctx: click.Context,
    name: str,
    url: str | None,
    api_key_stdin: bool,
    api_key_file: str | None,
    api_key_argument: str | None,
    timeout: float | None,
    verify_tls: bool | None,
    default_4k: bool | None,
    save_untested: bool,
    as_json: bool,
) -> None:
    """Enter a provider's URL and API key: validate, Test Connection, then Save.

    The settings are saved only if the connection test passes. The API key is stored
    encrypted and never shown again; leave it out to keep the stored one. Only what is given
    changes: the other stored settings (user map, timeout, TLS, default 4K) are kept, and
    the output says which.
    """
    if api_key_argument is not None:
        raise click.UsageError(
            "refusing --api-key: a key on the command line stays in shell history and process lists; "
            "use --api-key-stdin or --api-key-file"
        )
    host = _host(ctx)
    entered: dict[str, Any] = {
        "url": url,
        "api_key": _read_api_key(api_key_stdin, api_key_file),
        "timeout": timeout,
        "verify_tls": verify_tls,
        "default_4k": default_4k,
    }
    outcome = asyncio.run(_configure(host, name, entered, save_untested))
    out = Output(as_json)
    if as_json:
        out.json(outcome.to_dict())
    else:
        if outcome.report is not None:
            out.print(render.connection_report(outcome.report))
        if outcome.saved and outcome.report is not None and not outcome.report.ok:
            out.print("[yellow]Saved untested[/]: the connection test failed, but --save-untested was given.")
        elif outcome.saved:
            out.print("[green]Saved.[/] The API key is stored encrypted and will not be shown again.")
        else:
            out.print("[red]Not saved[/]: fix the problems above and try again (or pass --save-untested).")
        if outcome.kept:
            out.print(("Kept: " if outcome.saved else "Would have kept: ") + ", ".join(outcome.kept))
    if not outcome.saved:
        ctx.exit(exit_code_for_report(outcome.report))


async def _configure(host: PluginHost, name: str, entered: dict[str, Any], save_untested: bool) -> Any:
    async with host:
        return await admin.configure(host, name, entered, save_untested=save_untested)


@cli.command()
@click.argument("name", required=False)
@json_option
@click.pass_context
def test(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Test the connection of a provider with its saved settings (the active one by default)."""
    host = _host(ctx)

    async def run() -> ConnectionReport:
        async with host:
            return await host.test_connection(name)

    report = asyncio.run(run())
    out = Output(as_json)
    if as_json:
        out.json(report.to_dict())
    else:
        out.print(render.connection_report(report))
    ctx.exit(exit_code_for_report(report))


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def settings(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a provider's saved settings, secrets masked."""
    values = admin.masked_settings(_host(ctx), name)
    out = Output(as_json)
    if as_json:
        out.json({"provider": name, "configured": values is not None, "settings": values})
    elif values is None:
        out.print(
            f"{name} is not configured yet: aperture-plugins configure {name} --url URL --api-key-stdin"
        )
    else:
        out.print(render.settings_table(name, values))


@cli.command("rotate-key")
@json_option
@click.pass_context
def rotate_key(ctx: click.Context, as_json: bool) -> None:
    """Re-encrypt every stored secret under a new master key (no moment without a readable key)."""
    count = admin.rotate_master_key(_host(ctx))
    message = f"Re-encrypted {count} secret(s) under a new master key. Back up the new key file."
    if as_json:
        Output(True).json({"rotated": count, "message": message})
    else:
        Output(False).print(message)


@cli.command()
@json_option
@click.pass_context
def diagnostics(ctx: click.Context, as_json: bool) -> None:
    """Versions, providers, settings and last errors for a bug report; secrets redacted."""
    document = admin.diagnostics(_host(ctx))
    if as_json:
        Output(True).json(document)
    else:
        Output(False).console.print_json(data=document)


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the fake server running afterwards (until Ctrl-C).")
@json_option
def demo(keep: bool, as_json: bool) -> None:
    """The whole Request Flow against an embedded fake Jellyseerr: configure, map, Discovery,
    request, approve, download, available. Deterministic; cleans up after itself."""
    from .demo import run_demo

    console = Console(stderr=as_json, highlight=False)
    record = asyncio.run(run_demo(console, keep=keep))
    if as_json:
        Output(True).json(
            {
                "server_url": record.server_url,
                "states": [{"item": item, "state": state.value} for item, state in record.states],
                "events": [change.to_dict() for change in record.events],
            }
        )


class UserParam(click.ParamType):
    """``NAME`` or ``NAME=MEDIA_SERVER_ID`` for ``--user``."""

    name = "NAME[=MEDIA_SERVER_ID]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> ApertureUser:
        if isinstance(value, ApertureUser):
            return value
        name, _, server_id = str(value).partition("=")
        if not name.strip():
            self.fail("give a user name, e.g. --user alice or --user alice=4f2a…", param, ctx)
        return ApertureUser(name.strip(), media_server_id=server_id.strip() or None)


def _known_users(host: PluginHost) -> list[ApertureUser]:
    """Users worth listing when none are named: the manual map and the tracked requests."""
    names: dict[str, ApertureUser] = {}
    provider = host.active_provider().name
    stored = host.settings.get(provider) or {}
    for name in stored.get("user_map") or {}:
        names.setdefault(name, ApertureUser(name))
    tracked = getattr(host.settings, "tracked", None)
    for _, request in tracked(provider) if tracked else []:
        names.setdefault(request.user.name, request.user)
    return list(names.values())


@cli.command()
@click.option("--user", "users", multiple=True, type=UserParam(), help="An Aperture user (repeatable).")
@json_option
@click.pass_context
def users(ctx: click.Context, users: tuple[ApertureUser, ...], as_json: bool) -> None:
    """Who each Aperture user acts as on the server, and what they may request.

    Without --user: the users of the manual map and of tracked requests."""
    host = _host(ctx)
    chosen = list(users) or _known_users(host)

    async def run() -> list[Any]:
        async with host:
            return await host.map_users(chosen)

    mappings = asyncio.run(run()) if chosen else []
    out = Output(as_json)
    if as_json:
        out.json([m.to_dict() for m in mappings])
    elif not mappings:
        out.print("No users to show: name some with --user NAME (or NAME=MEDIA_SERVER_ID).")
    else:
        out.print(render.mappings_table(mappings))


@cli.command("map")
@click.argument("aperture_user")
@click.argument("server_user")
@json_option
@click.pass_context
def map_command(ctx: click.Context, aperture_user: str, server_user: str, as_json: bool) -> None:
    """Map APERTURE_USER by hand to SERVER_USER (an id, username or email), checked on the server."""
    host = _host(ctx)

    async def run() -> Any:
        async with host:
            return await admin.map_user(host, ApertureUser(aperture_user), server_user)

    mapping = asyncio.run(run())
    if as_json:
        Output(True).json(mapping.to_dict())
    else:
        Output(False).print(f"{aperture_user} now acts as {mapping.account_name} (id {mapping.account_id}).")


@cli.command()
@click.argument("aperture_user")
@json_option
@click.pass_context
def unmap(ctx: click.Context, aperture_user: str, as_json: bool) -> None:
    """Remove APERTURE_USER's manual mapping (automatic matching applies again)."""
    removed = admin.unmap_user(_host(ctx), aperture_user)
    message = (
        f"{aperture_user}: manual mapping removed" if removed else f"{aperture_user} had no manual mapping"
    )
    if as_json:
        Output(True).json({"user": aperture_user, "removed": removed, "message": message})
    else:
        Output(False).print(message)


def _seasons(value: str | None) -> Any:
    if value is None or value.strip().lower() == "all":
        return "all"
    try:
        numbers = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("use all, or season numbers like 1,2,3", param_hint="--seasons") from None
    if not numbers or any(n < 0 for n in numbers):
        raise click.BadParameter("use all, or season numbers like 1,2,3", param_hint="--seasons")
    return numbers


@cli.command()
@click.argument("item", type=MediaRefParam())
@click.option("--user", "user", required=True, type=UserParam(), help="Request on behalf of this user.")
@click.option("--seasons", help="TV only: all (default) or a list like 1,2,3.")
@click.option("--4k/--no-4k", "is_4k", default=None, help="Request in 4K (default: the provider's setting).")
@json_option
@click.pass_context
def request(
    ctx: click.Context,
    item: MediaRef,
    user: ApertureUser,
    seasons: str | None,
    is_4k: bool | None,
    as_json: bool,
) -> None:
    """File a request for ITEM as USER; it is tracked for `watch`.

    If USER already requested ITEM (every season asked for, for TV), that request is shown and
    tracked ("already requested by you", exit 0). If another user did, or it is in the library,
    nothing is filed or tracked: the error names who requested it and its state (exit 6)."""
    host = _host(ctx)
    options = RequestOptions(seasons=_seasons(seasons), is_4k=is_4k)

    async def run() -> Any:
        async with host:
            return await host.submit_request(item, user, options)

    result = asyncio.run(run())
    if as_json:
        Output(True).json(result.to_dict())
        return
    line = render.badge(result.state)
    line.append(f"  {item} for {user.name} (request {result.request_id})")
    if result.message:
        line.append(f": {result.message}")
    Output(False).print(line)


@cli.command()
@click.option("--user", "user_name", metavar="NAME", help="Only this user's requests.")
@json_option
@click.pass_context
def requests(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """The tracked requests and their last known states."""
    host = _host(ctx)
    tracked_of = getattr(host.settings, "tracked", None)
    rows = tracked_of(None, user_name) if tracked_of else []
    if as_json:
        Output(True).json([{"provider": provider, **r.to_dict()} for provider, r in rows])
    elif not rows:
        Output(False).print(
            "No tracked requests yet: file one with aperture-plugins request ITEM --user NAME."
        )
    else:
        Output(False).print(render.requests_table(rows))


@cli.command()
@click.option("--once", is_flag=True, help="One polling cycle, then exit.")
@click.option(
    "--interval", type=click.FloatRange(min=1), default=60.0, show_default=True, help="Seconds between polls."
)
@json_option
@click.pass_context
def watch(ctx: click.Context, once: bool, interval: float, as_json: bool) -> None:
    """Poll the tracked requests and print each status change (progress bars on a terminal).

    Stops when no unfinished request is left, after --once, or on Ctrl-C. With --json, one
    document listing every change is printed at the end. One process polls at a time (the
    poll lease in the store): next to a running Aperture, watch shows what Aperture finds."""
    from .watching import watch_requests

    console = Console(stderr=as_json, highlight=False)
    changes = asyncio.run(watch_requests(_host(ctx), console, once=once, interval=interval))
    if as_json:
        Output(True).json([change.to_dict() for change in changes])


@cli.group()
def webhook() -> None:
    """Let the request server push its changes to Aperture (its Webhook notification agent)."""


provider_option = click.option(
    "--provider", "provider_name", metavar="NAME", help="The provider (default: the active one)."
)


def _webhook_provider(host: PluginHost, name: str | None) -> str:
    return name or host.active_provider().name


def _print_webhook(report: webhook_admin.WebhookReport, as_json: bool) -> None:
    if as_json:
        Output(True).json(report.to_dict())
    else:
        Output(False).print(render.webhook_report(report.to_dict()))


@webhook.command("install")
@click.option(
    "--public-url",
    default=webhook_admin.DEFAULT_PUBLIC_URL,
    show_default=True,
    help="Where the request server reaches Aperture's `serve` (Aperture adds /webhooks/<provider>).",
)
@click.option("--replace", is_flag=True, help="Replace a webhook that goes to another receiver.")
@provider_option
@json_option
@click.pass_context
def webhook_install(
    ctx: click.Context, public_url: str, replace: bool, provider_name: str | None, as_json: bool
) -> None:
    """Set the server's webhook to Aperture, then check that its test notification arrives.

    Reads the server's webhook first: if it already goes to another URL, nothing is changed
    and the URL is shown (exit 6) unless --replace is given."""
    host = _host(ctx)
    name = _webhook_provider(host, provider_name)
    report = asyncio.run(webhook_admin.install(host, name, public_url, replace=replace))
    _print_webhook(report, as_json)


@webhook.command("status")
@provider_option
@json_option
@click.pass_context
def webhook_status(ctx: click.Context, provider_name: str | None, as_json: bool) -> None:
    """Is the server pushing to Aperture? The last push and test received; pushes missing."""
    host = _host(ctx)
    report = asyncio.run(webhook_admin.status(host, _webhook_provider(host, provider_name)))
    _print_webhook(report, as_json)


@webhook.command("remove")
@provider_option
@json_option
@click.pass_context
def webhook_remove(ctx: click.Context, provider_name: str | None, as_json: bool) -> None:
    """Switch off Aperture's webhook on the server (a webhook to another receiver is left alone)."""
    host = _host(ctx)
    report = asyncio.run(webhook_admin.remove(host, _webhook_provider(host, provider_name)))
    _print_webhook(report, as_json)


@cli.command()
@click.option("--host", "address", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: a free port."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds between polls of the tracked requests (beside the pushes).",
)
@json_option
@click.pass_context
def serve(ctx: click.Context, address: str, port: int, poll_interval: float, as_json: bool) -> None:
    """Serve webhooks, /events, /api, /healthz and /metrics, and poll beside them, until Ctrl-C.

    /api and /events need a bearer token (token create, or APERTURE_API_TOKEN); a non-loopback
    --host without one is refused (exit 2)."""
    from . import serve as serving

    errors = Console(stderr=True, highlight=False)
    url = serving.serve(
        _host(ctx),
        address=address,
        port=port,
        poll_interval=poll_interval,
        announce=lambda url: errors.print(
            f"Serving on {url} (webhooks at {url}/webhooks/<provider>); Ctrl-C stops", soft_wrap=True
        ),
    )
    if as_json:
        Output(True).json({"served": url, "stopped": True})
    else:
        errors.print("Stopped.")


@cli.group()
def token() -> None:
    """Bearer tokens for serve's /api and /events (only their hashes are stored)."""


@token.command("create")
@click.option("--label", default="", help="What the token is for (shown by token list).")
@json_option
@click.pass_context
def token_create(ctx: click.Context, label: str, as_json: bool) -> None:
    """Make a token and print it once, alone on stdout: it cannot be shown again."""
    made = tokens.create(_host(ctx), label)
    if as_json:
        Output(True).json(made)
        return
    sys.stdout.write(made["token"] + "\n")
    Console(stderr=True, highlight=False).print(
        f"API token {made['id']} made. It is shown only now: give it to the front end "
        "(Authorization: Bearer <token>); revoke it with aperture-plugins token revoke ID."
    )


@token.command("list")
@json_option
@click.pass_context
def token_list(ctx: click.Context, as_json: bool) -> None:
    """The stored tokens: id, label, when made (never the tokens themselves)."""
    rows = tokens.listed(_host(ctx))
    if as_json:
        Output(True).json(rows)
    elif not rows:
        Output(False).print("No API tokens yet: make one with aperture-plugins token create.")
    else:
        Output(False).print(tokens.tokens_table(rows))


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str, as_json: bool) -> None:
    """Delete the token with this id (see token list): it stops working at once."""
    result = tokens.revoke(_host(ctx), token_id)
    if as_json:
        Output(True).json(result)
    else:
        Output(False).print(f"Revoked API token {result['revoked']}.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script passes it to ``sys.exit``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    errors = Console(stderr=True, highlight=False)
    try:
        result = cli.main(args=args, prog_name="aperture-plugins", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.Abort:
        errors.print("Aborted.")
        return 1
    except click.UsageError as error:
        return _report(as_json, errors, "bad_input", error.format_message(), [], EXIT_BAD_INPUT)
    except ApertureError as error:
        if as_json:
            sys.stdout.write(json.dumps(error.to_dict(), indent=2, ensure_ascii=False) + "\n")
        else:
            render.print_error(errors, error)
        return exit_code_for(error)
    except Exception as error:  # a bug: still one JSON document and a documented exit code
        log.debug("Unexpected error", exc_info=True)
        return _report(
            as_json,
            errors,
            "internal_error",
            f"Unexpected error: {type(error).__name__}: {error}",
            [
                "Run the command again with -vv to see where it happened",
                "Report it with the output of: aperture-plugins diagnostics --json",
            ],
            EXIT_UNEXPECTED_ERROR,
        )
    return result if isinstance(result, int) else EXIT_OK


def _report(as_json: bool, errors: Console, code: str, message: str, hints: list[str], status: int) -> int:
    one_line = " ".join(message.split())
    if as_json:
        sys.stdout.write(json.dumps({"error": code, "message": one_line, "hints": hints}) + "\n")
    else:
        render.print_error(errors, one_line)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

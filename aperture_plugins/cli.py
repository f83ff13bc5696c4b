"""The ``aperture-plugins`` command: the admin's view of the request-provider layer.

Every command takes ``--json`` and then prints exactly one JSON document on stdout (errors
too: ``{"error": CODE, "message": …, "hints": […]}``); logs and warnings go to stderr.

Exit codes:

===  ====================================================================
0    done
2    bad input or settings (unknown provider, malformed ITEM, invalid config)
3    cannot connect to the request server
4    unauthorized (the API key was refused)
5    unexpected answer from the server, or a plugin bug
6    refused by the server (permission, quota, duplicate, blocklisted)
===  ====================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console

from aperture_hookspecs import (
    ApertureError,
    ApertureUser,
    CannotConnectError,
    MediaRef,
    ProviderContractError,
    RequestRefusedError,
    UnauthorizedError,
    UnexpectedResponseError,
)

from . import __version__, render
from .host import PluginHost
from .paths import DATA_DIR_ENV

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CANNOT_CONNECT = 3
EXIT_UNAUTHORIZED = 4
EXIT_UNEXPECTED = 5
EXIT_REFUSED = 6

DEMO_ITEMS = ("movie:603", "tv:1399", "movie:27205", "tv:94997")


def exit_code_for(error: ApertureError) -> int:
    """The documented exit code for an error."""
    if isinstance(error, CannotConnectError):
        return EXIT_CANNOT_CONNECT
    if isinstance(error, UnauthorizedError):
        return EXIT_UNAUTHORIZED
    if isinstance(error, UnexpectedResponseError | ProviderContractError):
        return EXIT_UNEXPECTED
    if isinstance(error, RequestRefusedError):
        return EXIT_REFUSED
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
    """Request providers for Aperture: list, enable and choose them; look titles up."""
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
    provider = host.active_provider()
    out = Output(as_json)
    if as_json:
        out.json([{**answer.to_dict(), "provider": provider.name} for answer in answers])
        return
    title = provider.info.title if provider.info else provider.name
    out.print(render.availability_table(title, user_name, answers))


async def _lookup(host: PluginHost, items: list[MediaRef], user: ApertureUser | None) -> list[Any]:
    async with host:
        return await host.lookup(items, user)


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the embedded demo in a temporary data directory: providers, then Discovery badges."""
    out = Output(False)
    with tempfile.TemporaryDirectory(prefix="aperture-demo-") as data_dir:
        host = PluginHost(data_dir).load()
        out.print("[bold]Aperture request providers[/] – demo in a temporary data directory:")
        out.print(data_dir, soft_wrap=True)
        out.print(render.providers_table(host.providers()))
        if host.broken:
            out.print(render.broken_table(host.broken))
        items = [MediaRef.parse(text) for text in DEMO_ITEMS]
        provider = host.active_provider()
        title = provider.info.title if provider.info else provider.name
        for user in (None, ApertureUser("alice")):
            answers = asyncio.run(_lookup(host, items, user))
            out.print(render.availability_table(title, user.name if user else None, answers))
        out.print(
            "\nNo request provider is configured, so every card is Not Available and Discovery still "
            "works. Make one active with: aperture-plugins use jellyseerr"
        )


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

"""How the CLI shows things to a person: rich tables with badges in the seed's colours.

Only presentation lives here; every table has a ``--json`` twin built from the types'
``to_dict()`` in :mod:`aperture_plugins.cli`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aperture_hookspecs import (
    AccountMapping,
    ApertureError,
    Availability,
    ConnectionReport,
    RequestState,
    Severity,
    TrackedRequest,
)

from .host import ProviderStatus
from .loading import BrokenPlugin, PluginRecord

BADGE_STYLES = {
    "blue": "bold white on blue",
    "yellow": "bold black on yellow",
    "green": "bold black on green",
    "orange": "bold black on dark_orange",
    "purple": "bold white on purple",
    "red": "bold white on red",
    "grey": "bold white on grey39",
}


def badge(state: RequestState) -> Text:
    """The state's label as a coloured badge."""
    return Text(f" {state.label} ", style=BADGE_STYLES.get(state.color, "bold"))


def yes_no(value: bool) -> Text:
    return Text("yes", style="green") if value else Text("no", style="dim")


def providers_table(statuses: Sequence[ProviderStatus]) -> Table:
    table = Table(title="Request providers", title_justify="left")
    for column in ("name", "title", "version", "origin", "enabled", "active"):
        table.add_column(column)
    for status in statuses:
        info = status.record.info
        assert info is not None
        table.add_row(
            Text(status.record.name, style="bold"),
            info.title,
            info.version,
            status.record.origin,
            yes_no(status.enabled),
            Text("● active", style="bold green") if status.active else Text(""),
        )
    return table


def observers_table(records: Sequence[PluginRecord], enabled: dict[str, bool]) -> Table:
    table = Table(title="Other plugins (observers, wrappers)", title_justify="left")
    for column in ("name", "version", "origin", "enabled", "hooks"):
        table.add_column(column)
    for record in records:
        table.add_row(
            record.name,
            record.version or "",
            record.origin,
            yes_no(enabled[record.name]),
            ", ".join(record.hooks),
        )
    return table


def broken_table(broken: Sequence[BrokenPlugin]) -> Table:
    table = Table(title="Skipped plugins (they failed to load)", title_justify="left", style="red")
    for column in ("name", "origin", "stage", "reason"):
        table.add_column(column)
    for plugin in broken:
        table.add_row(plugin.name, plugin.origin, plugin.stage, plugin.error)
    return table


def availability_table(
    provider_title: str,
    user: str | None,
    answers: Sequence[Availability],
    names: Mapping[tuple[str, int], str] | None = None,
) -> Table:
    """Discovery badges; ``names`` maps ``(media_type, tmdb_id)`` to a title to show beside the id."""
    who = f"for {user}" if user else "for a guest"
    table = Table(title=f"Discovery badges from {provider_title} {who}", title_justify="left")
    for column in ("title", "badge", "request?", "reason"):
        table.add_column(column)
    for answer in answers:
        reason = answer.reason or ""
        if answer.progress and answer.progress.fraction is not None:
            reason = f"{answer.progress.fraction:.0%} downloaded" + (f"; {reason}" if reason else "")
        if answer.requestable_seasons:
            seasons = ", ".join(str(n) for n in answer.requestable_seasons)
            reason += f"{'; ' if reason else ''}seasons {seasons} may be requested"
        name = (names or {}).get((answer.item.media_type.value, answer.item.tmdb_id))
        label = f"{name} ({answer.item})" if name else str(answer.item)
        table.add_row(label, badge(answer.state), yes_no(answer.can_request), reason)
    return table


def mappings_table(mappings: Sequence[AccountMapping]) -> Table:
    """The user-mapping table: who acts as whom, how matched, what they may do, problems."""
    table = Table(title="User mapping", title_justify="left")
    for column in (
        "Aperture user",
        "server user",
        "matched by",
        "movie",
        "TV",
        "4K",
        "auto-approve",
        "quota",
        "problems",
    ):
        table.add_column(column)
    for m in mappings:
        account = f"{m.account_name} (id {m.account_id})" if m.mapped else Text("not mapped", style="red")
        table.add_row(
            m.user.name,
            account,
            m.method or "",
            yes_no(m.may_request_movie),
            yes_no(m.may_request_tv),
            yes_no(m.may_request_4k),
            yes_no(m.auto_approve),
            m.quota or "",
            Text("; ".join(m.problems), style="yellow") if m.problems else "",
        )
    return table


def print_error(console: Console, error: ApertureError | str) -> None:
    """One line on the error console: what happened and what to do."""
    console.print(Text(f"Error: {error}", style="bold red"), soft_wrap=True, highlight=False)


def connection_report(report: ConnectionReport) -> Text:
    """A connection report as a few lines: who answered, then each problem with its hints."""
    text = Text()
    if report.product:
        text.append(f"{report.product} {report.version or ''}".rstrip(), style="bold")
        if report.acting_user:
            admin = "admin" if report.is_admin else "not an admin"
            text.append(f" — the API key acts as {report.acting_user}, {admin}")
        text.append("\n")
    for problem in report.problems:
        error = problem.severity == Severity.ERROR
        text.append("✗ " if error else "! ", style="bold red" if error else "bold yellow")
        text.append(problem.message + "\n")
        for hint in problem.hints:
            text.append(f"    → {hint}\n", style="dim")
    text.append(
        "Connection OK" if report.ok else "Connection test failed",
        style="bold green" if report.ok else "bold red",
    )
    return text


def settings_table(name: str, values: dict[str, object]) -> Table:
    table = Table(title=f"Settings of {name} (secrets masked)", title_justify="left")
    table.add_column("setting")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(key, str(value))
    return table


def requests_table(rows: Sequence[tuple[str, TrackedRequest]]) -> Table:
    """Tracked requests: provider, id, title, user, badge, progress."""
    table = Table(title="Tracked requests", title_justify="left")
    for column in ("provider", "request", "title", "user", "state", "progress"):
        table.add_column(column)
    for provider, request in rows:
        progress = ""
        if request.progress and request.progress.fraction is not None:
            progress = f"{request.progress.fraction:.0%}"
        table.add_row(
            provider, request.request_id, str(request.item), request.user.name, badge(request.state), progress
        )
    return table


def webhook_report(report: Mapping[str, object]) -> Text:
    """``webhook install|status|remove`` for a person: where the server pushes, what arrived."""
    text = Text()
    server = report.get("server")
    configured = bool(report.get("configured"))
    text.append("✓ " if configured else "✗ ", style="bold green" if configured else "bold red")
    text.append(f"{report['provider']}: ")
    if isinstance(server, Mapping):
        url = server.get("url") or "nowhere"
        state = "on" if server.get("enabled") else "off"
        text.append(f"the server's webhook is {state} and goes to {url}\n")
    else:
        text.append("the server's webhook could not be read\n")
    for label, key in (
        ("last push", "last_push"),
        ("last test", "last_test"),
        ("last refused", "last_refused"),
    ):
        receipt = report.get(key)
        if isinstance(receipt, Mapping):
            text.append(f"  {label}: {receipt['at']} ({receipt['detail']}, {receipt['count']} in all)\n")
        else:
            text.append(f"  {label}: none\n", style="dim")
    if report.get("test_received") is True:
        text.append("  the server's test notification reached Aperture\n", style="green")
    if report.get("pushes_missing"):
        text.append("  ! pushes are missing\n", style="bold yellow")
    messages = report.get("messages")
    for message in messages if isinstance(messages, list) else ():
        text.append(f"  → {message}\n", style="dim")
    return text

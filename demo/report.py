"""The day's quality figures (feedback's GET /v1/quality-figures) as rich tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from demo.day import Tally


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} / 10"


def figures_table(figures: dict[str, Any], *, keys: Iterable[str], names: dict[str, str]) -> Table:
    """One row per technician of this run, then `all`: the sum of their rows (`Day.figures`),
    never anyone else's work."""
    wanted = set(keys)
    table = Table(
        title=f"Quality figures {figures.get('start')} – {figures.get('end')}",
        title_style="bold",
    )
    table.add_column("Technician")
    for column in (
        "Arrivals",
        "On-time rate",
        "First-time fix",
        "Repeat visits",
        "Satisfaction",
        "Call-backs",
        "Complaints",
    ):
        table.add_column(column, justify="right")
    for row in figures.get("rows", []):
        if row["key"] not in wanted and row["key"] != "all":
            continue
        satisfaction = row["satisfaction"]
        label = "All" if row["key"] == "all" else names.get(row["key"], row["key"])
        complaints = row["complaints_by_class"]
        total = sum(complaints.values())
        by_class = " ".join(f"{k}:{v}" for k, v in complaints.items() if v and k != "none")
        table.add_row(
            f"[bold]{label}[/]" if row["key"] == "all" else label,
            str(row["arrivals"]),
            _rate(row["on_time_rate"]),
            _rate(row["first_time_fix_rate"]),
            _rate(row["repeat_visit_rate"]),
            _score(satisfaction["overall"]),
            str(satisfaction["surveys"]),
            f"{total} ({by_class})" if by_class else str(total),
        )
    return table


def day_table(tally: Tally) -> Table:
    """What the simulation did."""
    table = Table(title="The day", title_style="bold", show_header=False)
    table.add_column("What")
    table.add_column("How many", justify="right")
    for label, value in (
        ("Orders taken (+ linked duplicate reports)", f"{tally.orders} (+{tally.duplicates})"),
        ("Visits (arrivals)", str(tally.arrivals)),
        ("Late arrivals predicted by ETA pings", str(tally.late_predicted)),
        (
            "Times moved on the call (technician busy or too far, SCH-3)",
            str(tally.times_moved_on_call),
        ),
        ("Quotes accepted / declined", f"{tally.quotes_accepted} / {tally.quotes_declined}"),
        ("Customers not home", str(tally.not_home)),
        ("Units taken back (loaner lent)", str(tally.take_backs)),
        ("Revisits", str(tally.revisits)),
        ("Call-backs (dissatisfied)", f"{tally.call_backs} ({tally.dissatisfied})"),
        ("Complaints filed", str(tally.complaints)),
    ):
        table.add_row(label, value)
    return table

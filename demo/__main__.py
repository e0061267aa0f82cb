"""`python -m demo`: simulate a service day against the running platform (`make demo`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from demo.api import SERVICES, START_HINT, DemoError, NotRunning, Platform, urls_from_env
from demo.day import BUSINESS_TZ, Day
from demo.plan import Kind, make_plan
from demo.report import day_table, figures_table


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Simulate a service day through the public REST APIs of the running "
        "platform (`make run`) and print the day's quality figures.",
    )
    parser.add_argument("--seed", type=int, default=7, help="the day's plan (default 7)")
    parser.add_argument("--orders", type=int, default=24, help="orders taken (default 24)")
    parser.add_argument("--technicians", type=int, default=4, help="technicians (default 4)")
    parser.add_argument("--workers", type=int, default=4, help="orders worked at once")
    parser.add_argument(
        "--admin-key",
        default=os.environ.get("FSM_BOOTSTRAP_API_KEY"),
        help="admin key (default: $FSM_BOOTSTRAP_API_KEY)",
    )
    for name in SERVICES:
        parser.add_argument(
            f"--{name}-url",
            default=None,
            help=f"{name}'s base URL (default: $FSM_DEMO_{name.upper()}_URL or the make-run port)",
        )
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    if not 1 <= args.technicians <= 8:
        parser.error("--technicians must be 1..8")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the day; 0 when every step worked, 1 when one did not, 2 when the platform is down."""
    args = parse_args(argv)
    console = Console()
    if not args.admin_key:
        console.print(f"[red]No admin key:[/] {START_HINT}.")
        return 2
    urls = urls_from_env()
    for name in SERVICES:
        given = getattr(args, f"{name}_url")
        if given:
            urls[name] = given.rstrip("/")
    platform = Platform(urls, args.admin_key)
    today = datetime.now(UTC).astimezone(BUSINESS_TZ).date()
    plan = make_plan(seed=args.seed, orders=args.orders, technicians=args.technicians, today=today)
    started = time.monotonic()
    try:
        platform.check()
        day = Day(platform, plan, workers=args.workers)
        kinds = ", ".join(f"{plan.count(k)} {k.value}" for k in Kind if plan.count(k))
        console.print(f"[bold]Demo day[/] seed {plan.seed}: {len(plan.orders)} orders ({kinds})")
        steps = len(plan.technicians) + 2 + len(plan.orders) * 2 + 2
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("setting up", total=steps)

            def step(message: str) -> None:
                progress.update(task, advance=1, description=message)

            day.step = step
            day.set_up()
            day.take_orders()
            day.run_orders()
            day.file_complaint()
            progress.update(task, description="waiting for feedback's figures")
            figures = day.figures()
            progress.update(task, completed=steps, description="day done")
    except NotRunning as exc:
        console.print(f"[red]The platform is not running:[/] {exc}")
        return 2
    except DemoError as exc:
        console.print(f"[red]The day stopped:[/] {exc}")
        return 1
    finally:
        platform.close()
    names = {t.technician_id: f"{t.name} ({t.technician_id})" for t in day.plan.technicians}
    console.print(day_table(day.tally))
    console.print(figures_table(figures, keys=day.keys, names=names))
    console.print(f"Simulated in {time.monotonic() - started:.1f} s.")
    if day.tally.problems:
        console.print("[red]Steps that did not work:[/]")
        for problem in day.tally.problems:
            console.print(f"  - {problem}", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

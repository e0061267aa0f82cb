"""``fsm``: run, serve, migrate and prepare topics for the platform."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from contracts.topics import ALL_TOPICS
from fsm.services import SERVICE_NAMES, build, settings_for
from servicekit.embedded import EmbeddedBroker, _port_open
from servicekit.kafka import ensure_topics
from servicekit.logging import configure_logging
from servicekit.outbox import pending_count
from servicekit.runtime import ServiceRuntime

app = typer.Typer(
    help="On-site service platform: intake, scheduling, fieldwork, billing, feedback."
)

ServicesOpt = Annotated[
    list[str] | None, typer.Argument(help="Services (default: all five).", show_default=False)
]


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``fsm run`` (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _configure() -> None:
    if "FSM_POLICY_FILE" not in os.environ and Path("policy.yaml").is_file():
        os.environ["FSM_POLICY_FILE"] = str(Path("policy.yaml").resolve())
    configure_logging(
        level=os.environ.get("FSM_LOG_LEVEL", "INFO"),
        json=os.environ.get("FSM_LOG_JSON", "true").lower() in ("1", "true", "yes"),
    )


def _selected(services: list[str] | None) -> list[str]:
    chosen = services or list(SERVICE_NAMES)
    unknown = [s for s in chosen if s not in SERVICE_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(unknown)}")
    return chosen


@app.command()
def migrate(services: ServicesOpt = None) -> None:
    """Bring each service's database schema up to date (Alembic)."""
    _configure()

    async def _run() -> None:
        for name in _selected(services):
            runtime = build(name)
            try:
                await runtime.migrate()
            finally:
                await runtime.engine.dispose()
            typer.echo(f"{name}: migrated {runtime.settings.resolved_database_url}")

    asyncio.run(_run())


@app.command()
def topics() -> None:
    """Create the event topics and their dead-letter topics if missing."""
    _configure()
    created = asyncio.run(ensure_topics(settings_for("intake").kafka, ALL_TOPICS))
    typer.echo(f"created: {', '.join(created) or 'none (all existed)'}")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run.")],
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate")] = True,
) -> None:
    """Run one service (HTTP API, consumer and outbox relay) in this process."""
    _configure()
    name = _selected([service])[0]

    async def _run() -> None:
        runtime = build(name)
        if migrate_first:
            await runtime.migrate()
        await _ensure_topics_with_retry(runtime)
        server = uvicorn.Server(_uvicorn_config(runtime))
        await server.serve()

    run_event_loop(_run())


@app.command()
def makemigration(
    service: Annotated[str, typer.Argument(help="The service whose models changed.")],
    message: Annotated[str, typer.Argument(help="What the migration does.")],
) -> None:
    """Generate an Alembic revision from the difference between models and migrations."""
    from servicekit.migrations import autogenerate

    runtime = build(_selected([service])[0])
    asyncio.run(autogenerate(runtime.spec.migrations_dir, message))


@app.command()
def run(
    separate_processes: Annotated[
        bool, typer.Option(help="One OS process per service instead of one for all.")
    ] = False,
    broker_port: Annotated[int, typer.Option(help="Port of the embedded broker.")] = 9092,
) -> None:
    """Start everything: the embedded broker (unless FSM_KAFKA_BOOTSTRAP is set), topics,
    migrations and the five services. Ctrl-C stops it all."""
    _configure()
    broker: EmbeddedBroker | None = None
    if not os.environ.get("FSM_KAFKA_BOOTSTRAP"):
        if _port_open(broker_port):
            raise typer.BadParameter(
                f"port {broker_port} is taken: pass --broker-port or set FSM_KAFKA_BOOTSTRAP",
                param_hint="--broker-port",
            )
        data_dir = Path(os.environ.get("FSM_DATA_DIR", "var"))
        broker = EmbeddedBroker(broker_port, log_file=data_dir / "broker.log")
        broker.start()
        os.environ["FSM_KAFKA_BOOTSTRAP"] = broker.bootstrap
        for name, value in EmbeddedBroker.CLIENT_DEFAULTS.items():
            os.environ.setdefault(name, value)
        typer.echo(f"embedded broker (Tansu, memory storage) on {broker.bootstrap}")
    try:
        if separate_processes:
            _run_processes()
        else:
            run_event_loop(_run_in_process())
    finally:
        if broker is not None:
            broker.stop()
            typer.echo("embedded broker stopped")


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed, as uvicorn's ``auto`` loop would: the
    services serve HTTP, PostgreSQL and Kafka from one loop, and uvloop's is the faster one."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, which uvloop does not support
        asyncio.run(main)
        return
    uvloop.run(main)


def _uvicorn_config(runtime: ServiceRuntime) -> uvicorn.Config:
    return uvicorn.Config(
        runtime.app,
        host=runtime.settings.host,
        port=runtime.settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


async def _ensure_topics_with_retry(runtime: ServiceRuntime, attempts: int = 30) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await ensure_topics(runtime.settings.kafka, ALL_TOPICS)
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            typer.echo(f"waiting for the broker ({exc!r})", err=True)
            await asyncio.sleep(1)


def _banner(runtimes: list[ServiceRuntime]) -> None:
    lines = ["", "services:"]
    for rt in runtimes:
        lines.append(
            f"  {rt.spec.name:<11} http://{rt.settings.host}:{rt.settings.port}  "
            f"(docs: /docs, health: /healthz /readyz, db: {rt.settings.resolved_database_url})"
        )
    if os.environ.get("FSM_BOOTSTRAP_API_KEY"):
        lines.append(
            "API key: use FSM_BOOTSTRAP_API_KEY as 'Authorization: Bearer <key>' "
            "(admin); issue others with POST /v1/api-keys on intake."
        )
    else:
        lines.append(
            "API key: none set. Stop, `export FSM_BOOTSTRAP_API_KEY=<16+ chars>` and "
            "run again; without a key every /v1 route answers 401."
        )
    lines.append("Ctrl-C stops everything.")
    typer.echo("\n".join(lines))


async def _run_in_process() -> None:
    runtimes = [build(name) for name in SERVICE_NAMES]
    for runtime in runtimes:
        await runtime.migrate()
    await _ensure_topics_with_retry(runtimes[0])
    servers = [_QuietServer(_uvicorn_config(rt)) for rt in runtimes]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    _banner(runtimes)
    done_waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([done_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    typer.echo("stopping: letting the outboxes drain...")
    await _drain(runtimes, within=5.0)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    done_waiter.cancel()


async def _drain(runtimes: list[ServiceRuntime], *, within: float) -> None:
    # The embedded broker keeps messages in memory only: publish what is pending and give the
    # consumers a moment before it goes away, so a restart loses nothing in flight.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        counts = [await pending_count(rt.session_factory) for rt in runtimes]
        if not any(counts):
            await asyncio.sleep(0.5)
            return
        await asyncio.sleep(0.1)


def _run_processes() -> None:
    processes = {
        name: subprocess.Popen([sys.executable, "-m", "fsm", "serve", name])
        for name in SERVICE_NAMES
    }
    typer.echo("started: " + ", ".join(f"{n} (pid {p.pid})" for n, p in processes.items()))
    try:
        while all(p.poll() is None for p in processes.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                next(iter(processes.values())).wait(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    app()

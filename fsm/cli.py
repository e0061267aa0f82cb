"""``fsm``: run, serve, migrate and prepare topics for the platform.

A start refused for a reason the operator can fix prints one line per problem, naming the
environment variable or the policy file and key, and exits with :data:`EXIT_CONFIG` (2: a setting
or the policy file is wrong, or a service's port is in use: its setting names one it cannot
have) or :data:`EXIT_UNAVAILABLE` (3: the database or the broker cannot be reached). Any other
failure is a bug and keeps its traceback (exit 1); with ``FSM_LOG_LEVEL=DEBUG`` a refused start
prints its traceback too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import structlog
import typer
import uvicorn
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from contracts.topics import ALL_TOPICS
from fsm.services import SERVICE_NAMES, bootstrap_for, settings_class_for, settings_for
from servicekit.db import ping
from servicekit.embedded import EmbeddedBroker, _port_open
from servicekit.kafka import ensure_topics
from servicekit.logging import configure_logging, service_context
from servicekit.outbox import pending_count
from servicekit.policy import PolicyError
from servicekit.runtime import ServiceRuntime
from servicekit.settings import KafkaSettings, ServiceSettings, check_log_level, settings_problems

_log = structlog.get_logger("fsm")

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


EXIT_CONFIG = 2
"""Exit status of a start refused for a wrong setting or policy file (as for a usage error)."""
EXIT_UNAVAILABLE = 3
"""Exit status of a start refused because the database or the broker cannot be reached."""

_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
"""PostgreSQL error classes of a server that cannot serve now (connection failure, too many
connections, starting up or shutting down), as opposed to a wrong database name or login."""


class StartRefused(Exception):
    """A start that cannot go on for a reason the operator can fix: printed as ``lines``."""

    def __init__(self, *lines: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.exit_code = exit_code


@contextlib.contextmanager
def _refusing_with_a_message() -> Iterator[None]:
    """Turn a :class:`StartRefused` into its lines on stderr and its exit status."""
    try:
        yield
    except StartRefused as exc:
        if _debug():
            traceback.print_exception(exc)
        for line in dict.fromkeys(exc.lines):  # once each, in order
            typer.echo(line, err=True)
        raise typer.Exit(exc.exit_code) from None


def _debug() -> bool:
    return os.environ.get("FSM_LOG_LEVEL", "").strip().upper() == "DEBUG"


def _configure() -> None:
    if "FSM_POLICY_FILE" not in os.environ and Path("policy.yaml").is_file():
        os.environ["FSM_POLICY_FILE"] = str(Path("policy.yaml").resolve())
    level = os.environ.get("FSM_LOG_LEVEL", "INFO")
    try:
        level = check_log_level(level)
    except ValueError as exc:
        raise StartRefused(f"FSM_LOG_LEVEL: {exc} (got {level!r})") from exc
    configure_logging(
        level=level,
        json=os.environ.get("FSM_LOG_JSON", "true").lower() in ("1", "true", "yes"),
    )


def _settings(name: str, **overrides: Any) -> ServiceSettings:
    try:
        return settings_for(name, **overrides)
    except ValidationError as exc:
        problems = settings_problems(exc, settings_class_for(name))
        raise StartRefused(*(f"{name}: {line}" for line in problems)) from exc


def _build(name: str, **overrides: Any) -> ServiceRuntime:
    """Service ``name``'s runtime from the environment (plus ``overrides``); a wrong setting or
    policy file raises :class:`StartRefused` naming it."""
    settings = _settings(name, **overrides)
    try:
        return bootstrap_for(name)(settings)
    except PolicyError as exc:
        raise StartRefused(*(f"{name}: {line}" for line in str(exc).splitlines())) from exc
    except OSError as exc:  # e.g. the SQLite folder cannot be created
        raise StartRefused(
            f"{name}: {exc} (check {settings.env_name('data_dir')} / FSM_DATA_DIR)"
        ) from exc


def _listen(runtime: ServiceRuntime) -> socket.socket:
    """The service's listening socket, bound before anything starts (uvicorn binds only after
    the service started, and answers a port in use with a traceback and exit status 3); a port
    in use or not assignable raises :class:`StartRefused` naming the service, port and setting."""
    settings = runtime.settings
    host, port = settings.host, settings.port
    # As uvicorn binds (Config.bind_socket): IPv6 when the host is an IPv6 address.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
        raise StartRefused(
            f"{settings.service_name}: port {port} on {host} {reason}: stop what listens there "
            f"or set {settings.env_name('port')} (and {settings.env_name('host')}) to another",
            exit_code=EXIT_CONFIG,
        ) from exc
    sock.set_inheritable(True)
    return sock


def _listen_all(runtimes: list[ServiceRuntime]) -> list[socket.socket]:
    """Every service's socket (:func:`_listen`), or none: a refusal closes those bound."""
    sockets: list[socket.socket] = []
    try:
        for runtime in runtimes:
            sockets.append(_listen(runtime))
    except StartRefused:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def _check_database(runtime: ServiceRuntime) -> None:
    """Refuse to go on, naming the setting, when the service's database cannot be used."""
    settings = runtime.settings
    url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    setting = (
        settings.env_name("database_url")
        if settings.database_url
        else f"{settings.env_name('database_url')} (unset: SQLite under "
        f"{settings.env_name('data_dir')} / FSM_DATA_DIR)"
    )
    try:
        await ping(runtime.engine)
    except (OSError, TimeoutError) as exc:
        raise StartRefused(
            f"{settings.service_name}: {setting}: cannot reach the database {url}: "
            f"{exc or type(exc).__name__}",
            exit_code=EXIT_UNAVAILABLE,
        ) from exc
    except SQLAlchemyError as exc:
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        busy = str(getattr(detail, "sqlstate", None) or "").startswith(_UNAVAILABLE_SQLSTATES)
        raise StartRefused(
            f"{settings.service_name}: {setting}: the database {url} refused: {detail}",
            exit_code=EXIT_UNAVAILABLE if busy else EXIT_CONFIG,
        ) from exc


def _selected(services: list[str] | None) -> list[str]:
    chosen = services or list(SERVICE_NAMES)
    unknown = [s for s in chosen if s not in SERVICE_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(unknown)}")
    return chosen


@app.command()
def migrate(services: ServicesOpt = None) -> None:
    """Bring each service's database schema up to date (Alembic)."""
    with _refusing_with_a_message():
        _configure()

        async def _run() -> None:
            for name in _selected(services):
                runtime = _build(name)
                try:
                    await _check_database(runtime)
                    await runtime.migrate()
                finally:
                    await runtime.engine.dispose()
                url = make_url(runtime.settings.resolved_database_url)
                typer.echo(f"{name}: migrated {url.render_as_string(hide_password=True)}")

        asyncio.run(_run())


@app.command()
def topics() -> None:
    """Create the event topics and their dead-letter topics if missing."""
    with _refusing_with_a_message():
        _configure()
        kafka = _settings("intake").kafka
        created = asyncio.run(_ensure_topics_with_retry(kafka, attempts=1))
    typer.echo(f"created: {', '.join(created) or 'none (all existed)'}")


@app.command("dead-letters")
def dead_letters(
    services: ServicesOpt = None,
    group: Annotated[
        str | None,
        typer.Option(help="Only what this consumer group gave up on (e.g. fsm-billing)."),
    ] = None,
    redrive: Annotated[
        bool,
        typer.Option(
            "--redrive",
            help="Publish them again to their original topic once the cause is fixed; "
            "services that applied an event already skip it.",
        ),
    ] = False,
) -> None:
    """List the events consumers gave up on (`<topic>.dlt`, the error of each), or re-drive
    them. Dead-letter topics are read, never changed."""
    from fsm.dead_letters import dead_letter_topics, read_dead_letters
    from fsm.dead_letters import redrive as send_again

    with _refusing_with_a_message():
        _configure()
        kafka = _settings("intake").kafka
        letters = asyncio.run(
            _refusing_unreachable_broker(
                kafka, read_dead_letters(kafka, dead_letter_topics(_selected(services)))
            )
        )
        if group is not None:
            letters = [letter for letter in letters if letter.consumer_group == group]
        for letter in letters:
            typer.echo(letter.summary())
        if redrive:
            sent = asyncio.run(_refusing_unreachable_broker(kafka, send_again(kafka, letters)))
            typer.echo(f"re-driven: {sent}")
        else:
            typer.echo(f"dead letters: {len(letters)}")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="The service to run.")],
    migrate_first: Annotated[
        bool,
        typer.Option("--migrate/--no-migrate", help="Bring the database schema up to date first."),
    ] = True,
) -> None:
    """Run one service (HTTP API, consumer and outbox relay) in this process."""
    name = _selected([service])[0]

    async def _run() -> None:
        with service_context(name):
            await _serve(name, migrate_first=migrate_first)

    with _refusing_with_a_message():
        _configure()
        run_event_loop(_run())


async def _serve(name: str, *, migrate_first: bool) -> None:
    """``fsm serve``'s work: one service's start, then serving until it is stopped."""
    runtime = _build(name)
    sock = _listen(runtime)
    try:
        await _check_database(runtime)
        if migrate_first:
            await runtime.migrate()
        await _ensure_topics_with_retry(runtime.settings.kafka)
        server = uvicorn.Server(_uvicorn_config(runtime))
        await server.serve(sockets=[sock])
    finally:
        sock.close()


@app.command("check-policy")
def check_policy(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The policy file (default: FSM_POLICY_FILE, else ./policy.yaml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate a policy file as each service's start would, without starting anything: one
    line per problem (file, key and what is wrong), exit status 2 when there is any."""
    path = file or Path(os.environ.get("FSM_POLICY_FILE") or "policy.yaml")
    if not path.is_file():
        typer.echo(f"policy file {path}: not found (pass FILE or set FSM_POLICY_FILE)", err=True)
        raise typer.Exit(EXIT_CONFIG)
    problems: list[str] = []
    for name in SERVICE_NAMES:
        try:
            # An in-memory database: the check opens, creates and migrates nothing.
            settings = _settings(
                name, policy_file=path, database_url="sqlite+aiosqlite:///:memory:"
            )
            bootstrap_for(name)(settings)
        except StartRefused as exc:
            problems.extend(exc.lines)
        except PolicyError as exc:
            problems.extend(str(exc).splitlines())
        except ValueError as exc:  # a bootstrap's own cross-check of policy and settings
            problems.append(f"{name}: {exc}")
    for line in dict.fromkeys(problems):
        typer.echo(line)
    if problems:
        raise typer.Exit(EXIT_CONFIG)
    typer.echo(f"policy file {path}: ok ({', '.join(SERVICE_NAMES)} and calendar)")


@app.command()
def makemigration(
    service: Annotated[str, typer.Argument(help="The service whose models changed.")],
    message: Annotated[str, typer.Argument(help="What the migration does.")],
) -> None:
    """Generate an Alembic revision from the difference between models and migrations."""
    from servicekit.migrations import autogenerate

    with _refusing_with_a_message():
        runtime = _build(_selected([service])[0])
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
    with _refusing_with_a_message():
        _configure()
        broker: EmbeddedBroker | None = None
        if not os.environ.get("FSM_KAFKA_BOOTSTRAP") and _port_open(broker_port):
            raise typer.BadParameter(
                f"port {broker_port} is taken: pass --broker-port or set FSM_KAFKA_BOOTSTRAP",
                param_hint="--broker-port",
            )
        # From here on SIGTERM stops everything as Ctrl-C does, even while starting.
        signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
        try:
            if not os.environ.get("FSM_KAFKA_BOOTSTRAP"):
                data_dir = Path(os.environ.get("FSM_DATA_DIR", "var"))
                broker = EmbeddedBroker(broker_port, log_file=data_dir / "broker.log")
                broker.start()
                os.environ["FSM_KAFKA_BOOTSTRAP"] = broker.bootstrap
                for name, value in EmbeddedBroker.CLIENT_DEFAULTS.items():
                    os.environ.setdefault(name, value)
                typer.echo(f"embedded broker (Tansu, memory storage) on {broker.bootstrap}")
            if separate_processes:
                _run_processes()
            else:
                run_event_loop(_run_in_process())
        except KeyboardInterrupt:
            typer.echo("stopped while starting")
        finally:
            with _signals_ignored():  # a second Ctrl-C must not leave the broker running
                if broker is not None:
                    broker.stop()
                    typer.echo("embedded broker stopped")


def _sigterm_as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler of ``fsm run``: take the Ctrl-C path (SIGINT's handler), whatever runs
    now, even when SIGINT is ignored (``fsm run &`` in a script)."""
    on_ctrl_c = signal.getsignal(signal.SIGINT)
    if callable(on_ctrl_c):
        on_ctrl_c(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while stopping, so the stop runs to its end."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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


async def _ensure_topics_with_retry(kafka: KafkaSettings, attempts: int = 30) -> list[str]:
    """Create the missing topics, waiting up to ``attempts`` seconds for the broker (it may be
    starting alongside); then refuse to go on, naming FSM_KAFKA_BOOTSTRAP."""
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    try:
        # The client logs each refused connection; the one line below says it once.
        if not _debug():
            kafka_log.setLevel(logging.CRITICAL)
        return await _ensure_topics(kafka, attempts)
    finally:
        kafka_log.setLevel(level)


_BROKER_UNREACHABLE = (KafkaError, OSError, TimeoutError)
_T = TypeVar("_T")


def _broker_unreachable(kafka: KafkaSettings, exc: BaseException, attempts: int) -> StartRefused:
    """The one line (exit status 3) saying the broker cannot be reached, naming its variable."""
    return StartRefused(
        f"FSM_KAFKA_BOOTSTRAP: cannot reach the broker at {kafka.bootstrap} "
        f"(tried {attempts} time(s), 1 s apart): {exc or type(exc).__name__}",
        exit_code=EXIT_UNAVAILABLE,
    )


async def _refusing_unreachable_broker(kafka: KafkaSettings, work: Coroutine[Any, Any, _T]) -> _T:
    """``work`` (one try at the broker), a broker that cannot be reached refused as `fsm
    topics` refuses it: one line naming FSM_KAFKA_BOOTSTRAP, exit status 3."""
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    try:
        if not _debug():
            kafka_log.setLevel(logging.CRITICAL)
        return await work
    except _BROKER_UNREACHABLE as exc:
        raise _broker_unreachable(kafka, exc, attempts=1) from exc
    finally:
        kafka_log.setLevel(level)


async def _ensure_topics(kafka: KafkaSettings, attempts: int) -> list[str]:
    for attempt in range(1, attempts + 1):
        try:
            return await ensure_topics(kafka, ALL_TOPICS)
        except _BROKER_UNREACHABLE as exc:
            if attempt == attempts:
                raise _broker_unreachable(kafka, exc, attempts) from exc
            if attempt == 1:
                typer.echo(
                    f"waiting for the broker at {kafka.bootstrap} (FSM_KAFKA_BOOTSTRAP), up to "
                    f"{attempts} s: {exc or type(exc).__name__}",
                    err=True,
                )
            await asyncio.sleep(1)
    return []


def _banner(runtimes: list[ServiceRuntime]) -> None:
    lines = ["", "services:"]
    for rt in runtimes:
        # As `migrate` prints it: the password masked.
        db = make_url(rt.settings.resolved_database_url).render_as_string(hide_password=True)
        lines.append(
            f"  {rt.spec.name:<11} http://{rt.settings.host}:{rt.settings.port}  "
            f"(docs: /docs, health: /healthz /readyz, db: {db})"
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
    # Ctrl-C and SIGTERM set `stop` from here on: a start interrupted ends the step it is at
    # (a migration is not cut in half), then stops; a running platform drains and stops.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtimes = [_build(name) for name in SERVICE_NAMES]
    sockets = _listen_all(runtimes)
    try:
        if await _start_in_process(runtimes, stop):
            await _serve_in_process(runtimes, sockets, stop)
        else:
            typer.echo("stopped while starting")
            for rt in runtimes:
                await rt.engine.dispose()
    finally:
        for sock in sockets:
            sock.close()


async def _start_in_process(runtimes: list[ServiceRuntime], stop: asyncio.Event) -> bool:
    """Check the databases, migrate them and create the topics; False when ``stop`` was set
    meanwhile (the step under way finished first)."""
    for runtime in runtimes:
        if stop.is_set():
            return False
        with service_context(runtime.spec.name):
            await _check_database(runtime)
            await runtime.migrate()
    if stop.is_set():
        return False
    topics = asyncio.create_task(_ensure_topics_with_retry(runtimes[0].settings.kafka))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([topics, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not topics.done():  # waiting for the broker: stop waiting
        topics.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await topics
        return False
    topics.result()  # a broker that cannot be reached refuses the start
    return not stop.is_set()


async def _serve_in_process(
    runtimes: list[ServiceRuntime], sockets: list[socket.socket], stop: asyncio.Event
) -> None:
    servers = [_QuietServer(_uvicorn_config(rt)) for rt in runtimes]
    tasks = []
    for runtime, server, sock in zip(runtimes, servers, sockets, strict=True):
        # Each server's task, and all it starts (lifespan, consumer, relay, requests), logs
        # with its service's name: five services share this process's log stream.
        with service_context(runtime.spec.name):
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
    _banner(runtimes)
    done_waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([done_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    typer.echo("stopping: letting the outboxes drain...")
    try:
        await _drain(runtimes, within=5.0)
    finally:
        # Always stop the servers in order (lifespans ended, not cancelled by the loop's end).
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        done_waiter.cancel()


async def _drain(runtimes: list[ServiceRuntime], *, within: float) -> None:
    # The embedded broker keeps messages in memory only: publish what is pending and give the
    # consumers a moment before it goes away, so a restart loses nothing in flight.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    draining = list(runtimes)
    while draining and loop.time() < deadline:
        counts = []
        for rt in list(draining):
            try:
                counts.append(await pending_count(rt.session_factory))
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                # Its database is down: its outbox keeps the rows, published at next start.
                draining.remove(rt)
                _log.warning(
                    "run.outbox_not_drained",
                    service=rt.spec.name,
                    reason=f"its database cannot be read: {type(exc).__name__}",
                )
        if not any(counts):
            await asyncio.sleep(0.5)
            return
        await asyncio.sleep(0.1)


def _run_processes() -> None:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    failed = 0
    try:
        for name in SERVICE_NAMES:
            processes[name] = subprocess.Popen([sys.executable, "-m", "fsm", "serve", name])
        typer.echo("started: " + ", ".join(f"{n} (pid {p.pid})" for n, p in processes.items()))
        while all(p.poll() is None for p in processes.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                next(iter(processes.values())).wait(timeout=0.5)
        # A service that stopped on its own (e.g. refused to start) stops the others, and its
        # exit status becomes fsm run's.
        failed = next((p.returncode for p in processes.values() if p.returncode), 0)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (_sigterm_as_ctrl_c)
        pass
    finally:
        with _signals_ignored():
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if failed:
        raise typer.Exit(failed if failed > 0 else 1)


if __name__ == "__main__":
    app()

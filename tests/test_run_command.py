"""`fsm run`, what `make run` starts: the broker, the five services on SQLite, taking an order,
and Ctrl-C (SIGINT) stopping everything, broker included, in one process or one per service."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.broker import Broker

from fsm.processes import SERVICES, wait_for
from servicekit.embedded import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
KEY = "run-command-admin-key-0123456789"
ORDER = {
    "customer": {
        "name": "王芳",
        "phone": "13800138000",
        "address": "山东省东营市东营区西四路100号",
    },
    "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2025-03-01"},
    "fault": {"description": "热水器打不着火"},
    "channel": "hotline",
}


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("separate_processes", [False, True], ids=["one-process", "per-service"])
def test_fsm_run_serves_the_five_services_and_ctrl_c_stops_everything(
    tmp_path: Path, separate_processes: bool
) -> None:
    ports = {name: free_port() for name in SERVICES}
    broker_port = free_port()
    env = {
        **os.environ,
        "FSM_DATA_DIR": str(tmp_path),
        "FSM_BOOTSTRAP_API_KEY": KEY,
        "FSM_LOG_LEVEL": "WARNING",
        **{f"FSM_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for name in SERVICES:  # each service on its SQLite file under FSM_DATA_DIR
        env.pop(f"FSM_{name.upper()}_DATABASE_URL", None)
    embedded = "FSM_KAFKA_BOOTSTRAP" not in env
    log = (tmp_path / "run.log").open("wb")
    command = [sys.executable, "-m", "fsm", "run", "--broker-port", str(broker_port)]
    if separate_processes:
        command.append("--separate-processes")
    run = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True
    )
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:

        def all_ready() -> bool:
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            return all(_ready(url) for url in urls.values())

        wait_for(all_ready, within=90, interval=0.2, message="the five services ready")
        assert not embedded or _listening(broker_port)
        taken = httpx.post(
            urls["intake"] + "/v1/orders",
            json=ORDER,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        assert taken.status_code == 201, taken.text
        assert all((tmp_path / f"{name}.db").is_file() for name in SERVICES)

        run.send_signal(signal.SIGINT)  # what Ctrl-C sends

        assert run.wait(timeout=60) == 0, (tmp_path / "run.log").read_text()[-3000:]
        assert [name for name, port in ports.items() if _listening(port)] == []
        assert not _listening(broker_port)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        log.close()


# A start refused for a wrong setting, policy file, database or broker: one line per problem
# naming the variable or the policy file and key, a meaningful exit status, no traceback.

OLD_RELEASE_POLICY = """\
scheduling:
  webhooks:
    batch_size: 100
    max_concurrency: 20
    timeout_seconds: 15
    claim_lease_seconds: 60.0
feedback:
  sampling_rates_percent:
    gas_leak_repair: 100
    paid_repair: 100
    own_brand_repair: 100
    own_brand_installation: 100
    other_installation: 10
    other_repair: 10
"""
"""What the previous release's policy.yaml said of the two keys that stop its services now."""


def _fsm(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run ``fsm *args`` in ``tmp_path`` with no FSM_* variable but ``env``; its exit status and
    output lines (stdout and stderr)."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("FSM_")}
    clean.update(
        FSM_DATA_DIR=str(tmp_path / "var"),
        FSM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",  # nothing listens there
        FSM_INTAKE_PORT=str(free_port()),
    )
    clean.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "fsm", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("FSM_INTAKE_DATABASE_POOL_SIZE", "-1", "greater than or equal to 1"),
        ("FSM_INTAKE_DATABASE_POOL_SIZE", "abc", "valid integer"),
        ("FSM_BOOTSTRAP_API_KEY", "short", "at least 16 characters"),
        ("FSM_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("FSM_KAFKA_FETCH_MAX_WAIT_MS", "0", "greater than or equal to 1"),
        ("FSM_INTAKE_DATABASE_URL", "garbage://x", "unknown database driver"),
    ],
)
def test_an_invalid_setting_stops_serve_with_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    status, lines = _fsm(tmp_path, "serve", "intake", env={variable: value})

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert variable in lines[0] and says in lines[0]


@pytest.mark.parametrize(
    "command",
    [["run"], ["run", "--separate-processes"], ["migrate"], ["migrate", "intake"]],
    ids=" ".join,
)
def test_run_and_migrate_refuse_an_invalid_setting_the_same_way(
    tmp_path: Path, command: list[str]
) -> None:
    status, lines = _fsm(tmp_path, *command, env={"FSM_INTAKE_DATABASE_POOL_SIZE": "-1"})

    assert status == 2, lines
    refused = [line for line in lines if "FSM_INTAKE_DATABASE_POOL_SIZE" in line]
    assert refused == [
        "intake: FSM_INTAKE_DATABASE_POOL_SIZE: Input should be greater than or "
        "equal to 1 (got '-1')"
    ], lines
    assert not any("Traceback" in line for line in lines)


def test_a_fieldwork_upload_limit_over_the_body_limit_stops_serve_with_one_line(
    tmp_path: Path,
) -> None:
    env = {"FSM_FIELDWORK_HTTP_MAX_BODY_BYTES": "100000", "FSM_FIELDWORK_PORT": str(free_port())}
    status, lines = _fsm(tmp_path, "serve", "fieldwork", env=env)

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert "fieldwork.upload_max_bytes" in lines[0]
    assert "FSM_FIELDWORK_HTTP_MAX_BODY_BYTES (100000)" in lines[0]


def test_the_bootstrap_key_is_never_repeated_in_the_message(tmp_path: Path) -> None:
    status, lines = _fsm(tmp_path, "serve", "intake", env={"FSM_BOOTSTRAP_API_KEY": "s3cr3t"})

    assert status == 2
    assert "s3cr3t" not in "\n".join(lines)


def test_production_without_a_database_url_refuses_to_start_naming_the_variable(
    tmp_path: Path,
) -> None:
    # The URL variable misspelt: no silent fallback to var/intake.db in production.
    status, lines = _fsm(
        tmp_path,
        "serve",
        "intake",
        env={
            "FSM_INTAKE_ENVIRONMENT": "production",
            "FSM_INTAKE_DATABASE_ULR": "postgresql+asyncpg://fsm@db:5432/intake",
        },
    )

    assert status == 2, lines
    assert len(lines) == 1 and "FSM_INTAKE_DATABASE_URL" in lines[0], lines
    assert not (tmp_path / "var" / "intake.db").exists()


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ("intake:\n  close_after_quiet_days: -1\n", "intake.close_after_quiet_days:"),
        ("intake:\n  close_after_quiet_days: seven\n", "intake.close_after_quiet_days:"),
        ("intake:\n  close_after_quiet_dayz: 3\n", "intake.close_after_quiet_dayz: unknown key"),
        ("intak:\n  close_after_quiet_days: 3\n", "intak: unknown section"),
        ("intake: [1, 2\n", "not valid YAML"),
    ],
    ids=["negative", "wrong-type", "unknown-key", "unknown-section", "bad-yaml"],
)
def test_an_invalid_policy_file_stops_serve_with_one_line_naming_the_file_and_key(
    tmp_path: Path, policy: str, says: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy, encoding="utf-8")

    status, lines = _fsm(tmp_path, "serve", "intake", env={"FSM_POLICY_FILE": str(path)})

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and says in lines[0]


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ("scheduling", "scheduling.webhooks.claim_lease_seconds"),
        ("feedback", "feedback.sampling_rates_percent"),
    ],
)
def test_the_previous_releases_policy_file_is_refused_naming_the_file_and_key(
    tmp_path: Path, service: str, key: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(OLD_RELEASE_POLICY, encoding="utf-8")

    status, lines = _fsm(tmp_path, "serve", service, env={"FSM_POLICY_FILE": str(path)})

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert f"policy file {path}: {key}: " in lines[0]


def test_an_unreachable_database_stops_serve_naming_the_url_variable(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://fsm:pw-not-shown@127.0.0.1:{free_port()}/intake"

    status, lines = _fsm(tmp_path, "serve", "intake", env={"FSM_INTAKE_DATABASE_URL": url})

    assert status == 3, lines
    assert len(lines) == 1, lines
    assert "FSM_INTAKE_DATABASE_URL" in lines[0] and "pw-not-shown" not in lines[0]


def test_an_unreachable_broker_is_named_by_its_variable(tmp_path: Path) -> None:
    status, lines = _fsm(tmp_path, "topics")

    assert status == 3, lines
    assert len(lines) == 1, lines
    assert "FSM_KAFKA_BOOTSTRAP" in lines[0]


def test_fsm_log_level_debug_adds_the_traceback_of_a_refused_start(tmp_path: Path) -> None:
    status, lines = _fsm(
        tmp_path,
        "serve",
        "intake",
        env={"FSM_LOG_LEVEL": "DEBUG", "FSM_INTAKE_DATABASE_POOL_SIZE": "-1"},
    )

    assert status == 2
    assert lines[0].startswith("Traceback")
    assert "FSM_INTAKE_DATABASE_POOL_SIZE" in lines[-1]


def test_check_policy_accepts_the_shipped_policy_file(tmp_path: Path) -> None:
    status, lines = _fsm(tmp_path, "check-policy", str(REPO / "policy.yaml"))

    assert status == 0, lines
    assert len(lines) == 1 and lines[0].startswith(f"policy file {REPO / 'policy.yaml'}: ok")


def test_check_policy_prints_one_line_per_problem_of_every_section(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        OLD_RELEASE_POLICY + "intake:\n  close_after_quiet_days: 0\n  oops: 1\n", encoding="utf-8"
    )

    status, lines = _fsm(tmp_path, "check-policy", str(path))

    assert status == 2, lines
    assert [line.split(": ")[1] for line in lines] == [
        "intake.close_after_quiet_days",
        "intake.oops",
        "scheduling.webhooks.claim_lease_seconds",
        "feedback.sampling_rates_percent",
    ]
    assert all(line.startswith(f"policy file {path}: ") for line in lines)


def test_check_policy_refuses_an_unknown_section_once(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("intak:\n  close_after_quiet_days: 3\n", encoding="utf-8")

    status, lines = _fsm(tmp_path, "check-policy", str(path))

    assert status == 2
    assert lines == [f"policy file {path}: intak: unknown section (did you mean 'intake'?)"]


@pytest.mark.parametrize(
    "command",
    [["serve", "intake"], ["run"], ["run", "--separate-processes"]],
    ids=" ".join,
)
def test_a_service_port_in_use_stops_the_start_with_one_line_naming_the_service_and_port(
    tmp_path: Path, command: list[str], broker: Broker
) -> None:
    # Exit status 2, as for a wrong setting: the port is the service's setting to change.
    ports = {f"FSM_{name.upper()}_PORT": str(free_port()) for name in SERVICES}
    ports["FSM_KAFKA_BOOTSTRAP"] = broker.bootstrap  # the start gets as far as listening
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports["FSM_INTAKE_PORT"] = str(port)

        status, lines = _fsm(tmp_path, *command, env=ports)

    assert status == 2, lines
    refused = [line for line in lines if f"port {port}" in line]
    assert len(refused) == 1, lines
    assert refused[0].startswith("intake: ") and "FSM_INTAKE_PORT" in refused[0], lines
    assert not any("Traceback" in line or "Errno" in line for line in lines), lines


# Ops audit (probe 33): stopping, signals, settings and what the banner and logs show.


def _fsm_run(
    tmp_path: Path, *extra: str, level: str = "WARNING", sigint_ignored: bool = False
) -> tuple[subprocess.Popen[bytes], dict[str, int], int]:
    """``fsm run`` on SQLite under ``tmp_path`` in its own session (log: run.log); with
    ``sigint_ignored`` as a shell script's ``fsm run &`` starts it (SIGINT ignored)."""
    ports = {name: free_port() for name in SERVICES}
    broker_port = free_port()
    env = {
        **os.environ,
        "FSM_DATA_DIR": str(tmp_path),
        "FSM_BOOTSTRAP_API_KEY": KEY,
        "FSM_LOG_LEVEL": level,
        **{f"FSM_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for name in SERVICES:
        env.pop(f"FSM_{name.upper()}_DATABASE_URL", None)
    env.pop("FSM_KAFKA_BOOTSTRAP", None)  # the embedded broker
    log = (tmp_path / "run.log").open("wb")
    command = [sys.executable, "-m", "fsm", "run", "--broker-port", str(broker_port), *extra]
    run = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint_ignored
        else None,
    )
    log.close()
    return run, ports, broker_port


def _descendants(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in found.split()]
    return kids + [g for k in kids for g in _descendants(k)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def _kill_all(run: subprocess.Popen[bytes], pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["", "sigint-ignored"])
def test_ops1_sigterm_stops_fsm_run_separate_processes_and_all_its_children(
    tmp_path: Path, sigint_ignored: bool
) -> None:
    run, ports, broker_port = _fsm_run(
        tmp_path, "--separate-processes", sigint_ignored=sigint_ignored
    )
    children: list[int] = []
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports.values()]

        def all_ready() -> bool:
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            return all(_ready(url) for url in urls)

        wait_for(all_ready, within=90, interval=0.2, message="the five services ready")
        children = _descendants(run.pid)
        assert len(children) >= 6  # tansu and five `fsm serve`

        run.send_signal(signal.SIGTERM)

        assert run.wait(timeout=40) == 0, (tmp_path / "run.log").read_text()[-3000:]
        assert [pid for pid in children if _alive(pid)] == []
        assert [name for name, port in ports.items() if _listening(port)] == []
        assert not _listening(broker_port)
    finally:
        _kill_all(run, children)


@pytest.mark.parametrize(
    ("sig", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["SIGTERM", "SIGINT", "SIGTERM-sigint-ignored"],
)
def test_ops2_a_signal_right_after_the_broker_started_stops_the_broker(
    tmp_path: Path, sig: signal.Signals, sigint_ignored: bool
) -> None:
    run, _, broker_port = _fsm_run(tmp_path, sigint_ignored=sigint_ignored)
    children: list[int] = []
    try:
        wait_for(lambda: bool(_descendants(run.pid)), within=30, interval=0.01, message="tansu")
        children = _descendants(run.pid)

        run.send_signal(sig)

        assert run.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()[-3000:]
        assert [pid for pid in children if _alive(pid)] == []
        assert not _listening(broker_port)
        assert "Traceback" not in (tmp_path / "run.log").read_text()
    finally:
        _kill_all(run, children)


@pytest.mark.parametrize("port", ["99999", "-5", "70000", "0"])
def test_ops6_an_out_of_range_service_port_is_one_line_naming_the_variable(
    tmp_path: Path, port: str
) -> None:
    status, lines = _fsm(tmp_path, "serve", "intake", env={"FSM_INTAKE_PORT": port})

    assert status == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("intake: FSM_INTAKE_PORT: "), lines


@pytest.mark.parametrize("service", ["scheduling", "fieldwork", "billing", "feedback"])
def test_ops6_every_services_port_keeps_the_bounds(tmp_path: Path, service: str) -> None:
    variable = f"FSM_{service.upper()}_PORT"
    status, lines = _fsm(tmp_path, "serve", service, env={variable: "65536"})

    assert status == 2, lines
    assert len(lines) == 1 and f"{variable}: " in lines[0], lines


def test_ops7_dead_letters_with_an_unreachable_broker_is_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    status, lines = _fsm(tmp_path, "dead-letters")

    assert status == 3, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("FSM_KAFKA_BOOTSTRAP: cannot reach the broker"), lines


def _fake_runtime(name: str, **settings: Any) -> Any:
    from types import SimpleNamespace

    from fsm.services import settings_for

    return SimpleNamespace(
        spec=SimpleNamespace(name=name), settings=settings_for(name, port=8001, **settings)
    )


def test_ops5_the_banner_masks_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    from fsm.cli import _banner

    url = "postgresql+asyncpg://fsm:pw-in-the-banner@db:5432/intake"
    _banner([_fake_runtime("intake", database_url=url)])

    out = capsys.readouterr().out
    assert "pw-in-the-banner" not in out
    assert "postgresql+asyncpg://fsm:***@db:5432/intake" in out


def test_ops3_a_database_down_at_stop_leaves_one_warning_and_drains_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import logging

    from sqlalchemy.exc import OperationalError

    from fsm.cli import _drain
    from servicekit.logging import configure_logging

    configure_logging(level="INFO", json=True)
    calls: list[str] = []

    class _Session:
        def __init__(self, name: str) -> None:
            self.name = name

        async def __aenter__(self) -> _Session:
            if self.name == "billing":
                raise OperationalError("connect", {}, ConnectionRefusedError("down"))
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def execute(self, _statement: object) -> Any:
            calls.append(self.name)

            class _Result:
                def scalar_one(self) -> int:
                    return 0

            return _Result()

    def runtime(name: str) -> Any:
        rt = _fake_runtime(name)
        rt.session_factory = lambda: _Session(name)
        return rt

    try:
        asyncio.run(_drain([runtime("intake"), runtime("billing")], within=1.0))
    finally:
        logging.getLogger().handlers.clear()

    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "billing" in line]
    assert len(warned) == 1, err
    assert '"level": "warning"' in warned[0] and "Traceback" not in err
    assert "intake" in calls


def test_ops9_make_demo_finds_services_moved_with_their_port_variables() -> None:
    # `fsm run` with FSM_INTAKE_PORT=18001: `make demo` follows, unless FSM_DEMO_*_URL says.
    from demo.api import urls_from_env

    urls = urls_from_env(
        {
            "FSM_INTAKE_PORT": "18001",
            "FSM_BILLING_PORT": "18004",
            "FSM_DEMO_BILLING_URL": "http://billing.test:9/",
        }
    )

    assert urls["intake"] == "http://127.0.0.1:18001"
    assert urls["billing"] == "http://billing.test:9"
    assert urls["scheduling"] == "http://127.0.0.1:8002"

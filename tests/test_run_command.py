"""`fsm run`, what `make run` starts: the broker, the five services on SQLite, taking an order,
and Ctrl-C (SIGINT) stopping everything, broker included, in one process or one per service."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

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

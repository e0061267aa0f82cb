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

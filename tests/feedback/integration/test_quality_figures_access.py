"""Who reads the quality figures (FBK-11), through REST on SQLite and PostgreSQL: the centre reads
everyone's, and narrows them to a network with `network_id`; a partner network reads its own
network's figures and those of the technicians who worked for it, never another network's
(403 naming it, as feedback's other network-scoped reads) nor the centre's totals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feedback_support import MONDAY, Harness, local, scores

TUESDAY = MONDAY + timedelta(days=1)


async def _world(harness: Harness) -> None:
    """Monday: net-a's technicians ta-1 and ta-2, net-b's tb-1 and the centre's tc-1 each
    complete a repair."""
    for order_id, technician, network in (
        ("o-a1", "ta-1", "net-a"),
        ("o-a2", "ta-2", "net-a"),
        ("o-b1", "tb-1", "net-b"),
        ("o-c1", "tc-1", None),
    ):
        await harness.completed_visit(
            order_id, "v-1", technician, at=local(MONDAY, 11), network_id=network
        )
    harness.clock.set(local(TUESDAY, 9))


async def _rows(
    harness: Harness, headers: dict[str, str] | None = None, **params: str
) -> dict[str, dict[str, Any]]:
    response = await harness.client.get(
        "/v1/quality-figures",
        params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat(), **params},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    return {r["key"]: r for r in response.json()["rows"]}


async def test_fbk_11_a_network_reads_its_own_figures_and_its_technicians(
    harness: Harness,
) -> None:
    await _world(harness)
    partner = await harness.key("partner", network_id="net-a")

    networks = await _rows(harness, partner, by="network")
    technicians = await _rows(harness, partner, by="technician")
    named_own = await _rows(harness, partner, by="technician", network_id="net-a")

    assert list(networks) == ["net-a"]
    assert networks["net-a"]["repairs"] == 2
    assert sorted(technicians) == ["ta-1", "ta-2"]
    assert technicians["ta-1"]["repairs"] == 1
    assert named_own == technicians


async def test_fbk_11_a_network_never_reads_another_networks_figures(harness: Harness) -> None:
    await _world(harness)
    partner = await harness.key("partner", network_id="net-a")

    for by in ("network", "technician"):
        other = await harness.client.get(
            "/v1/quality-figures",
            params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat(), "by": by},
            headers=partner,
        )
        assert other.status_code == 200
        keys = {r["key"] for r in other.json()["rows"]}
        assert not keys & {"net-b", "tb-1", "tc-1", "centre", "all"}, keys
        named = await harness.client.get(
            "/v1/quality-figures",
            params={
                "start": MONDAY.isoformat(),
                "end": MONDAY.isoformat(),
                "by": by,
                "network_id": "net-b",
            },
            headers=partner,
        )
        assert named.status_code == 403, named.text
        assert named.headers["content-type"] == "application/problem+json"
        assert "tb-1" not in named.text


async def test_fbk_11_a_network_with_no_work_in_the_period_reads_empty_figures(
    harness: Harness,
) -> None:
    await _world(harness)
    partner = await harness.key("partner", network_id="net-z")

    networks = await _rows(harness, partner, by="network")
    technicians = await _rows(harness, partner, by="technician")

    assert list(networks) == ["net-z"] and networks["net-z"]["repairs"] == 0
    assert technicians == {}


async def test_fbk_11_the_centre_reads_everyone_and_may_narrow_to_one_network(
    harness: Harness,
) -> None:
    await _world(harness)

    everyone = await _rows(harness, by="technician")
    networks = await _rows(harness, by="network")
    net_b = await _rows(harness, by="technician", network_id="net-b")

    assert sorted(everyone) == ["all", "ta-1", "ta-2", "tb-1", "tc-1"]
    assert everyone["all"]["repairs"] == 4
    assert sorted(networks) == ["all", "centre", "net-a", "net-b"]
    assert list(net_b) == ["tb-1"]
    agent = await harness.key("agent")
    assert sorted(await _rows(harness, agent, by="network")) == sorted(networks)


async def _complaint(
    harness: Harness, order_id: str, technician_id: str, network_id: str, fault: str
) -> None:
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": "技师态度差",
            "confirmed_by_customer": True,
            "order_id": order_id,
            "level": 1,
            "staff_fault_class": fault,
            "technician_id": technician_id,
            "network_id": network_id,
        },
        headers={"Idempotency-Key": f"complaint-{order_id}"},
    )
    assert filed.status_code == 201, filed.text


async def test_fbk_11_a_technician_who_moved_networks_counts_for_each_only_its_own_work(
    harness: Harness,
) -> None:
    """Monday: t-move repairs o-1 for net-1 in the morning, then o-2 for net-2 in the afternoon,
    each called back, each complained of: each network reads only the work done for it."""
    for order_id, network, hour in (("o-1", "net-1", 10), ("o-2", "net-2", 15)):
        await harness.completed_visit(
            order_id, "v-1", "t-move", at=local(MONDAY, hour), network_id=network, sign=False
        )
    harness.clock.set(local(MONDAY, 17))
    for order_id, attitude in (("o-1", 10), ("o-2", 6)):
        [task] = await harness.tasks(order_id)
        await harness.answer(
            task["task_id"], reached=True, satisfied=True, scores=scores(attitude, attitude)
        )
    await _complaint(harness, "o-1", "t-move", "net-1", "A")
    await _complaint(harness, "o-2", "t-move", "net-2", "C")
    harness.clock.set(local(TUESDAY, 9))

    for network, own, other in (("net-1", 10, 6), ("net-2", 6, 10)):
        partner = await harness.key("partner", network_id=network)
        mover = (await _rows(harness, partner, by="technician"))["t-move"]
        centre_narrowed = (await _rows(harness, by="technician", network_id=network))["t-move"]
        network_row = (await _rows(harness, partner, by="network"))[network]

        assert (mover["repairs"], mover["visits"], mover["satisfaction"]["surveys"]) == (1, 1, 1)
        assert mover["satisfaction"]["service_attitude"] == own != other
        fault = "A" if network == "net-1" else "C"
        assert mover["complaints_by_class"][fault] == 1
        assert sum(mover["complaints_by_class"].values()) == 1
        assert centre_narrowed == mover
        assert {k: network_row[k] for k in mover if k != "key"} == {
            k: mover[k] for k in mover if k != "key"
        }

    # rule FBK-11: the centre's own reading still counts all of t-move's work
    everyone = (await _rows(harness, by="technician"))["t-move"]
    assert (everyone["repairs"], everyone["satisfaction"]["surveys"]) == (2, 2)
    assert sum(everyone["complaints_by_class"].values()) == 2

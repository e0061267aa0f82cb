"""What a partner network's key reads of scheduling's records: its own technicians (whom it may
assign, SCH-12) and its own orders; another network's answer 404, or 403 for a list asked of
another network (issue 5)."""

from __future__ import annotations

from partner_support import AREAS, add_network, add_network_technician, order_for
from scheduling_support import Harness, technician_body


async def _two_networks(h: Harness) -> None:
    for network in ("n1", "n2"):
        await add_network(h, network)
    await add_network_technician(h, "nt1a", "n1")
    await add_network_technician(h, "nt1b", "n1")
    await add_network_technician(h, "nt2", "n2")
    await h.add_technician("t1", areas=["Jinan"])  # never placed in the networks' districts


async def test_a_network_reads_its_own_technician_and_their_jobs(partners: Harness) -> None:
    h = partners
    await _two_networks(h)
    await order_for(h, "o1", "n1")
    assigned = await h.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "nt1a", "reason": "ours"}
    )
    assert assigned.status_code == 200, assigned.text
    key = await h.key("partner", network_id="n1")
    read = await h.client.get("/v1/technicians/nt1a", headers=key)
    assert read.status_code == 200, read.text
    assert read.json()["technician_id"] == "nt1a" and read.json()["network_id"] == "n1"
    jobs = await h.client.get("/v1/technicians/nt1a/jobs", headers=key)
    assert jobs.status_code == 200, jobs.text
    assert [j["order_id"] for j in jobs.json()] == ["o1"]


async def test_another_networks_or_the_centres_technician_answers_a_network_404(
    partners: Harness,
) -> None:
    h = partners
    await _two_networks(h)
    key = await h.key("partner", network_id="n1")
    for technician_id in ("nt2", "t1", "nobody"):
        for path in (f"/v1/technicians/{technician_id}", f"/v1/technicians/{technician_id}/jobs"):
            response = await h.client.get(path, headers=key)
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    unbound = await h.key("partner")
    assert (await h.client.get("/v1/technicians/nt1a", headers=unbound)).status_code == 404


async def test_a_technician_still_reads_only_themselves(partners: Harness) -> None:
    h = partners
    await _two_networks(h)
    key = await h.key("technician", technician_id="nt1a")
    assert (await h.client.get("/v1/technicians/nt1a", headers=key)).status_code == 200
    assert (await h.client.get("/v1/technicians/nt1b", headers=key)).status_code == 403


async def test_sch_12_a_network_lists_its_own_technicians_page_by_page(partners: Harness) -> None:
    h = partners
    await _two_networks(h)
    key = await h.key("partner", network_id="n1")
    first = await h.client.get("/v1/technicians", params={"limit": 1}, headers=key)
    assert first.status_code == 200, first.text
    assert [t["technician_id"] for t in first.json()["items"]] == ["nt1a"]
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await h.client.get(
        "/v1/technicians", params={"limit": 1, "cursor": cursor}, headers=key
    )
    assert [t["technician_id"] for t in second.json()["items"]] == ["nt1b"]
    assert second.json()["next_cursor"] is None
    other = await h.key("partner", network_id="n2")
    cross = await h.client.get(
        "/v1/technicians", params={"limit": 1, "cursor": cursor}, headers=other
    )
    assert cross.status_code == 422  # a cursor of another network's list
    unbound = await h.key("partner")
    assert (await h.client.get("/v1/technicians", headers=unbound)).json()["items"] == []


async def test_the_centre_lists_every_technician(partners: Harness) -> None:
    h = partners
    await _two_networks(h)
    listed = await h.client.get("/v1/technicians")
    assert listed.status_code == 200, listed.text
    assert [t["technician_id"] for t in listed.json()["items"]] == ["nt1a", "nt1b", "nt2", "t1"]
    assert listed.json()["next_cursor"] is None
    bad = await h.client.get("/v1/technicians", params={"cursor": "garbage"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_a_network_asking_for_another_networks_orders_is_refused(partners: Harness) -> None:
    h = partners
    await _two_networks(h)
    await order_for(h, "o1", "n1")
    key = await h.key("partner", network_id="n1")
    refused = await h.client.get("/v1/orders", params={"network_id": "n2"}, headers=key)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "own" in refused.json()["detail"]
    own = await h.client.get("/v1/orders", params={"network_id": "n1"}, headers=key)
    assert own.status_code == 200 and [o["order_id"] for o in own.json()["items"]] == ["o1"]
    assert (await h.client.get("/v1/orders", headers=key)).json()["items"] == own.json()["items"]


async def test_sch_12_a_technician_who_moved_networks_shows_the_new_one_none_of_the_old_ones_jobs(
    partners: Harness,
) -> None:
    h = partners
    await _two_networks(h)
    await order_for(h, "o1", "n1")
    assigned = await h.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "nt1a", "reason": "ours"}
    )
    assert assigned.status_code == 200, assigned.text
    body = technician_body("nt1a", areas=[AREAS["n2"]], network_id="n2")
    del body["technician_id"]
    moved = await h.client.put("/v1/technicians/nt1a", json=body)
    assert moved.status_code == 200, moved.text
    assert (await h.order("o1"))["network_id"] == "n1"  # the job stays n1's until reassigned

    jobs = await h.client.get(
        "/v1/technicians/nt1a/jobs", headers=await h.key("partner", network_id="n2")
    )

    assert jobs.status_code == 200, jobs.text
    assert jobs.json() == []  # n1's order (the customer's address) is not n2's to read
    held = await h.client.get(
        "/v1/technicians/nt1a/jobs", headers=await h.key("technician", technician_id="nt1a")
    )
    assert [j["order_id"] for j in held.json()] == ["o1"]  # still the technician's own visit


async def test_sch_12_a_network_is_offered_windows_of_its_own_technicians_only(
    partners: Harness,
) -> None:
    h = partners
    await _two_networks(h)
    await order_for(h, "o1", "n1")
    await h.add_technician("a-centre", areas=[AREAS["n1"]])  # the centre's, in n1's district
    await add_network_technician(h, "nt2b", "n2")
    key = await h.key("partner", network_id="n1")

    offered = await h.client.get("/v1/orders/o1/slots", headers=key)

    assert offered.status_code == 200, offered.text
    assert offered.json(), "n1's own technicians have free windows"
    # the centre's and other networks' technicians (and their free time) are not n1's to see,
    # nor could it book them (SCH-12)
    assert {s["technician_id"] for s in offered.json()} <= {"nt1a", "nt1b"}
    everyone = await h.client.get("/v1/orders/o1/slots")
    assert "a-centre" in {s["technician_id"] for s in everyone.json()}  # the centre sees all

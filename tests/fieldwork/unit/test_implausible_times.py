"""Times a technician gives that cannot be true are refused, not passed on (SCH-6, SCH-7, BIL-3,
BIL-5, FLD-11): the departure's ETA, a work item's time, the installation date and an offline
action dated before its visit existed; an offline client id reused for another action (pure
domain)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contracts.common import WorkItem, WorkItemKind
from fieldwork.domain.commands import Arrive, CompleteRepair, Depart, OfflineAction, SignOffVisit
from fieldwork.domain.exceptions import InvalidInput, RuleViolation
from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.domain.visit import Visit, VisitState

from .test_visit import POLICY, at, inside, new_visit

YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("eta", "where"),
    [
        (YEAR_9999, "hours after the departure"),
        (at(0) + timedelta(hours=POLICY.eta_horizon_hours, seconds=1), "hours after"),
        (at(0) - timedelta(seconds=POLICY.offline_clock_skew_seconds + 1), "before the departure"),
    ],
    ids=["year_9999", "past_the_horizon", "before_the_departure"],
)
def test_sch_6_sch_7_an_eta_that_cannot_be_true_is_refused(eta: datetime, where: str) -> None:
    visit = new_visit()

    with pytest.raises(InvalidInput) as refused:
        visit.depart(at=at(0), eta=eta, kit_checked=DEFAULT_KIT, policy=POLICY)

    assert refused.value.rule == "SCH-6" and where in str(refused.value)
    assert refused.value.extensions["field"] == "eta"
    assert visit.state is VisitState.SCHEDULED and visit.events == []


def test_sch_6_an_eta_is_taken_up_to_the_horizon_and_from_a_phone_clock_behind() -> None:
    horizon = timedelta(hours=POLICY.eta_horizon_hours)
    skew = timedelta(seconds=POLICY.offline_clock_skew_seconds)
    late, early = new_visit(), new_visit(visit_id="v-2")

    for visit, refused_eta, taken_eta in (
        (late, at(0) + horizon + timedelta(seconds=1), at(0) + horizon),
        (early, at(0) - skew - timedelta(seconds=1), at(0) - skew),
    ):
        with pytest.raises(InvalidInput):
            visit.depart(at=at(0), eta=refused_eta, kit_checked=DEFAULT_KIT, policy=POLICY)
        visit.depart(at=at(0), eta=taken_eta, kit_checked=DEFAULT_KIT, policy=POLICY)
        assert visit.state is VisitState.DEPARTED and visit.eta == taken_eta


def fee_at(handled_at: datetime) -> WorkItem:
    return WorkItem(kind=WorkItemKind.FEE, fee_code="W01", description="W01", handled_at=handled_at)


def diagnose_installed_on(
    visit: Visit, installed_on: date, *, purchased_on: date | None = None
) -> None:
    """Diagnose at minute 40 on 2 March, one fee handled then, the product installed on
    ``installed_on`` (and bought on ``purchased_on``)."""
    visit.diagnose(
        at=at(40),
        cause="c",
        work_items=[fee_at(at(40))],
        installed_on=installed_on,
        today=date(2026, 3, 2),
        purchased_on=purchased_on,
    )


@pytest.mark.parametrize(
    "handled_at",
    [
        YEAR_9999,
        at(40) + timedelta(hours=POLICY.work_item_horizon_hours, seconds=1),
        at(30) - timedelta(seconds=POLICY.offline_clock_skew_seconds + 1),
    ],
    ids=["year_9999", "past_the_horizon", "before_the_arrival"],
)
def test_bil_3_a_work_item_dated_outside_the_visit_is_refused(handled_at: datetime) -> None:
    visit = inside()  # arrived at minute 30

    with pytest.raises(InvalidInput) as refused:
        visit.diagnose(at=at(40), cause="c", work_items=[fee_at(handled_at)], policy=POLICY)

    assert refused.value.rule == "BIL-3"
    assert refused.value.extensions["field"] == "work_items.0.handled_at"
    assert visit.diagnosis is None and visit.quote is None
    # an item handled later in the visit (after a part is fetched, say) is taken
    visit.diagnose(at=at(40), cause="c", work_items=[fee_at(at(100))], policy=POLICY)
    assert visit.quote is not None and visit.quote.items[0].handled_at == at(100)


def test_bil_5_an_installation_date_after_the_diagnosis_is_refused() -> None:
    visit = inside()

    with pytest.raises(InvalidInput) as refused:
        diagnose_installed_on(visit, date(9999, 12, 31))

    assert refused.value.rule == "BIL-5" and refused.value.extensions["field"] == "installed_on"
    diagnose_installed_on(visit, date(2026, 3, 2))
    assert visit.quote is not None and visit.quote.installed_on == date(2026, 3, 2)


def test_fld_11_sch_7_an_action_before_the_visit_existed_is_refused() -> None:
    visit = new_visit()  # created at minute 0
    skew = timedelta(seconds=POLICY.offline_clock_skew_seconds)

    with pytest.raises(RuleViolation) as refused:
        visit.check_existed_at(at(0) - skew - timedelta(seconds=1), allowance=skew)

    assert refused.value.rule == "offline" and "before the visit existed" in str(refused.value)
    assert refused.value.extensions["earliest"] == (at(0) - skew).isoformat()
    assert not visit.existed_at(at(-60 * 48), allowance=skew)
    # a phone clock behind by up to the allowance is taken
    visit.check_existed_at(at(0) - skew, allowance=skew)
    assert visit.existed_at(at(0) - skew, allowance=skew)


def test_an_offline_action_is_told_from_another_under_its_client_id() -> None:
    depart = Depart(eta=at(30), kit_checked=list(DEFAULT_KIT))
    first = OfflineAction(client_id="c-1", visit_id="v-1", occurred_at=at(0), action=depart)
    same_instant = at(0).astimezone(timezone(timedelta(hours=8)))

    replay = OfflineAction(client_id="c-1", visit_id="v-1", occurred_at=same_instant, action=depart)
    others = [
        OfflineAction(client_id="c-1", visit_id="v-1", occurred_at=at(0), action=Arrive()),
        OfflineAction(client_id="c-1", visit_id="v-1", occurred_at=at(1), action=depart),
        OfflineAction(client_id="c-1", visit_id="v-2", occurred_at=at(0), action=depart),
        OfflineAction(
            client_id="c-1",
            visit_id="v-1",
            occurred_at=at(0),
            action=Depart(eta=at(40), kit_checked=list(DEFAULT_KIT)),
        ),
    ]

    assert replay.fingerprint() == first.fingerprint()
    assert all(other.fingerprint() != first.fingerprint() for other in others)


@pytest.mark.parametrize("value", ["no", "yes", 0, 1, "false"])
def test_fld_9_a_technicians_yes_or_no_is_a_json_boolean_never_a_guess(value: object) -> None:
    """What a flag says decides the visit's outcome (tested, sure fixed, signed...): a string or
    a number is refused rather than read as true or false."""
    with pytest.raises(ValidationError):
        CompleteRepair.model_validate(
            {"type": "complete_repair", "tested": value, "sure_fixed": True}
        )
    with pytest.raises(ValidationError):
        SignOffVisit.model_validate({"type": "sign_off", "signed": value})
    assert (
        CompleteRepair.model_validate(
            {"type": "complete_repair", "tested": False, "sure_fixed": True}
        ).tested
        is False
    )


def test_bil_5_an_installation_date_before_the_purchase_date_is_refused_at_diagnosis() -> None:
    visit = inside()

    with pytest.raises(InvalidInput) as refused:
        diagnose_installed_on(visit, date(1, 1, 1), purchased_on=date(2025, 6, 1))

    assert refused.value.rule == "BIL-5" and refused.value.extensions["field"] == "installed_on"
    assert refused.value.extensions["earliest"] == "2025-06-01"
    assert visit.diagnosis is None and visit.quote is None

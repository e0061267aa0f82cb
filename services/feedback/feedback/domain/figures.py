"""Quality figures per technician or network and period (FBK-6, FBK-11), derived from the cases
(visits and revisit chains), the call-backs, the complaints and the conduct findings.

Definitions (all counts over the period, attributed to the visit's technician or network):

- on-time rate: arrivals without a measured lateness / arrivals;
- first-time-fix rate: orders whose first visit ended completed (or took the unit back to the
  workshop, and it came back repaired: ``fixed_first_time``), with no repeat
  visit (unfinished work, missing part, dissatisfied customer, other) and no dissatisfied call-back
  within the repeat window / orders whose first visit ended in the period;
- repeat-visit rate: repeat visits / visits (a visit nobody opened the door to is not counted);
  a repeat visit follows a real visit of the order (``Case.is_repeat``): the first visit made
  after phone guidance is none, whatever reason it was booked for;
- repair pass rate: repair records with no repeat visit and no dissatisfied call-back within
  the window after them / repair records; a repair record is a repair that ended completed, or a
  unit taken back to the workshop and returned repaired, counted when it came back
  (``Visit.repair_done_at``);
- satisfaction: mean of each item's scores, overall = the mean of the two item means (FBK-6);
  the call-back after phone guidance (FBK-1) rates the centre: it counts under ``centre`` by
  network and ``unassigned`` by technician, never against the technician the order was assigned
  to before it was resolved by phone;
- call-back coverage: repair records with a scored call-back about them (not the one after
  phone guidance) / repair records, with an alarm below the policy minimum (8 %);
- complaints by class (FBK-9, FBK-11): complaints filed in the period that count against the
  technician or network, i.e. still open or closed at fault, by staff-fault class (``A``, ``B``,
  ``C``; ``none`` when no staff fault was alleged), plus those closed *not* at fault under
  ``not_at_fault``, so the values still add up to every complaint filed but a cleared one never
  sits in a fault class; level 2 complaints likewise count only those not cleared. A reopened
  complaint is still one complaint, counted by where it stands now.

Scoped to one network (FBK-11: a partner network reads only its own), every figure counts only the
work that network's by-network row counts: the visits it held (their arrivals, repairs, repeats and
first-time fixes), the call-backs about them, the complaints and conduct findings naming it. A
technician who also worked for another network in the period shows only the work done for this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean

from contracts.fieldwork import VisitOutcome
from feedback.domain.callbacks import CallBackTask, TaskStatus
from feedback.domain.case import CENTRE, Case, Visit
from feedback.domain.complaints import Complaint
from feedback.domain.findings import ConductFinding, FindingStatus
from feedback.domain.policy import FeedbackPolicy

UNASSIGNED = "unassigned"
#: The key of ``complaints_by_class`` counting complaints closed with staff found not at fault.
NOT_AT_FAULT = "not_at_fault"


class GroupBy(StrEnum):
    """How figures are broken down."""

    TECHNICIAN = "technician"
    NETWORK = "network"


@dataclass
class Figures:
    """The quality figures of one technician or network (or everyone: key ``all``)."""

    key: str
    arrivals: int = 0
    late_arrivals: int = 0
    first_visits: int = 0
    fixed_first_time: int = 0
    visits: int = 0
    repeat_visits: int = 0
    repairs: int = 0
    repairs_passed: int = 0
    repairs_surveyed: int = 0
    attitude_scores: list[int] = field(default_factory=list)
    ability_scores: list[int] = field(default_factory=list)
    confirmed_conduct: int = 0
    complaints_by_class: dict[str, int] = field(
        default_factory=lambda: {"A": 0, "B": 0, "C": 0, "none": 0, NOT_AT_FAULT: 0}
    )
    complaints_level_2: int = 0
    min_coverage_percent: int = 8

    @property
    def on_time_rate(self) -> float | None:
        """Arrivals on time / arrivals."""
        return _ratio(self.arrivals - self.late_arrivals, self.arrivals)

    @property
    def first_time_fix_rate(self) -> float | None:
        """Orders fixed at the first visit / orders first visited."""
        return _ratio(self.fixed_first_time, self.first_visits)

    @property
    def repeat_visit_rate(self) -> float | None:
        """Repeat visits / visits."""
        return _ratio(self.repeat_visits, self.visits)

    @property
    def repair_pass_rate(self) -> float | None:
        """Repairs with no return within the window / repairs."""
        return _ratio(self.repairs_passed, self.repairs)

    @property
    def surveys(self) -> int:
        """Scored call-backs."""
        return len(self.attitude_scores)

    @property
    def attitude(self) -> float | None:
        """Mean service-attitude score (FBK-6)."""
        return round(fmean(self.attitude_scores), 4) if self.attitude_scores else None

    @property
    def ability(self) -> float | None:
        """Mean professional-ability score (FBK-6)."""
        return round(fmean(self.ability_scores), 4) if self.ability_scores else None

    @property
    def satisfaction(self) -> float | None:
        """Overall satisfaction: the arithmetic mean of the two item means (FBK-6)."""
        if self.attitude is None or self.ability is None:
            return None
        return round((fmean(self.attitude_scores) + fmean(self.ability_scores)) / 2, 4)

    @property
    def coverage_percent(self) -> float | None:
        """Share of repair records with a feedback survey, in percent (FBK-11)."""
        ratio = _ratio(self.repairs_surveyed, self.repairs)
        return None if ratio is None else round(ratio * 100, 2)

    @property
    def coverage_alarm(self) -> bool:
        """Call-back coverage below the policy minimum (FBK-11)."""
        # Exact, in integers: the rounded percent reads 8.0 for 87 of 1088 (7.996 %).
        return self.repairs > 0 and (
            self.repairs_surveyed * 100 < self.min_coverage_percent * self.repairs
        )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def compute(
    *,
    cases: Iterable[Case],
    tasks: Iterable[CallBackTask],
    complaints: Iterable[Complaint],
    findings: Iterable[ConductFinding],
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    policy: FeedbackPolicy,
    network_id: str | None = None,
) -> list[Figures]:
    """The figures of each technician or network over [start, end), then the total (``all``).
    With ``network_id`` (``centre`` for the centre's own), only that network's own work counts:
    the rows of the technicians who did it, or the network's own row (even empty), no total."""
    window = timedelta(days=policy.repeat_window_days)
    groups: dict[str, Figures] = {}
    total = Figures(key="all", min_coverage_percent=policy.min_call_back_coverage_percent)

    def of(key: str) -> list[Figures]:
        if key not in groups:
            groups[key] = Figures(
                key=key, min_coverage_percent=policy.min_call_back_coverage_percent
            )
        return [groups[key], total]

    def visit_key(case: Case) -> Callable[[Visit], str]:
        def key(visit: Visit) -> str:
            if group_by is GroupBy.TECHNICIAN:
                return visit.technician_id or UNASSIGNED
            return _network_of(visit)

        return key

    def counts(network: str) -> bool:
        # rule FBK-11: one network's figures are never computed from another network's work
        return network_id is None or network == network_id

    case_list = list(cases)
    task_list = list(tasks)
    # Call-backs about desk business (FBK-4) rate a desk clerk, not the field work.
    task_list = [t for t in task_list if t.desk_clerk is None]
    # Nor is the call-back after phone guidance (FBK-1) a survey of a repair record.
    surveyed: set[tuple[str, str | None]] = {
        (t.order_id, t.visit_id)
        for t in task_list
        if t.status is TaskStatus.DONE
        and t.survey is not None
        and t.survey.has_scores
        and not t.about_phone_guidance
    }
    for case in case_list:
        key = visit_key(case)
        real = [v for v in case.visits.values() if v.on_site]
        real.sort(key=lambda v: (v.closed_at or start, v.visit_id))
        first = real[0] if real else None

        for visit in case.visits.values():
            if _in(visit.arrived_at, start, end) and counts(_network_of(visit)):
                for f in of(key(visit)):
                    f.arrivals += 1
                    f.late_arrivals += 1 if (visit.minutes_late or 0) > 0 else 0
        for visit in real:
            if not counts(_network_of(visit)):
                continue
            if _in(visit.closed_at, start, end):
                for f in of(key(visit)):
                    f.visits += 1
                    f.repeat_visits += 1 if case.is_repeat(visit) else 0
            done = visit.repair_done_at
            if done is not None and _in(done, start, end):
                passed = not comes_back(case, done, window)
                has_survey = any(
                    (case.order_id, about) in surveyed
                    for about in (visit.visit_id, visit.unit_returned_on_visit, None)
                )
                for f in of(key(visit)):
                    f.repairs += 1
                    f.repairs_passed += 1 if passed else 0
                    f.repairs_surveyed += 1 if has_survey else 0
        if first is not None and _in(first.closed_at, start, end) and counts(_network_of(first)):
            for f in of(key(first)):
                f.first_visits += 1
                f.fixed_first_time += 1 if fixed_first_time(case, first, window) else 0

    case_by_order = {c.order_id: c for c in case_list}
    for task in task_list:
        if task.status is not TaskStatus.DONE or task.survey is None:
            continue
        if not task.survey.has_scores or not _in(task.completed_at, start, end):
            continue
        about = case_by_order.get(task.order_id)
        if not counts(_task_key(task, about, GroupBy.NETWORK)):
            continue
        for f in of(_task_key(task, about, group_by)):
            f.attitude_scores.append(task.survey.scores.service_attitude or 0)
            f.ability_scores.append(task.survey.scores.professional_ability or 0)

    for complaint in complaints:
        if not _in(complaint.filed_at, start, end) or not counts(complaint.network):
            continue
        key_value = (
            complaint.technician_id or UNASSIGNED
            if group_by is GroupBy.TECHNICIAN
            else complaint.network
        )
        for f in of(key_value):
            if complaint.cleared:
                # rule FBK-9/FBK-11: the finding cleared the staff, so no class counts against them
                f.complaints_by_class[NOT_AT_FAULT] += 1
                continue
            f.complaints_by_class[complaint.staff_fault_class or "none"] += 1
            f.complaints_level_2 += 1 if complaint.level == 2 else 0

    for finding in findings:
        if finding.status is not FindingStatus.CONFIRMED or not _in(finding.raised_at, start, end):
            continue
        if not counts(finding.network_id or CENTRE):
            continue
        key_value = (
            finding.technician_id or UNASSIGNED
            if group_by is GroupBy.TECHNICIAN
            else finding.network_id or CENTRE
        )
        for f in of(key_value):
            f.confirmed_conduct += 1

    if network_id is None:
        return [groups[k] for k in sorted(groups)] + [total]
    if group_by is GroupBy.NETWORK:
        # the total would only repeat the network's row; a network without work reads zeros
        return [
            groups.get(network_id)
            or Figures(key=network_id, min_coverage_percent=policy.min_call_back_coverage_percent)
        ]
    return [groups[k] for k in sorted(groups)]


def _network_of(visit: Visit) -> str:
    """The network a visit counts for: the one that held it, else the centre (FBK-11)."""
    return visit.network_id or CENTRE


def comes_back(
    case: Case, after: datetime, window: timedelta, *, limit: datetime | None = None
) -> bool:
    """Whether the order needed another attempt within ``window`` after ``after`` (until
    ``limit`` when given): a repeat visit booked, or a dissatisfied call-back that opened a
    revisit chain (FBK-7, FBK-11)."""
    limit = after + window if limit is None else limit
    repeat = any(
        case.is_repeat(v) and after < (v.booked_at or v.closed_at or after) <= limit
        for v in case.visits.values()
    )
    return repeat or any(after < c.opened_at <= limit for c in case.chains)


def fixed_first_time(case: Case, first: Visit, window: timedelta) -> bool:
    """Whether the order was fixed at its first real visit ``first`` (FBK-11): the visit ended
    completed and nothing came back within the window after it; or it took the unit back to the
    workshop (FLD-6) and the unit came back repaired with no other attempt at the problem from
    the visit until the window after the return.

    FBK-11 counts *first-time fix* per order and technician, and FLD-6/FLD-9 make the take-back
    the way a fault that cannot be fixed on site is fixed: the workshop's repair is that visit's
    repair (the repair record of :attr:`Visit.repair_done_at`). The customer needed no second
    attempt, so it is fixed the first time; bringing the unit back, on a visit of its own or not,
    is no attempt at the problem (``unit_return`` is no repeat reason). A repeat visit or a
    dissatisfied call-back from the take-back on, or within the window after the return, or a
    unit back unrepaired (or not back yet), is no first-time fix."""
    if first.closed_at is None:
        return False
    if first.completed:
        return not comes_back(case, first.closed_at, window)
    returned = first.work_done_at if first.outcome is VisitOutcome.TAKEN_BACK else None
    if returned is None:
        return False
    return not comes_back(case, first.closed_at, window, limit=returned + window)


def _task_key(task: CallBackTask, case: Case | None, group_by: GroupBy) -> str:
    if task.about_phone_guidance:
        # rule FBK-1: the centre's phone guidance, whoever the order was assigned to before
        # (tasks stored before this rule was kept may still name that technician)
        return UNASSIGNED if group_by is GroupBy.TECHNICIAN else CENTRE
    visit = case.visits.get(task.visit_id) if case is not None and task.visit_id else None
    if group_by is GroupBy.TECHNICIAN:
        return (
            task.technician_id
            or (visit.technician_id if visit else None)
            or (case.technician_id if case else None)
            or UNASSIGNED
        )
    if task.network_id:
        return task.network_id
    if visit is not None:
        return visit.network_id or CENTRE
    return (case.network_id if case else None) or CENTRE

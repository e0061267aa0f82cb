"""Read models of fieldwork (queries go here, not through the command bus)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path

from contracts.fieldwork import SignOff
from fieldwork.adapters.report import ReportLine, ServiceReport, render_service_report
from fieldwork.adapters.repository import Cursor
from fieldwork.adapters.storage import EvidenceStore
from fieldwork.domain.commands import Actor
from fieldwork.domain.coordination import CoordinationTicket
from fieldwork.domain.exceptions import (
    EvidenceNotFound,
    LoanerNotFound,
    OrderNotFound,
    ReportUnavailable,
    TakeBackNotFound,
    TicketNotFound,
)
from fieldwork.domain.model import OrderFile
from fieldwork.domain.visit import ENDED, Evidence, Visit
from fieldwork.domain.workshop import Loaner, LoanerState, TakeBack
from fieldwork.service_layer.handlers import load_visit
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork


async def order_file(order_id: str, *, uow: FieldworkUnitOfWork) -> OrderFile:
    """The order's file, events oldest first; OrderNotFound when nothing is known about it."""
    async with uow:
        found = await uow.order_files.get(order_id)
        if found is None:
            raise OrderNotFound(order_id)
        context = await uow.orders.get(order_id)
        found.anonymised_at = context.anonymised_at if context else None
        return found


async def visit(visit_id: str, *, actor: Actor, uow: FieldworkUnitOfWork) -> Visit:
    """The visit, if the actor may see it (a technician: only their own)."""
    async with uow:
        return await load_visit(uow, visit_id, actor)


async def visits(
    *,
    actor: Actor,
    uow: FieldworkUnitOfWork,
    order_id: str | None,
    include_ended: bool,
    after: Cursor | None = None,
    limit: int,
) -> list[Visit]:
    """Up to ``limit`` visits, oldest first, after ``after``: a technician's own, a partner
    key's network's (none for a key bound to no network), or (others) the visits of an order
    (none without one)."""
    technician_id = network_id = None
    if actor.restricted:
        technician_id = actor.technician_id or ""
    elif actor.partner:
        if actor.network_id is None:
            return []
        network_id = actor.network_id
    elif order_id is None:
        return []
    async with uow:
        return await uow.visits.search(
            technician_id=technician_id,
            network_id=network_id,
            order_id=order_id,
            ended_states=() if include_ended else [s.value for s in ENDED],
            after=after,
            limit=limit,
        )


async def evidence(
    visit_id: str, evidence_id: str, *, actor: Actor, uow: FieldworkUnitOfWork
) -> Evidence:
    """An upload of the visit, if the actor may see the visit (VisitNotFound otherwise, as for
    the visit itself); EvidenceNotFound when the visit has no such upload, or no longer has it
    (erased with the personal data past retention, BIL-11)."""
    found = await visit(visit_id, actor=actor, uow=uow)
    for item in found.evidence:
        if item.evidence_id == evidence_id:
            return item
    raise EvidenceNotFound(visit_id, evidence_id)


@dataclass(frozen=True)
class OrderTime:
    """On-site time of an order: per visit, and summed over visits (FLD-11)."""

    order_id: str
    visits: list[Visit]
    total_seconds: int


async def order_time(order_id: str, *, actor: Actor, uow: FieldworkUnitOfWork) -> OrderTime:
    """The order's visits the actor may see with their on-site time, unrounded, and the sum
    (FLD-11); OrderNotFound when there is none."""
    async with uow:
        found = [
            v
            for v in await uow.visits.for_order(order_id)
            if actor.may_see(technician_id=v.technician_id, network_id=v.network_id)
        ]
        if not found:
            raise OrderNotFound(order_id)
        return OrderTime(
            order_id=order_id,
            visits=found,
            total_seconds=sum(v.on_site_seconds for v in found),
        )


async def loaners(
    *,
    uow: FieldworkUnitOfWork,
    state: LoanerState | None = None,
    after_serial: str | None = None,
    limit: int,
) -> list[Loaner]:
    """Up to ``limit`` loaners of the inventory (in ``state``), by serial, after
    ``after_serial``."""
    async with uow:
        return await uow.loaners.list(state=state, after_serial=after_serial, limit=limit)


async def loaner(serial: str, *, uow: FieldworkUnitOfWork) -> Loaner:
    """A loaner of the inventory by its serial; LoanerNotFound when there is none."""
    async with uow:
        found = await uow.loaners.get(serial)
        if found is None:
            raise LoanerNotFound(serial)
        return found


async def take_back(receipt_number: str, *, uow: FieldworkUnitOfWork) -> TakeBack:
    """A take-back by its receipt number."""
    async with uow:
        found = await uow.take_backs.get(receipt_number)
        if found is None:
            raise TakeBackNotFound(receipt_number)
        return found


async def tickets(
    *,
    uow: FieldworkUnitOfWork,
    open_only: bool,
    owner: str | None = None,
    after: Cursor | None = None,
    limit: int,
) -> list[CoordinationTicket]:
    """Up to ``limit`` coordination tickets (of ``owner``), the next check due first, after
    ``after``."""
    async with uow:
        return await uow.tickets.list(open_only=open_only, owner=owner, after=after, limit=limit)


async def ticket(ticket_id: str, *, uow: FieldworkUnitOfWork) -> CoordinationTicket:
    """One coordination ticket."""
    async with uow:
        found = await uow.tickets.get(ticket_id)
        if found is None:
            raise TicketNotFound(ticket_id)
        return found


_OUTCOMES = {
    "completed": "已完成",
    "not_home": "用户不在家",
    "rebook": "改约再次上门",
    "declined": "用户不同意收费维修",
    "failed": "未能修复",
    "taken_back": "拉修返厂",
    "aborted": "中止",
    "cancelled": "已取消",
}
_RATINGS = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "fair": "一般",
    "dissatisfied": "不满意",
}


_RULE_NOTES = {
    "BIL-1": "按收费标准",
    "BIL-2": "按保修卡价格（取低）",
    "BIL-3": "同时处理的多项服务只收最高一项",
    "BIL-4": "材料费（进价加管理费）",
    "BIL-5": "安装后调试",
    "BIL-6": "升级/以旧换新",
}


#: What the report shows for the customer's details erased past retention (BIL-11).
ERASED_IN_REPORT = "已删除（超过保存期限）"


def _line_note(rule: str, covered: bool) -> str:
    if covered:
        return "保修免费"
    return _RULE_NOTES.get(rule, "")


def _local(moment: object, tz: tzinfo) -> str:
    from datetime import datetime

    if not isinstance(moment, datetime):
        return "—"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}小时{minutes}分{secs}秒" if hours else f"{minutes}分{secs}秒"


async def service_report_pdf(
    visit_id: str,
    *,
    actor: Actor,
    uow: FieldworkUnitOfWork,
    store: EvidenceStore,
    font: Path | None,
    tz: tzinfo,
) -> bytes:
    """The visit's service report for the customer, in Chinese, as PDF."""
    async with uow:
        found = await load_visit(uow, visit_id, actor)
        context = await uow.orders.get(found.order_id)
    if font is None:
        raise ReportUnavailable(
            "No CJK font is installed for the service report (install Debian's "
            "fonts-wqy-microhei or set FSM_FIELDWORK_REPORT_FONT).",
        )
    # The charge is the accepted quote (or the free quote of work needing no consent, BIL-1):
    # its lines, each with the rule that priced it, its total and the schedule version.
    quote = found.charged_quote
    lines = (
        [
            ReportLine(
                description=q.description,
                quantity=f"{q.quantity:f}",
                amount=f"{q.amount:.2f}",
                unit_price=f"{q.unit_price:.2f}",
                rule=q.rule_id,
                note=_line_note(q.rule_id, q.covered_by_warranty),
            )
            for q in quote.lines
        ]
        if quote is not None
        else []
    )
    total = found.amount_charged or Decimal(0)
    parts = list(found.completion.parts) if found.completion else []
    if not parts:
        parts = [p for step in found.work for p in step.parts]
    signed = found.signed_off
    signature = await store.get(signed.signature_ref) if signed and signed.signature_ref else None
    ratings = "—"
    if signed is not None:
        quality = _RATINGS.get(signed.repair_quality or "", "未评")
        attitude = _RATINGS.get(signed.service_attitude or "", "未评")
        ratings = f"维修质量 {quality}，服务态度 {attitude}"
    sign_text = "—"
    if signed is not None:
        sign_text = "客户已签字" if signed.sign_off is SignOff.SIGNED else "客户拒绝签字"
    # BIL-11: past retention the report still renders, the customer's details replaced by a
    # notice and without the signature image (its file is deleted); the facts of the visit stay.
    erased = context is not None and context.anonymised_at is not None
    tested = "—"
    if found.completion is not None:
        tested = ("已试机" if found.completion.tested else "未试机") + (
            "，确认修复" if found.completion.sure_fixed else "，未确认完全修复"
        )
    report = ServiceReport(
        order_id=found.order_id,
        visit_id=found.visit_id,
        customer=ERASED_IN_REPORT
        if erased
        else (context.customer_name if context else None) or "—",
        address=ERASED_IN_REPORT if erased else (context.address if context else None) or "—",
        product=" ".join(
            x for x in ((context.product_line, context.product_model) if context else ()) if x
        )
        or "—",
        technician=found.technician_id or "—",
        arrived_at=_local(found.arrived_at, tz),
        ended_at=_local(found.ended_at, tz),
        on_site=_duration(found.on_site_seconds),
        outcome=_OUTCOMES.get(found.state.value, found.state.value),
        fault=(context.fault if context else None) or "—",
        cause=found.cause or "—",
        remedy=found.remedy or "—",
        tested=tested,
        parts=[
            f"{p.name}（{p.part_no}）× {p.quantity:f}" + (f" 序列号 {p.serial}" if p.serial else "")
            for p in parts
        ],
        charges=lines,
        total=f"{total:.2f}",
        schedule_version=(quote.schedule_version if quote and quote.schedule_version else "—"),
        quote_id=quote.quote_id if quote and quote.quote_id else "—",
        ratings=ratings,
        sign_off=sign_text,
        amount_acknowledged=(
            f"{signed.amount_acknowledged:.2f} 元"
            if signed is not None and signed.amount_acknowledged is not None
            else "—"
        ),
        signature_image=signature,
    )
    return await asyncio.to_thread(render_service_report, report, font=font)

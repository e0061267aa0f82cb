"""Scheduling's unit of work: repositories, the outbox, and partner webhooks staged in the same
transaction as the change they report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Self

from sqlalchemy import select
from sqlmodel import col

from contracts.base import EventData
from contracts.envelope import EventEnvelope
from scheduling.adapters.repository import (
    DayPlanRepository,
    DispatchOrderRepository,
    NetworkRepository,
    PartnerMessageRepository,
    RosterCache,
    TechnicianRepository,
)
from scheduling.domain.partners import partner_body
from servicekit.db import SessionFactory
from servicekit.uow import SqlUnitOfWork
from servicekit.webhooks import enqueue
from servicekit.webhooks.tables import (
    WebhookMessageRow,
)


class SchedulingUnitOfWork(SqlUnitOfWork):
    """Unit of work with scheduling's repositories.

    Every event concerning an order a partner network holds (or just lost) is staged as a webhook
    delivery to that network in the same transaction: scheduling's own events as the kit's commit
    stages them (:meth:`staged`), other services' events through :meth:`notify_networks`.
    """

    orders: DispatchOrderRepository
    technicians: TechnicianRepository
    networks: NetworkRepository
    plans: DayPlanRepository
    partner_messages: PartnerMessageRepository

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        on_commit: Callable[[], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        roster: RosterCache | None = None,
    ) -> None:
        """``roster``: the process's technician roster cache, shared by its units of work
        (none: every roster is read from the table)."""
        super().__init__(session_factory, on_commit=on_commit, clock=clock)
        self._roster = roster

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.orders = DispatchOrderRepository(self.session)
        self.technicians = TechnicianRepository(self.session, roster=self._roster)
        self.networks = NetworkRepository(self.session)
        self.plans = DayPlanRepository(self.session)
        self.partner_messages = PartnerMessageRepository(self.session)
        return self

    async def notify_networks(
        self,
        envelope: EventEnvelope,
        *,
        holders: Iterable[str | None],
        former: Iterable[str | None] = (),
        erased: bool = False,
    ) -> None:
        """Stage ``envelope`` for the webhook endpoints of ``holders`` (networks holding the order)
        and ``former`` (networks that lost it in this change, or that the event concerns without
        holding the order, e.g. a complaint about their technician's earlier visit: told without
        contact details; one that lost the order reads an OrderWithdrawn instead of the event
        that took it, not who got it, :func:`partner_body`, also on an endpoint that subscribed
        to that event alone); with ``erased`` (the order's personal data was erased, BIL-11)
        told without any personal data, which is then stored nowhere again."""
        holding = {n for n in holders if n}
        raw = envelope.model_dump(mode="json")
        now = self._clock()
        for network_id in sorted(holding | {n for n in former if n}):
            body = partner_body(
                raw, holder=network_id in holding, erased=erased, network_id=network_id
            )
            # an endpoint that asked for the event the OrderWithdrawn stands for is told too
            withdrawn = body["type"] != envelope.type
            await enqueue(
                self.session,
                network_id,
                body["type"],
                str(envelope.id),
                body,
                now=now,
                subject=envelope.subject,
                also_for=(envelope.type,) if withdrawn else (),
            )

    async def notify_network(self, envelope: EventEnvelope, *, network_id: str) -> None:
        """Stage ``envelope``, an event about the partner network ``network_id`` itself rather
        than about an order (a new version of its rate card, BIL-12), for that network's webhook
        endpoints only, as it is: it holds no customer's data. Kept under no order (no
        ``subject``), so an order's erasure or the networks told of an order never find it."""
        await enqueue(
            self.session,
            network_id,
            envelope.type,
            str(envelope.id),
            envelope.model_dump(mode="json"),
            now=self._clock(),
        )

    async def networks_told(
        self, *, subject: str, event_type: str, data: Mapping[str, Any]
    ) -> set[str]:
        """The networks that were sent an event of ``event_type`` about ``subject`` whose data
        has the values of ``data`` (e.g. the FollowUpScheduled of a call-back's task)."""
        rows = await self.session.execute(
            select(col(WebhookMessageRow.owner_id), col(WebhookMessageRow.payload)).where(
                col(WebhookMessageRow.subject) == subject,
                col(WebhookMessageRow.event_type) == event_type,
            )
        )
        told = set()
        for owner_id, body in rows:
            sent = json.loads(body).get("data") or {}
            if all(sent.get(key) == value for key, value in data.items()):
                told.add(owner_id)
        return told

    async def staged(self, envelope: EventEnvelope, payload: EventData) -> None:
        """Stage each of scheduling's order events for the partner networks concerned: the one
        holding the order, and one that just lost or got it (told without contact details)."""
        order_id = getattr(payload, "order_id", None)
        if order_id is None:
            return  # not an order's event (e.g. WebhookEndpointDisabled for ops)
        order = next(
            (a for a in self._tracked if getattr(a, "order_id", None) == order_id),
            None,
        )
        await self.notify_networks(
            envelope,
            holders=[getattr(order, "network_id", None)],
            former=[
                getattr(payload, "previous_network_id", None),
                getattr(payload, "network_id", None),
            ],
            erased=getattr(order, "anonymised_at", None) is not None,
        )

"""Feedback's unit of work: its repositories plus the kit's outbox and inbox, in one transaction."""

from __future__ import annotations

from typing import Self

from feedback.adapters.repository import (
    CallBackRepository,
    CaseRepository,
    ComplaintRepository,
    DeskWorkRepository,
    FindingRepository,
    FraudRepository,
    IssueRepository,
    OrderFileRepository,
    SamplingRunRepository,
)
from servicekit.uow import SqlUnitOfWork


class FeedbackUnitOfWork(SqlUnitOfWork):
    """Unit of work with feedback's repositories."""

    order_files: OrderFileRepository
    cases: CaseRepository
    call_backs: CallBackRepository
    complaints: ComplaintRepository
    desk_work: DeskWorkRepository
    findings: FindingRepository
    frauds: FraudRepository
    issues: IssueRepository
    sampling_runs: SamplingRunRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.order_files = OrderFileRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.call_backs = CallBackRepository(self.session)
        self.complaints = ComplaintRepository(self.session)
        self.desk_work = DeskWorkRepository(self.session)
        self.findings = FindingRepository(self.session)
        self.frauds = FraudRepository(self.session)
        self.issues = IssueRepository(self.session)
        self.sampling_runs = SamplingRunRepository(self.session)
        return self

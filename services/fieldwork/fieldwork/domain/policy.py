"""Every number of the on-site rules (FLD-1..FLD-15), as defaults of the policy file's
``fieldwork`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: FLD-1: what every technician checks before leaving, whatever the job.
DEFAULT_KIT: tuple[str, ...] = (
    "tools",
    "spare_parts",
    "warranty_record_sheet",
    "receipts",
    "fee_schedule",
    "message_note",
    "id_card",
    "shoe_covers",
    "drop_cloth",
)


def _default_kits() -> dict[str, list[str]]:
    return {
        "default": list(DEFAULT_KIT),
        "installation": [*DEFAULT_KIT, "barcode_scanner", "installation_accessories"],
        "water_purifier": [*DEFAULT_KIT, "tds_meter", "filter_cartridges"],
        "gas_appliance": [*DEFAULT_KIT, "gas_leak_detector"],
    }


class FieldworkPolicy(BaseModel):
    """The fieldwork section of the policy file (RULES.md, On-site execution)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idempotency_key_ttl_hours: int = Field(
        default=24, ge=1, description="Idempotency-Key records are kept this long."
    )

    kit_lists: dict[str, list[str]] = Field(default_factory=_default_kits)
    """FLD-1: the kit list per job type (the order's product line, or `installation`); `default`
    applies to any other job type."""
    loaner_kit_item: str = "loaner"
    """FLD-1/INT-6: the kit item a take-back-likely order adds to the list."""
    loaner_collect_within_days: int = Field(default=3, ge=0)
    """FLD-6: a loaner the customer kept when their taken-back unit came back is collected within
    this many calendar days after the day of the return (business time zone), like the promised
    return date it follows; still out after that, it is chased (LoanerCollectionOverdue)."""
    take_back_return_max_days: int = Field(default=30, ge=1)
    """FLD-6: the latest return date a take-back may promise, in calendar days after the day the
    unit is taken (business time zone); a later one is refused. FLD-6 sets no number: a month
    covers a workshop repair with parts ordered, and a promise beyond it is a typing error, not
    one the overdue chase (UnitReturnOverdue) could ever hold the centre to."""
    door_knock_interval_seconds: int = Field(default=30, ge=1)
    """FLD-2: knock again every this many seconds while nobody answers."""
    not_home_after_minutes: int = Field(default=5, ge=0)
    """FLD-2: "not home" may be recorded no earlier than this after arrival."""
    not_home_requires_phone_attempt: bool = True
    """FLD-2: "not home" needs a phone attempt first."""
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """FLD-10: the largest photo, barcode or signature image accepted."""
    upload_max_pixels: int = Field(default=25_000_000, ge=1)
    """FLD-10: the most pixels (width x height, from the image's header) an uploaded image may
    have: a small file can decode to gigabytes (in the service report, for one)."""
    upload_content_types: list[str] = Field(
        default_factory=lambda: ["image/jpeg", "image/png", "image/webp"]
    )
    """FLD-10: the image types accepted."""
    installation_min_photos: int = Field(default=1, ge=1)
    """FLD-10: photos of the result InstallationCompleted needs."""
    installation_min_barcodes: int = Field(default=1, ge=1)
    """FLD-10: barcode scans InstallationCompleted needs."""
    unfinished_in_home_days: int = Field(default=0, ge=0)
    """FLD-15: an in-home order not finished within this many days after the day of its first
    visit (0: the same day) becomes a coordination ticket."""
    unfinished_public_area_days: int = Field(default=3, ge=0)
    """FLD-15: the same for public areas."""
    coordination_check_interval_days: int = Field(default=15, ge=1)
    """FLD-15: the team lead checks open coordination tickets twice a month."""
    rework_free: bool = True
    """FBK-7: a revisit booked because the customer was not satisfied with the work done is
    rework of that work: diagnosed free by default (items quoted for the record, no consent
    asked). The technician still records new, different work as chargeable (``chargeable``)."""
    coordination_default_owner: str = "team_lead"
    """FLD-15: the owner of a new coordination ticket, until a dispatcher names another."""
    offline_max_batch: int = Field(default=200, ge=1)
    """Offline app: the most actions one batch may carry."""
    offline_clock_skew_seconds: int = Field(default=300, ge=0)
    """Offline app: how far in the future an action's time may be (phone clocks drift); also how
    far before the departure the ETA the phone computed may fall, and how far in the future a
    coordination ticket's contact may be dated (FLD-15)."""
    offline_before_assignment_minutes: int = Field(default=60, ge=0)
    """Offline app: an action may be dated this long before fieldwork heard of the visit's
    assignment (a dispatcher sends a technician by phone and enters the assignment after);
    one dated earlier is refused (FLD-11, SCH-7: no on-site time or on-time arrival before the
    order was there to serve)."""
    offline_max_age_days: int = Field(default=7, ge=1)
    """Offline app: an action dated longer ago than this is refused (an absurd date is a client
    fault: it would make arrivals years early and on-site times of centuries, FLD-11)."""
    eta_horizon_hours: int = Field(default=24, ge=1)
    """SCH-6/SCH-7: a departure's ETA lies between the departure and this many hours after it;
    one outside is refused rather than told to the customer as a delay."""
    work_item_horizon_hours: int = Field(default=12, ge=1)
    """BIL-3/BIL-5: a work item's `handled_at` lies between the arrival and this many hours
    after the diagnosis that lists it (billing bundles and dates the items by it)."""
    list_page_default: int = Field(default=50, gt=0)
    """Rows on a page of a list (visits, loaners, coordination tickets) when the caller names no
    ``limit``."""
    list_page_max: int = Field(default=200, gt=0)
    """The most rows on a page of a list; a larger ``limit`` is cut to it (``next_cursor`` says
    more remain)."""

    @field_validator("kit_lists")
    @classmethod
    def _has_default_kit(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if "default" not in value:
            raise ValueError("kit_lists needs a 'default' list")
        return value

    @model_validator(mode="after")
    def _page_sizes(self) -> FieldworkPolicy:
        if self.list_page_default > self.list_page_max:
            raise ValueError("list_page_default must not exceed list_page_max")
        return self

    def kit_for(self, job_type: str, *, loaner_required: bool) -> list[str]:
        """The kit list of ``job_type`` (FLD-1), with the loaner when the order asks for one."""
        items = list(self.kit_lists.get(job_type, self.kit_lists["default"]))
        if loaner_required and self.loaner_kit_item not in items:
            items.append(self.loaner_kit_item)
        return items


POLICY_MODEL = FieldworkPolicy

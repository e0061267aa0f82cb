"""Intake's policy: every number of rules INT-1..INT-8 and of closing orders (section ``intake``
of the policy file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntakePolicy(BaseModel):
    """The ``intake`` section of the policy file; the defaults are the numbers of RULES.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handover_within_working_minutes: int = Field(
        default=60, ge=1, description="INT-3: hand the order to technical support within (working)."
    )
    reply_within_working_minutes: int = Field(
        default=480, ge=1, description="INT-3: reply to the customer within (working time)."
    )
    remote_call_back_after_minutes: int = Field(
        default=120,
        ge=1,
        description="INT-4 / FBK-1: call back after phone guidance (working time, on the business "
        "calendar, as feedback schedules it).",
    )
    emergency_on_site_minutes: int = Field(
        default=15, ge=1, description="INT-7: someone on site within (wall-clock)."
    )
    emergency_fault_codes: list[str] = Field(
        default_factory=lambda: ["gas_leak", "water_leak", "danger_to_people"],
        description="INT-7: fault codes that make an order an emergency whatever the flag says.",
    )
    warranty_months_by_line: dict[str, int] = Field(
        default_factory=lambda: {
            "air_conditioner": 72,
            "refrigerator": 36,
            "washing_machine": 36,
            "water_heater": 36,
            "gas_stove": 12,
            "range_hood": 12,
            "water_purifier": 12,
        },
        description="INT-5: warranty period per product line (seed of the admin-editable table).",
    )
    commercial_use_voids_warranty: bool = Field(
        default=True, description="INT-5: commercial use of a household product voids warranty."
    )
    take_back_product_lines: list[str] = Field(
        default_factory=lambda: ["microwave_oven", "water_dispenser"],
        description="INT-6: lines usually repaired in the workshop (loaner on the first visit).",
    )
    take_back_fault_codes: list[str] = Field(
        default_factory=lambda: ["compressor_failure", "sealed_system_leak", "mainboard_burnt"],
        description="INT-6: fault codes that predict a take-back repair.",
    )
    purchase_date_floor_years: int = Field(
        default=30,
        ge=1,
        le=200,
        description="INT-2: a purchase or installation date more than this many years before "
        "the day the order is taken is doubtful (no appliance line serviced is that old) and is "
        "flagged for verification.",
    )
    preferred_window_past_grace_minutes: int = Field(
        default=15,
        ge=0,
        description="A preferred window that ended at most this long ago is still accepted: an "
        "agent may type the current hour as the call ends; one that ended earlier is refused.",
    )
    preferred_window_horizon_days: int = Field(
        default=60,
        ge=1,
        description="A preferred window must start within this many days of the order (no "
        "visit is booked further ahead); later ones are refused.",
    )
    preferred_window_max_hours: int = Field(
        default=24,
        ge=1,
        description="The longest preferred window: one whole day. Scheduling places a window on "
        "the local day it starts (SCH-1, SCH-3); a customer free on several days gives one "
        "window per day.",
    )
    idempotency_key_ttl_hours: int = Field(
        default=24, ge=1, description="Idempotency-Key records are kept this long."
    )
    sla_check_every_seconds: int = Field(
        default=30, ge=1, description="How often the SLA clocks are checked for breaches."
    )
    list_page_default: int = Field(
        default=50, ge=1, description="Rows on a page of GET /v1/orders when no `limit` is given."
    )
    list_page_max: int = Field(
        default=200,
        ge=1,
        description="Largest page of GET /v1/orders; a larger `limit` is cut to it.",
    )
    close_after_quiet_days: int = Field(
        default=7,
        ge=1,
        description="An order followed up with the customer satisfied and no complaint open "
        "closes after this many days with nothing new on it (FBK-7, FBK-10); longer than the "
        "FBK-4 sampling window (work done 3-5 days earlier), so a sampled call-back comes first.",
    )
    close_check_every_seconds: int = Field(
        default=600, ge=1, description="How often orders are checked for closing."
    )


POLICY_MODEL = IntakePolicy

"""A set-up item on a new order for a unit the platform installed earlier is dated by that
installation, found by the unit's serial (BIL-5)."""

from __future__ import annotations

from datetime import date, timedelta

from billing.domain.account import BillingAccount, QuoteRequest
from billing.domain.installations import Installation, installation_of, serial_key
from contracts.common import WarrantyStatus, WorkItem, WorkItemKind

from .test_account import NOW, POLICY, SHANGHAI
from .test_pricing import schedule

SETUP = WorkItem(kind=WorkItemKind.FEE, description="software adjustment", fee_code="S01")
TODAY = NOW.astimezone(SHANGHAI).date()  # 2026-05-06
LAST_MONTH = Installation(
    order_id="o-0", product_line="water_heater", serial="SN-123 AB", installed_on=date(2026, 4, 20)
)


def _new_order(
    serial: str | None = " sn-123ab ", installed_on: date | None = None
) -> BillingAccount:
    account = BillingAccount(order_id="o-1")
    account.learn_order(
        product_line="water_heater",
        warranty_status=WarrantyStatus.OUT_OF_WARRANTY,
        customer=None,
        installed_on=None,
        serial=serial,
    )
    account.request_quote(
        QuoteRequest(
            request_id="r-1",
            visit_id="v-1",
            items=[SETUP],
            requested_at=NOW,
            installed_on=installed_on,
        )
    )
    return account


def _setup_line(account: BillingAccount, *installations: Installation) -> tuple[str, str, str]:
    [quote] = account.price_pending(
        schedules={"water_heater": schedule()},
        policy=POLICY,
        now=NOW,
        tz=SHANGHAI,
        installations=installations,
    )
    [line] = quote.lines
    return str(line.amount), line.rule_id, line.note or ""


def test_bil_5_serials_are_compared_without_spaces_and_case_as_intake_does() -> None:
    assert serial_key(" sn-123 ab\t") == serial_key("SN-123AB") == "sn-123ab"
    assert serial_key(None) == serial_key("  ") == ""


def test_bil_5_setup_on_a_new_order_is_dated_by_the_units_earlier_installation() -> None:
    amount, rule, note = _setup_line(_new_order(), LAST_MONTH)

    assert (amount, rule) == ("0.00", "BIL-5")  # 16 days after the installation: free
    assert "within 1 month(s) of installation: free" in note
    assert "installed on 2026-04-20 by order o-0" in note and "SN-123 AB" in note


def test_bil_5_without_an_installation_of_the_unit_setup_is_charged_per_schedule() -> None:
    other_unit = Installation(
        order_id="o-9", product_line="water_heater", serial="SN-999", installed_on=date(2026, 4, 20)
    )
    other_line = Installation(
        order_id="o-8", product_line="boiler", serial="SN-123AB", installed_on=date(2026, 4, 20)
    )

    amount, rule, note = _setup_line(_new_order(), other_unit, other_line)

    assert (amount, rule, note) == (
        "60.00",
        "BIL-5",
        "installation date unknown: charged per schedule",
    )
    assert _setup_line(_new_order(serial=None), LAST_MONTH)[0] == "60.00"


def test_bil_5_a_setup_long_after_the_recorded_installation_is_charged_and_says_why() -> None:
    long_ago = Installation(
        order_id="o-0",
        product_line="water_heater",
        serial="SN-123AB",
        installed_on=date(2025, 1, 6),
    )

    amount, _, note = _setup_line(_new_order(), long_ago)

    assert amount == "60.00"
    assert note == "installed on 2025-01-06 by order o-0 (same unit, serial SN-123AB)"


def test_bil_5_the_date_the_order_or_the_technician_gives_wins_over_the_recorded_one() -> None:
    account = _new_order(installed_on=date(2025, 1, 6))

    amount, _, note = _setup_line(account, LAST_MONTH)

    assert (amount, note) == ("60.00", "")


def test_bil_5_the_latest_installation_of_the_unit_by_the_quote_day_dates_it() -> None:
    earlier = Installation(
        order_id="o-a", product_line="water_heater", serial="SN-1", installed_on=date(2025, 1, 6)
    )
    latest = Installation(
        order_id="o-b", product_line="water_heater", serial="sn-1", installed_on=date(2026, 4, 20)
    )
    after = Installation(
        order_id="o-c",
        product_line="water_heater",
        serial="SN-1",
        installed_on=TODAY + timedelta(1),
    )

    found = installation_of(
        [earlier, latest, after], product_line="water_heater", serial=" SN-1 ", by=TODAY
    )

    assert found is latest


def test_bil_5_an_order_whose_installation_was_completed_records_it_by_its_units_serial() -> None:
    account = BillingAccount(order_id="o-0")
    account.work_completed("installation", date(2026, 4, 20), visit_id="v-1", at=NOW)
    assert account.installation is None  # the unit is not known yet: OrderCreated comes later

    account.learn_order(
        product_line="water_heater",
        warranty_status=WarrantyStatus.OUT_OF_WARRANTY,
        customer=None,
        installed_on=None,
        serial="SN-123 AB",
    )

    assert account.installation == LAST_MONTH
    repaired = BillingAccount(order_id="o-2", product_line="water_heater")
    repaired.learn_order(
        product_line=None,
        warranty_status=WarrantyStatus.UNKNOWN,
        customer=None,
        installed_on=None,
        serial="SN-123 AB",
    )
    repaired.work_completed("repair", visit_id="v-1", at=NOW)
    assert repaired.installation is None

"""Phones with an extension (INT-1, INT-2, INT-8): the notations call centres use are read, the
extension is kept apart from the E.164 number, a bad one is refused, and a switchboard's
extensions are told apart when matching customers (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import phonenumbers
import pytest
from pydantic import ValidationError

from contracts.common import Address, Channel, Customer, Fault, Product
from intake.domain.model import Order
from intake.domain.policy import IntakePolicy
from intake.domain.rules import (
    MAX_EXTENSION_DIGITS,
    Phone,
    WarrantyTable,
    same_caller,
    share_a_phone,
)
from intake.entrypoints.schemas import CustomerIn, parse_phone
from servicekit.calendar import BusinessCalendar

NOW = datetime(2025, 5, 30, 2, 0, tzinfo=UTC)
SWITCHBOARD = "+861062345678"


# INT-1: the notations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "010-62345678转123",
        "010-62345678 转 123",
        "010-62345678轉123",
        "010-62345678-分机123",
        "010-62345678 分機：123",
        "010-62345678 转分机号 123",
        "010-62345678 ext. 123",
        "010-62345678 EXT:123",
        "010-62345678 extension 123",
        "010-62345678 x123",
        "010-62345678#123",
        "010-62345678-123#",
        "010-62345678,,123",
        "010-62345678转１２３",  # full-width digits, as a Chinese IME types them
        "+861062345678;ext=123",
        "tel:+86-10-62345678;ext=123",
    ],
)
def test_int_1_every_extension_notation_keeps_the_extension_apart_from_the_number(
    raw: str,
) -> None:
    assert parse_phone(raw) == Phone(number=SWITCHBOARD, extension="123")


def test_int_1_the_call_centre_examples_keep_their_extensions() -> None:
    assert parse_phone("0546-8123456分机 8001") == Phone("+865468123456", "8001")
    assert parse_phone("010-62345678 ext. 123") == Phone(SWITCHBOARD, "123")


def test_int_1_a_number_without_extension_has_none_and_a_mobile_may_have_one() -> None:
    assert parse_phone("010-62345678") == Phone(SWITCHBOARD, None)
    assert parse_phone("tel:62345678;phone-context=+86-10") == Phone(SWITCHBOARD, None)
    # Suspicious, but phonenumbers decides validity, and it takes a mobile with an extension.
    assert parse_phone("13800138000转12") == Phone("+8613800138000", "12")


def test_the_phone_text_round_trips_as_rfc_3966() -> None:
    phone = Phone(SWITCHBOARD, "0123")
    assert str(phone) == "+861062345678;ext=0123"
    assert Phone.from_text(str(phone)) == phone
    assert parse_phone(str(phone)) == phone
    assert Phone.from_text(SWITCHBOARD) == Phone(SWITCHBOARD, None)


# INT-2: malformed extensions are refused ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("010-62345678 转 12a", "not digits"),
        ("010-62345678 分机 前台", "not digits"),
        ("010-62345678 ext. 12-34", "not digits"),
        ("010-62345678转", "gives none"),
        ("010-62345678 ext.", "gives none"),
        ("010-62345678,,1 转 2", "two extensions"),
        ("010-62345678转" + "1" * (MAX_EXTENSION_DIGITS + 1), f"at most {MAX_EXTENSION_DIGITS}"),
        ("转123", "not a phone number"),
        ("12345 转 1", "not a valid phone number"),
    ],
)
def test_int_2_an_extension_that_is_not_digits_or_too_long_is_refused_saying_why(
    raw: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        parse_phone(raw)


def test_int_2_the_longest_extension_is_phonenumbers_own_limit() -> None:
    longest = "1" * MAX_EXTENSION_DIGITS
    assert parse_phone(f"010-62345678转{longest}").extension == longest
    assert phonenumbers.parse(f"010-62345678;ext={longest}", "CN").extension == longest
    with pytest.raises(phonenumbers.NumberParseException):
        phonenumbers.parse(f"010-62345678;ext={longest}1", "CN")


def test_int_1_the_customer_keeps_extensions_by_number_and_one_per_number() -> None:
    customer = CustomerIn.model_validate(
        {
            "name": "东营宾馆",
            "phone": "0546-8221234 转 8001",
            "phones": ["0546-8221234", "13905461234", "010-62345678分机9"],
            "address": "东营市济南路88号",
        }
    )
    assert customer.to_value().phones == ["+865468221234", "+8613905461234", SWITCHBOARD]
    # The bare switchboard number merges into the one with the extension (it reaches it too).
    assert customer.phone_extensions() == {"+865468221234": "8001", SWITCHBOARD: "9"}


def test_int_2_one_number_with_two_extensions_is_refused_on_customer_phones() -> None:
    with pytest.raises(ValidationError) as refused:
        CustomerIn.model_validate(
            {
                "name": "东营宾馆",
                "phone": "0546-8221234转8001",
                "phones": ["0546-8221234转8002"],
                "address": "东营市济南路88号",
            }
        )
    [error] = refused.value.errors()
    assert error["loc"] == ("phones",)
    assert "different extensions" in error["msg"]


# INT-8: which phones are the same customer's ---------------------------------------------------


def test_int_8_extensions_of_one_switchboard_are_different_people_the_bare_number_any() -> None:
    front_desk, kitchen, line = Phone(SWITCHBOARD, "1"), Phone(SWITCHBOARD, "2"), Phone(SWITCHBOARD)
    assert same_caller(front_desk, Phone(SWITCHBOARD, "1"))
    assert not same_caller(front_desk, kitchen)
    assert same_caller(front_desk, line) and same_caller(line, kitchen)
    assert same_caller(line, Phone(SWITCHBOARD))
    assert not same_caller(Phone("+8613800138000", "1"), front_desk)
    assert share_a_phone([Phone("+8613800138000"), kitchen], [front_desk, Phone("+8613800138000")])
    assert not share_a_phone([kitchen], [front_desk])


# The aggregate keeps the extensions -------------------------------------------------------------


def _order(extensions: dict[str, str]) -> Order:
    return Order.take(
        customer=Customer(
            name="东营宾馆", phones=[SWITCHBOARD], address=Address(detail="东营市济南路88号")
        ),
        product=Product(line="gas_stove", model="JZT-FD21BE", purchase_date=date(2025, 1, 1)),
        fault=Fault(description="灶具打不着火"),
        channel=Channel.HOTLINE,
        now=NOW,
        phone_extensions=extensions,
    )


def test_int_1_the_order_keeps_only_extensions_of_the_customers_phones() -> None:
    order = _order({SWITCHBOARD: "8001", "+8613800138000": "1"})
    assert order.phone_extensions == {SWITCHBOARD: "8001"}
    assert order.phones == [Phone(SWITCHBOARD, "8001")]
    # The event's customer is the contract's: E.164 phones, no extension field.
    assert order.events[0].customer.phones == [SWITCHBOARD]


def test_int_2_a_corrected_extension_alone_is_a_corrected_customer() -> None:
    order = _order({SWITCHBOARD: "8001"})
    event = order.verify(
        now=order.created_at,
        policy=IntakePolicy(),
        calendar=BusinessCalendar(),
        reported_on=date(2025, 5, 30),
        warranty=WarrantyTable(),
        verified_by="agent 7",
        customer=order.customer,
        phone_extensions={SWITCHBOARD: "8002"},
    )
    assert order.phone_extensions == {SWITCHBOARD: "8002"}
    assert event.customer == order.customer_with_extensions()
    assert event.customer is not None and event.customer.phone_extensions == {SWITCHBOARD: "8002"}
    # Without a customer the extensions stay as they are.
    order.verify(
        now=order.created_at,
        policy=IntakePolicy(),
        calendar=BusinessCalendar(),
        reported_on=date(2025, 5, 30),
        warranty=WarrantyTable(),
        verified_by="agent 7",
        confirmed=["customer.address"],
        phone_extensions={},
    )
    assert order.phone_extensions == {SWITCHBOARD: "8002"}

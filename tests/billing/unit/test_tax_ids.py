"""Buyer tax ids on invoices (BIL-7): the unified social credit code's check character."""

from __future__ import annotations

import pytest

from billing.domain.tax_ids import check_character, tax_id_problem


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L"])
def test_bil_7_a_unified_social_credit_code_with_its_check_character_is_accepted(
    code: str,
) -> None:
    assert check_character(code[:17]) == code[17]
    assert tax_id_problem(code) is None


@pytest.mark.parametrize(
    ("tax_id", "problem"),
    [
        ("91350100M000100Y44", "should be 3"),
        ("not-a-tax-id!!", "18-character"),
        ("91X", "18-character"),
        ("9135010OM000100Y43", "18-character"),  # the letter O is not in the code's alphabet
    ],
)
def test_bil_7_a_malformed_tax_id_says_what_is_wrong(tax_id: str, problem: str) -> None:
    found = tax_id_problem(tax_id)
    assert found is not None and problem in found


def test_bil_7_older_15_and_20_character_taxpayer_numbers_are_accepted() -> None:
    assert tax_id_problem("110108123456789") is None
    assert tax_id_problem("11010819800101123X00") is None

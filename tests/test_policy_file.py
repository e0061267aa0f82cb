"""The shipped policy file is valid and states every default of RULES.md explicitly."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import BaseModel

from servicekit.calendar import CalendarPolicy
from servicekit.policy import SECTIONS, PolicyError, load_section, read_policy_file

POLICY_FILE = Path(__file__).resolve().parent.parent / "policy.yaml"
SERVICES = ("intake", "scheduling", "fieldwork", "billing", "feedback")


def _service_policy_model(service: str) -> type[BaseModel] | None:
    try:
        module = importlib.import_module(f"{service}.domain.policy")
    except ModuleNotFoundError:
        return None
    return getattr(module, "POLICY_MODEL", None)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_section_lists_every_default(service: str) -> None:
    model = _service_policy_model(service)
    section = read_policy_file(POLICY_FILE).get(service)
    if model is None:
        assert section == {}, f"{service} has a section but no domain/policy.py POLICY_MODEL"
        return
    assert load_section(model, section=service, path=POLICY_FILE) == model()
    assert section == model().model_dump(mode="json")


def test_calendar_section_is_the_default_calendar() -> None:
    loaded = load_section(CalendarPolicy, section="calendar", path=POLICY_FILE)
    assert loaded == CalendarPolicy()


def test_a_bad_value_is_refused_naming_the_section(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("calendar:\n  timezone: Mars/Olympus\n")
    with pytest.raises(PolicyError, match="calendar"):
        load_section(CalendarPolicy, section="calendar", path=bad)


def test_int_3_the_policy_corrects_the_holiday_calendar_where_the_package_only_estimates() -> None:
    from datetime import date

    from pydantic import ValidationError

    package_only = CalendarPolicy().build()
    corrected = CalendarPolicy(
        extra_holidays=[date(2027, 2, 11)],  # a Thursday the package counts as worked
        extra_workdays=[date(2027, 2, 20)],  # a make-up Saturday (调休)
    ).build()

    assert package_only.is_working_day(date(2027, 2, 11))
    assert not package_only.is_working_day(date(2027, 2, 20))
    assert not corrected.is_working_day(date(2027, 2, 11))
    assert corrected.is_working_day(date(2027, 2, 20))
    with pytest.raises(ValidationError, match="both"):
        CalendarPolicy(extra_holidays=[date(2027, 2, 20)], extra_workdays=[date(2027, 2, 20)])


def test_the_known_sections_are_the_calendar_and_one_per_service() -> None:
    assert {"calendar", *SERVICES} == SECTIONS
    assert set(read_policy_file(POLICY_FILE)) == SECTIONS


def test_a_misspelt_section_is_refused_naming_the_file_and_section(tmp_path: Path) -> None:
    # Ignoring it would leave intake on its built-in defaults without a word.
    misspelt = tmp_path / "policy.yaml"
    misspelt.write_text("intak:\n  close_after_quiet_days: 3\nextra: {}\n")

    with pytest.raises(PolicyError) as refused:
        load_section(CalendarPolicy, section="calendar", path=misspelt)

    assert str(refused.value).splitlines() == [
        f"policy file {misspelt}: intak: unknown section (did you mean 'intake'?)",
        f"policy file {misspelt}: extra: unknown section (known: billing, calendar, feedback, "
        "fieldwork, intake, scheduling)",
    ]


def test_each_bad_value_is_one_line_naming_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("calendar:\n  timezone: Mars/Olympus\n  working_periods: late\n  timezon: UTC\n")

    with pytest.raises(PolicyError) as refused:
        load_section(CalendarPolicy, section="calendar", path=bad)

    lines = str(refused.value).splitlines()
    assert [line.removeprefix(f"policy file {bad}: ").split(":")[0] for line in lines] == [
        "calendar.timezone",
        "calendar.working_periods",
        "calendar.timezon",
    ]
    assert lines[-1].endswith("calendar.timezon: unknown key (did you mean 'timezone'?)")


def test_int_4_fbk_1_the_call_back_after_phone_guidance_is_one_number_in_both_sections(
    tmp_path: Path,
) -> None:
    """Intake tells the customer when feedback will call back: a file setting the two apart (or
    only one of them, away from the shared default) is refused by both services, naming both
    keys."""
    intake_model = _service_policy_model("intake")
    feedback_model = _service_policy_model("feedback")
    assert intake_model is not None and feedback_model is not None
    shared_default = intake_model.model_fields["remote_call_back_after_minutes"].default
    assert feedback_model.model_fields["remote_call_back_minutes"].default == shared_default
    apart = tmp_path / "apart.yaml"
    apart.write_text(
        "intake:\n  remote_call_back_after_minutes: 90\n"
        "feedback:\n  remote_call_back_minutes: 120\n"
    )
    only_one = tmp_path / "only-one.yaml"
    only_one.write_text("feedback:\n  remote_call_back_minutes: 60\n")
    for path in (apart, only_one):
        for service, model in (("intake", intake_model), ("feedback", feedback_model)):
            with pytest.raises(PolicyError) as refused:
                load_section(model, section=service, path=path)
            assert "intake.remote_call_back_after_minutes" in str(refused.value)
            assert "feedback.remote_call_back_minutes" in str(refused.value)
    # Other sections are not held up by it.
    assert load_section(CalendarPolicy, section="calendar", path=apart) == CalendarPolicy()

    together = tmp_path / "together.yaml"
    together.write_text(
        "intake:\n  remote_call_back_after_minutes: 90\nfeedback:\n  remote_call_back_minutes: 90\n"
    )
    assert load_section(feedback_model, section="feedback", path=together) == feedback_model(
        remote_call_back_minutes=90
    )
    # One side spelt out at the shared default agrees with the other side's default.
    one_at_default = tmp_path / "one-at-default.yaml"
    one_at_default.write_text(f"feedback:\n  remote_call_back_minutes: {shared_default}\n")
    for service, model in (("intake", intake_model), ("feedback", feedback_model)):
        assert load_section(model, section=service, path=one_at_default) == model()

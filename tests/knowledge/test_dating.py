"""The period a question asks about, and the dates a policy says it is in force."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.dating import Period, effective_dates, question_period

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        ("How many days of annual leave do I get?", TODAY, TODAY),
        ("What was the parental leave in 2024?", date(2024, 1, 1), date(2024, 12, 31)),
        ("How much leave did I get in March 2025?", date(2025, 3, 1), date(2025, 3, 31)),
        ("I take leave on 3 March 2027, how much notice do I need?", date(2027, 3, 3), date(2027, 3, 3)),
        ("What applies from January 1, 2027?", date(2027, 1, 1), date(2027, 1, 1)),
        ("What applied on 2025-06-30?", date(2025, 6, 30), date(2025, 6, 30)),
        ("How long was partner leave before 2025?", date(2024, 12, 31), date(2024, 12, 31)),
        ("What changes after 2026?", date(2027, 1, 1), date(2027, 1, 1)),
        ("How much leave did I get last year?", date(2025, 1, 1), date(2025, 12, 31)),
        ("Will I get more leave next year?", date(2027, 1, 1), date(2027, 12, 31)),
        ("How many days do I get this year?", TODAY, TODAY),
        ("What was the allowance next month?", date(2026, 12, 1), date(2026, 12, 31)),
        ("Compare leave in 2024 and 2025", date(2024, 1, 1), date(2025, 12, 31)),
        # Dates about the person, amounts and codes do not move the question in time.
        ("I joined in 2019, how much leave do I get?", TODAY, TODAY),
        ("I started on 1 March 2020; what is my notice period?", TODAY, TODAY),
        ("Can I expense 2025 EUR for a laptop?", TODAY, TODAY),
        ("Is form 20255 needed?", TODAY, TODAY),
        ("Can I carry unused holiday into next year?", TODAY, TODAY),
        ("Can I carry days over to 2027?", TODAY, TODAY),
        ("Is 31 February 2025 a holiday?", date(2025, 2, 1), date(2025, 2, 28)),
    ],
)
def test_question_period(question: str, start: date, end: date) -> None:
    assert question_period(question, TODAY) == Period(start, end)


@given(st.text(max_size=300))
def test_any_text_gives_a_well_formed_period(text: str) -> None:
    period = question_period(text, TODAY)
    assert period.start <= period.end


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# Leave\n\nIt applies to all employees in every office from 1 January 2026.", (date(2026, 1, 1), None)),
        ("Effective 1 January 2026.", (date(2026, 1, 1), None)),
        (
            "This edition was effective from 1 January 2025 until 31 December 2025.",
            (date(2025, 1, 1), date(2025, 12, 31)),
        ),
        ("This policy is valid until 2026-06-30.", (None, date(2026, 6, 30))),
        ("With effect from March 3, 2027 the rules change.", (date(2027, 3, 3), None)),
        # A date that is not about when the rules apply, or a bare year, suggests nothing.
        ("Carried-over days must be used by 31 March 2026.", (None, None)),
        ("The 2026 rules apply to everyone.", (None, None)),
        ("", (None, None)),
    ],
)
def test_effective_dates_found_in_a_policy(text: str, expected: tuple) -> None:
    assert effective_dates(text) == expected

from datetime import date

import pytest

from chat.personal import about_oneself, dated, record_date
from knowledge.retrieval import Passage

RECORD = "Personal record of bob (user bob).\n\n- As of: 2026-11-01\n- Annual leave remaining: 2 days"


def record() -> Passage:
    return Passage(chunk_id=1, document_id=1, document_title="Leave balance: bob", heading_path="", page=None,
                   text=RECORD, score=1.0)  # fmt: skip


@pytest.mark.parametrize(
    "question, mine",
    [
        ("How much annual leave do I have left?", True),
        ("What is my balance?", True),
        ("Am I entitled to a bonus?", True),
        ("How many days of annual leave do full-time employees get?", False),
        ("What is the hotel limit in Paris?", False),
    ],
)
def test_questions_about_oneself(question, mine):
    assert about_oneself(question) is mine


def test_a_record_line_is_shown_with_the_records_date():
    assert record_date(record()) == date(2026, 11, 1)
    assert (
        dated("- Annual leave remaining: 2 days", record()) == "Annual leave remaining: 2 days, as of 1 November 2026."
    )


def test_an_impossible_date_in_a_record_is_no_date():
    broken = Passage(chunk_id=1, document_id=1, document_title="r", heading_path="", page=None,
                     text="- As of: 2026-13-45\n- Annual leave remaining: 2 days", score=1.0)  # fmt: skip
    assert record_date(broken) is None
    assert dated("- Annual leave remaining: 2 days", broken) == "Annual leave remaining: 2 days."

"""Whole answers: the parts of a question, the asker's record fields, and rules whose condition fits."""

import pytest

from chat import extraction, personal
from chat.coverage import MAX_PARTS, question_parts
from chat.notes import incomplete_warning, unanswered_note
from knowledge.retrieval import Passage


def asked(question: str) -> list[str]:
    return [p.asked for p in question_parts(question)]


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("How many days of annual leave do I get?", ["how many days of annual leave do I get?"]),
        ("Do I need a doctor's note, and from which day?", ["do I need a doctor's note?", "from which day?"]),
        ("How big is the learning budget? Does unused budget carry over?",
         ["how big is the learning budget?", "does unused budget carry over?"]),
        ("What is the hotel limit in London and what is the meal allowance?",
         ["what is the hotel limit in London?", "what is the meal allowance?"]),
        ("What are the terms and conditions of the pension?", ["what are the terms and conditions of the pension?"]),
        ("I work three days a week and have been here six years. How much annual leave do I get?",
         ["how much annual leave do I get?", "I work three days a week", "have been here six years"]),
    ],
)  # fmt: skip
def test_question_parts(question, parts):
    assert asked(question) == parts


def test_a_part_that_names_nothing_leans_on_the_first():
    first, second = question_parts("How long is partner leave, and is it paid?")
    assert not first.leans and second.leans
    assert "partner leave" in second.query, "the part is matched with what it is about"
    independent = question_parts("What is the hotel limit, and what is the daily meal allowance?")[1]
    assert not independent.leans and "hotel" not in independent.query


def test_a_question_of_many_parts_is_answered_as_a_whole():
    many = "What is A, and what is B, and what is C, and what is D, and what is E?"
    assert len(question_parts(many)) == 1 < MAX_PARTS
    assert asked("") == [""], "an empty question is one part (the protocol refuses it before this)"


RECORD = (
    "# Leave balance: Bob\n\nPersonal record of Bob (user bob). Their own leave balance:\n\n- As of: 2026-11-01\n"
    "- Annual leave entitlement: 27 days\n- Annual leave taken: 25 days\n- Annual leave remaining: 2 days\n"
    "- Carried over days: 0 days\n"
)


def record() -> Passage:
    return Passage(chunk_id=1, document_id=1, document_title="Leave balance: Bob", heading_path="", page=None,
                   text=RECORD, score=1.0)  # fmt: skip


@pytest.mark.parametrize(
    ("question", "labels"),
    [
        ("How many days of annual leave do I get?", ["Annual leave entitlement"]),
        ("How much annual leave do I have left?", ["Annual leave remaining"]),
        ("How many days have I taken?", ["Annual leave taken"]),
        ("Did I carry over any days?", ["Carried over days"]),
        ("What is my entitlement and how many days have I used?", ["Annual leave entitlement", "Annual leave taken"]),
        ("and can I carry those over?", []),
        ("until when can I use them?", []),
        ("do I get a company car?", []),
        ("How much holiday do I have left?", ["Annual leave remaining"]),
    ],
)
def test_get_is_the_entitlement_and_left_the_remainder(question, labels):
    fields = personal.fields_for(personal.record_fields(RECORD), personal.asked_intents(question))
    assert [f.label for f in fields] == labels


def test_record_fields_said_to_the_asker_once_with_the_records_date():
    fields = personal.record_fields(RECORD)
    assert [f.label for f in fields][0] == "Annual leave entitlement", "the date line is not a field"
    entitlement, taken = fields[0], fields[1]
    assert personal.in_second_person([entitlement], record()) == (
        "Your annual leave entitlement is 27 days, as of 1 November 2026."
    )
    assert personal.in_second_person([entitlement, taken], record()) == (
        "Your annual leave entitlement is 27 days and your annual leave taken is 25 days, as of 1 November 2026."
    )
    assert personal.in_second_person([fields[3]], record()).startswith("Your carried over days are 0 days")


def test_the_rule_whose_range_holds_the_askers_figure_is_preferred():
    asked_years = [(6.0, ("year",))]
    assert extraction._range_fit(asked_years, "After five years of service the entitlement rises to 27 days.") > 0
    assert extraction._range_fit(asked_years, "After ten years the entitlement rises to 30 days.") < 0
    assert extraction._range_fit([(3.0, ("day",))], "After five years it rises.") == 0, "another unit: no bound"
    exact = extraction._range_fit(
        [(500.0, ("eur",))], "Managers approve claims up to 500 EUR.", "claims up to 500 EUR?"
    )
    wider = extraction._range_fit(
        [(500.0, ("eur",))], "Claims between 500 and 2,000 EUR need a head.", "up to 500 EUR?"
    )
    assert exact > wider > 0


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("Is there a parking allowance?", {"park", "allow"}),
        ("Is my gym covered, and by how much?", {"gym"}),
        ("Does the company pay for glasses?", {"glass"}),
        ("What is the minimum amount of paid vacation?", set()),
        ("How much annual leave do I have left?", set()),
    ],
)
def test_what_an_existence_question_names(question, named):
    assert extraction.named_thing(question) == named


def test_an_unanswered_part_is_said_in_words_and_warned_about():
    assert unanswered_note([]) == "" and incomplete_warning([]) == ""
    note = unanswered_note(["do I get a company car?"])
    assert note.strip() == "The documents found do not answer this part of your question: “do I get a company car?”."
    assert incomplete_warning(["a?", "b?"]) == (
        "This answer may be incomplete: the documents found do not answer “a?”; “b?”."
    )

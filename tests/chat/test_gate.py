"""The gate between a model's words and the page: nothing unsupported is ever shown."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from chat import figures
from chat.citations import MARKER
from chat.extraction import find_evidence
from chat.gate import Gate, complete_sentences
from knowledge import embedding
from knowledge.retrieval import Passage

LEAVE = (
    "Full-time employees receive 25 days of paid annual leave per calendar year. "
    "After five years of continuous service the entitlement rises to 27 days."
)
MEALS = "When you travel overnight you may claim meals up to a daily allowance of 60 EUR."
ENCODE = embedding.encode_once_each()


def passages() -> list[Passage]:
    return [
        Passage(chunk_id=n, document_id=n, document_title="Handbook", heading_path=h, page=None, text=t, score=1.0,
                similarity=0.7)
        for n, (h, t) in enumerate([("Annual leave", LEAVE), ("Meals", MEALS)], start=1)
    ]  # fmt: skip


def gate(question: str = "How many days of annual leave do full-time employees get?") -> Gate:
    given_passages = passages()
    return Gate(given_passages, find_evidence(question, given_passages, encode=ENCODE), encode=ENCODE)


def test_sentences_are_released_only_once_complete_with_their_markers():
    assert complete_sentences("You get 25 days [1]. Aft") == (["You get 25 days [1]."], " Aft")
    assert complete_sentences("It is 12.5% of pay") == ([], "It is 12.5% of pay")
    assert complete_sentences("Done. [2] Next") == (["Done. [2]"], " Next"), "a marker after the stop stays"
    assert complete_sentences("Ends here.") == ([], "Ends here."), "what follows the stop is not known yet"


def test_a_supported_sentence_passes_unchanged():
    assert gate().check("You get 25 days of paid annual leave per calendar year [1].") == (
        "You get 25 days of paid annual leave per calendar year [1]."
    )


def test_a_changed_figure_is_replaced_by_the_passages_own_sentence_quoted():
    checked = gate()
    shown = checked.check("You get 20 days of paid annual leave per calendar year [1].")
    assert "20 days" not in shown
    assert shown == "“Full-time employees receive 25 days of paid annual leave per calendar year” [1]."
    assert checked.report.replaced == 1
    again = checked.check("You get 21 days [1].")
    assert "21" not in again and "25 days" not in again, "a quote is shown once; the next one or nothing"


def test_a_figure_from_another_passage_is_not_supported_by_the_one_cited():
    assert "60 EUR" not in gate().check("Full-time employees receive 60 EUR of annual leave [1].")


def test_an_invented_marker_is_removed_and_connecting_words_pass():
    checked = gate()
    assert checked.check("Here is what I found:") == "Here is what I found:"
    assert "[7]" not in checked.check("You get 25 days of paid annual leave per calendar year [7].")


def test_an_unmarked_sentence_is_attributed_to_the_passage_that_supports_it_decimals_whole():
    checked = gate("What is the daily meal allowance?")
    assert checked.check("You may claim meals up to a daily allowance of 60 EUR.") == (
        "You may claim meals up to a daily allowance of 60 EUR [2]."
    )


def test_an_unmarked_claim_close_to_no_passage_is_dropped():
    checked = gate()
    assert checked.check("The office cat is called Felix and sleeps all day.") == ""
    assert checked.report.dropped == 1


def test_when_nothing_the_model_said_passed_the_documents_answer():
    checked = gate()
    checked.check("Bananas are yellow and curved fruit.")
    assert checked.remaining() == ["Full-time employees receive 25 days of paid annual leave per calendar year [1]."]


_NUMBERS = st.sampled_from(["25", "27", "60", "5", "five", "20", "30", "3", "1,000", "0.30", "12"])
_UNITS = st.sampled_from(["days", "weeks", "EUR", "years", "months", ""])
_SUBJECTS = st.sampled_from(
    ["Full-time employees receive", "You get", "Meals are paid up to", "After service it rises to"]
)


@settings(max_examples=60)
@given(subject=_SUBJECTS, number=_NUMBERS, unit=_UNITS, marker=st.sampled_from(["[1]", "[2]", "[1][2]", "[9]", ""]))
def test_no_shown_sentence_states_a_figure_its_cited_passages_do_not(subject, number, unit, marker):
    """Whatever a model writes, every figure shown is stated, counting the same thing, by a passage it cites."""
    checked = gate()
    shown = checked.check(f"{subject} {number} {unit} {marker}.".replace("  ", " "))
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", shown)]
    available = [f for n in cited for f in figures.figures(checked.passages[n - 1].text)]
    for figure in figures.figures(MARKER.sub(" ", shown)):
        assert figures.figure_supported(figure, available), (shown, figure)


def test_a_true_figure_from_a_passage_that_does_not_answer_the_question_is_not_shown():
    """A small model answered "How long is partner leave?" with the fertility rule's 5 days."""
    checked = gate("How many days of annual leave do full-time employees get?")
    shown = checked.check("You get 60 EUR of meals a day [2].")
    assert "60 EUR" not in shown and "25 days" in shown

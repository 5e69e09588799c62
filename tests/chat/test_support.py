from chat.support import SUPPORTED, UNCITED, UNSUPPORTED, check_support
from knowledge import embedding
from knowledge.retrieval import Passage

LEAVE = (
    "Full-time employees receive 25 days of paid annual leave per calendar year. "
    "After five years of continuous service the entitlement rises to 27 days."
)
HOTELS = "Hotels cost up to 150 EUR per night in Paris."


def cited(*texts: str) -> dict[int, Passage]:
    return {
        n: Passage(chunk_id=n, document_id=1, document_title="D", heading_path="", page=None, text=t, score=1)
        for n, t in enumerate(texts, start=1)
    }


def verdicts(answer: str, passages: dict[int, Passage]) -> list[str]:
    return [s.verdict for s in check_support(answer, passages, encode=embedding.encode).sentences]


def test_a_faithful_sentence_is_supported():
    assert verdicts("Full-time staff get 25 days of paid annual leave each year [1].", cited(LEAVE)) == [SUPPORTED]


def test_a_changed_figure_is_flagged_even_though_the_sentence_reads_alike():
    report = check_support("You get 30 days of annual leave [1].", cited(LEAVE), encode=embedding.encode)
    assert report.sentences[0].verdict == UNSUPPORTED
    assert report.sentences[0].unsupported_numbers == ["30"]


def test_numbers_written_as_words_in_the_passage_count():
    assert verdicts("After 5 years of service you get 27 days [1].", cited(LEAVE)) == [SUPPORTED]


def test_a_sentence_citing_an_unrelated_passage_is_unsupported():
    assert verdicts("The office cat is called Felix [2].", cited(LEAVE, HOTELS)) == [UNSUPPORTED]


def test_uncited_sentences_are_marked_and_filler_is_not_checked():
    answer = "Hotels in Paris are refunded up to 150 EUR a night [2]. Sure! The canteen serves lunch daily."
    report = check_support(answer, cited(LEAVE, HOTELS), encode=embedding.encode)
    assert [s.verdict for s in report.sentences] == [SUPPORTED, UNCITED]
    assert answer[report.sentences[1].start : report.sentences[1].end] == "The canteen serves lunch daily."
    assert report.unsupported == 1


def test_highlights_point_at_the_supporting_words_of_the_cited_passage():
    passages = cited(LEAVE, HOTELS)
    report = check_support("Hotels in Paris cost up to 150 EUR a night [2].", passages, encode=embedding.encode)
    marked = [HOTELS[a:b] for a, b in report.highlights[2]]
    assert "150 EUR" in marked and "Paris" in marked
    assert report.highlights[1] == []


def test_nothing_cited_means_nothing_to_check():
    assert check_support("I could not find anything.", {}, encode=embedding.encode).sentences == []


RECORD = (
    "Personal record of alice (user alice). Their own leave balance:\n\n- As of: 2026-11-01\n"
    "- Annual leave entitlement: 25 days\n- Annual leave taken: 12 days\n- Annual leave remaining: 13 days"
)


def test_a_record_line_with_the_date_the_same_record_states_is_supported():
    """The product dates a record's line (chat.personal.dated); the check must not flag its own words."""
    record = cited(RECORD)
    report = check_support("Annual leave taken: 12 days, as of 1 November 2026 [1].", record, encode=embedding.encode)
    assert [s.verdict for s in report.sentences] == [SUPPORTED]
    assert report.highlights[1], "the line's words are highlighted in the record"
    assert verdicts("Annual leave taken: 12 days, as of 2 November 2026 [1].", record) == [UNSUPPORTED]
    assert verdicts("Annual leave taken: 14 days, as of 1 November 2026 [1].", record) == [UNSUPPORTED]
    assert verdicts("Annual leave taken: 12 days, as of 1 November 2026 at noon [1].", record) == [UNSUPPORTED]


def test_a_record_said_to_its_owner_is_supported_field_by_field():
    record = cited(RECORD)
    assert verdicts("Your annual leave entitlement is 25 days, as of 1 November 2026 [1].", record) == [SUPPORTED]
    both = "Your annual leave entitlement is 25 days and your annual leave taken is 12 days, as of 1 November 2026 [1]."
    assert verdicts(both, record) == [SUPPORTED]
    wrong = (
        "Your annual leave entitlement is 25 days and your annual leave taken is 13 days, as of 1 November 2026 [1]."
    )
    assert verdicts(wrong, record) == [UNSUPPORTED], "each clause is held to its own line"
    swapped = (
        "Your annual leave remaining is 25 days and your annual leave taken is 12 days, as of 1 November 2026 [1]."
    )
    assert verdicts(swapped, record) == [UNSUPPORTED], "a figure under another field's name"


def test_highlights_stay_in_the_passage_sentence_the_answer_rests_on():
    report = check_support(
        "Full-time employees receive 25 days of paid annual leave per calendar year [1].",
        cited(LEAVE),
        encode=embedding.encode,
    )
    first_sentence_end = LEAVE.index("year.") + len("year.")
    assert report.highlights[1], "the supporting words are marked"
    assert all(end <= first_sentence_end for _, end in report.highlights[1]), "not 'days' in the next sentence"


def test_a_rate_said_either_way_is_the_same_figure_but_not_a_lower_one():
    from chat import figures

    twice = figures.figures("Salaries are paid twice monthly.")
    assert figures.figure_supported(figures.figures("You are paid twice a month.")[0], twice)
    assert verdicts("Salaries are paid every month [1].", cited("Salaries are paid twice monthly.")) == [UNSUPPORTED]

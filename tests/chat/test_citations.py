from chat.citations import resolve_citations
from knowledge.retrieval import Passage


def passage(n: int, text: str) -> Passage:
    return Passage(
        chunk_id=100 + n, document_id=1, document_title="Doc", heading_path="", page=None, text=text, score=1
    )


PASSAGES = [
    passage(1, "Annual leave is 25 days."),
    passage(2, "Hotels cost up to 150 EUR."),
    passage(3, "Taxis after 22:00."),
]


def test_markers_map_to_the_passages_given():
    resolved = resolve_citations("Leave is 25 days [1]. Hotels [2][3]. Both [1, 3].", PASSAGES)
    assert resolved.text == "Leave is 25 days [1]. Hotels [2][3]. Both [1][3]."
    assert list(resolved.cited) == [1, 2, 3]
    assert resolved.cited[2].chunk_id == 102
    assert resolved.dropped_markers == 0


def test_markers_naming_no_passage_are_removed_and_counted():
    resolved = resolve_citations("Leave is 25 days [7]. Hotels [2, 9]. Zero [0].", PASSAGES)
    assert resolved.text == "Leave is 25 days. Hotels [2]. Zero."
    assert list(resolved.cited) == [2]
    assert resolved.dropped_markers == 3


def test_answer_without_passages_cites_nothing():
    resolved = resolve_citations("Nothing here [1].", [])
    assert resolved.text == "Nothing here." and resolved.cited == {} and resolved.dropped_markers == 1

from chat.prompting import PROMPT_VERSION, build_messages, source_label
from knowledge.retrieval import Passage


def passage(title: str, heading_path: str, page: int | None = None) -> Passage:
    return Passage(
        chunk_id=1, document_id=1, document_title=title, heading_path=heading_path, page=page, text="T.", score=1
    )


def test_source_label_does_not_repeat_the_title_heading():
    assert source_label(passage("Benefits", "Benefits > Pension")) == "Benefits > Pension"
    assert source_label(passage("Manual", "Leave > Annual", page=3)) == "Manual > Leave > Annual > page 3"


def test_sources_are_numbered_in_the_order_given():
    messages = build_messages("  How long? ", [passage("A", "A > x"), passage("B", "B > y")])
    last = messages[-1]["content"]
    assert last.index("[1] A > x") < last.index("[2] B > y")
    assert last.endswith("Question: How long?")
    assert messages[0]["role"] == "system" and PROMPT_VERSION

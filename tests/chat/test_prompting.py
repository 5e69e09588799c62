from chat.prompting import PROMPT_VERSION, TRIM_MARK, build_messages, estimate_tokens, fit_passages, source_label
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


def test_passages_are_trimmed_at_a_sentence_to_fit_the_context_and_the_cut_is_marked():
    sentences = [f"Rule {n} says employees must file form {n} before day {n}." for n in range(1, 40)]
    long = Passage(
        chunk_id=2, document_id=1, document_title="Forms", heading_path="", page=None, text=" ".join(sentences), score=1
    )
    fitted = fit_passages("Which form?", [passage("A", "A > x"), long, passage("C", "C > z")], context_tokens=900,
                          answer_tokens=200)  # fmt: skip
    assert len(fitted) == 2, "the passage after the cut one is left out"
    assert fitted[0].text == "T."
    cut = fitted[1].text
    assert cut.endswith(TRIM_MARK) and len(cut) < len(long.text)
    assert cut.removesuffix(TRIM_MARK).endswith("."), "cut after a whole sentence"
    assert long.text.startswith(cut.removesuffix(TRIM_MARK))
    total = sum(estimate_tokens(m["content"]) for m in build_messages("Which form?", fitted))
    assert total <= 900 - 200


def test_passages_that_fit_are_given_whole():
    given = [passage("A", "A > x"), passage("B", "B > y")]
    assert fit_passages("Q?", given, context_tokens=4096, answer_tokens=200) == given

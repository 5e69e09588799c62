import json

import numpy as np
import pytest

from knowledge import embedding
from knowledge.tuning import pairs as pairing
from knowledge.tuning.pairs import Pair, PassageIndex, TrainingDataError
from knowledge.tuning.scoring import score

CHUNKS = [
    ("Leave > Annual leave", "Full-time employees receive 25 days of paid annual leave per calendar year."),
    ("Leave > Carry-over", "Up to five unused days may be carried over into the first quarter of next year."),
    ("Expenses > Travel", "Train tickets to a client are reimbursed in second class."),
]


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_evidence_becomes_the_chunk_that_quotes_it_and_uncovered_questions_are_skipped(tmp_path):
    rows = [
        {"question": "How much annual leave do I get?", "evidence": "receive 25 days of paid  annual leave"},
        {"question": "Can I carry days over?", "passage": "A free text passage about carry-over."},
        {"question": "What is the dress code?", "evidence": "nothing", "covered": False},
        {"question": "Quoted from nowhere", "evidence": "a sentence no chunk holds"},
    ]
    path = write(tmp_path, "pairs.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    found = pairing.from_file(path, PassageIndex(CHUNKS))
    assert [p.question for p in found] == [rows[0]["question"], rows[1]["question"], rows[3]["question"]]
    assert found[0].passage == "Leave > Annual leave\n" + CHUNKS[0][1], "the whole chunk, as it is embedded"
    assert found[1].passage == rows[1]["passage"]
    assert found[2].passage == "a sentence no chunk holds", "an unmatched quote trains as itself"
    assert {p.source for p in found} == {"file"}


def test_csv_pairs_with_an_answer_column(tmp_path):
    path = write(tmp_path, "pairs.csv", "Question,Answer\nWho pays the train?,The company pays second class.\n")
    assert pairing.from_file(path, PassageIndex([])) == [
        Pair("Who pays the train?", "The company pays second class.", "file")
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"question": "ok?", "passage": "fine"}\n{not json\n', "line 2 is not valid JSON"),
        ("list.jsonl", '["question", "passage"]\n', "line 1 is not a JSON object"),
        ("noq.jsonl", '{"passage": "text only"}\n', "line 1 has no 'question' text"),
        ("nop.jsonl", '{"question": "what?"}\n', "line 1 has no 'passage' text"),
        ("ev.jsonl", '{"question": "what?", "evidence": [1, 2]}\n', "'evidence' must be text"),
        ("huge.jsonl", json.dumps({"question": "q?", "passage": "x" * 20_001}), "over 20000 characters"),
        ("empty.jsonl", "", "holds no question–passage pairs"),
        ("latin1.csv", "question,passage\nCongé?,Jours de congé\n".encode("latin-1"), "not UTF-8"),
        ("binary.jsonl", b"\x00\x01PK\x03\x04", "binary"),
        ("header.csv", "a,b\n1,2\n", "needs a header row with a 'question' column"),
    ],
)
def test_malformed_pair_files_are_refused_with_the_line_that_is_wrong(tmp_path, name, content, message):
    with pytest.raises(TrainingDataError, match=message):
        pairing.from_file(write(tmp_path, name, content), PassageIndex(CHUNKS))


def test_synthetic_pairs_read_the_heading_path_and_take_only_questions_from_the_writer():
    replies = iter(["How many days of annual leave do I get?", ""])
    found = pairing.synthetic(CHUNKS[:2], write_question=lambda passage: next(replies))
    assert [(p.question, p.source) for p in found] == [
        ("Leave – Annual leave", "synthetic"),
        ("How many days of annual leave do I get?", "synthetic"),
        ("Leave – Carry-over", "synthetic"),
    ]


def test_held_out_questions_never_train_whatever_their_source():
    real = [Pair(f"Question number {i}?", f"passage {i}", "file") for i in range(10)]
    echo = [Pair(p.question.upper(), "another passage", "synthetic") for p in real]  # same question, normalised
    pairs = pairing.deduplicated([*real, *real, *echo])
    assert len(pairs) == 20, "exact repeats are dropped"
    train, heldout = pairing.split(pairs, holdout=0.3, seed=7)
    held = {p.question.lower() for p in heldout}
    assert len(held) == 3 and all(p.source == "file" for p in heldout)
    assert not held & {p.question.lower() for p in train}
    assert len(train) == 14
    assert pairing.split(pairs, holdout=0.3, seed=7) == (train, heldout), "the same seed, the same split"
    assert pairing.split(pairs, holdout=0.3, seed=8)[1] != heldout
    assert pairing.split(pairs, holdout=0, seed=7) == (pairs, [])


def test_scores_rank_each_question_against_the_whole_corpus_and_fall_for_a_useless_model():
    heldout = [
        Pair("How many days of annual leave do I get?", "Leave > Annual leave\n" + CHUNKS[0][1], "file"),
        Pair("Are train tickets to clients paid?", "Expenses > Travel\n" + CHUNKS[2][1], "file"),
    ]
    corpus = [f"{h}\n{t}" for h, t in CHUNKS] + ["Parking > Spaces\nVisitors park in row C."]
    good = score(embedding.encode, heldout, corpus)
    assert good["recall@1"] == 1.0 and good["mrr@10"] == 1.0
    assert good["cos_matched"] > good["cos_unmatched"] and good["cos_gap"] > 0.2

    def shuffled(texts: list[str]) -> np.ndarray:  # questions meet the wrong passages
        vectors = embedding.encode(texts)
        return vectors if len(texts) == 2 else vectors[::-1]

    assert score(shuffled, heldout, corpus)["mrr@10"] < good["mrr@10"]
    assert score(embedding.encode, [], corpus) == {}


def test_answers_rated_helpful_pair_the_searched_question_with_each_cited_passage(ingest, people):
    from chat.conversations import helpful_citations
    from chat.models import Citation, Conversation, Message

    document = ingest("h.md", "# Leave\n\nYou get 25 days.\n\n# Travel\n\nTrains are second class.")
    leave, travel = document.chunks.order_by("ordinal")
    conversation = Conversation.objects.create(user=people.alice, title="t")

    def answer(question: str, searched: str, rating: str, status: str, cited: list) -> None:
        message = Message.objects.create(
            conversation=conversation, question=question, standalone_question=searched, answer="…",
            status=status, feedback=rating,
        )  # fmt: skip
        for marker, chunk in enumerate(cited, start=1):
            Citation.objects.create(
                message=message, marker=marker, chunk=chunk, document=document, document_title="h", quote=chunk.text
            )

    answer("and trains?", "How are train trips paid?", "up", Message.Status.COMPLETE, [travel])
    answer("Leave?", "", "up", Message.Status.COMPLETE, [leave, travel])
    answer("Unhelpful?", "", "down", Message.Status.COMPLETE, [leave])
    answer("Broken?", "", "up", Message.Status.FAILED, [leave])
    found = pairing.from_feedback(helpful_citations())
    assert sorted((p.question, p.passage) for p in found) == [
        ("How are train trips paid?", "Travel\nTrains are second class."),
        ("Leave?", "Leave\nYou get 25 days."),
        ("Leave?", "Travel\nTrains are second class."),
    ]
    document.delete()
    assert helpful_citations() == [], "a removed passage trains nothing"


def test_generated_questions_come_from_the_configured_model_and_only_questions_count(llm_settings):
    from chat.questions import question_writer

    llm_settings.tokens = ["How many days of ", "leave do I get?", "\nAnd more"]
    write = question_writer()
    assert write("Leave\nYou get 25 days.") == "How many days of leave do I get?"
    assert "You get 25 days." in llm_settings.requests[-1]["messages"][-1]["content"]
    llm_settings.tokens = ["Sure! Here is a question for you"]
    assert write("Leave\nYou get 25 days.") == ""
    llm_settings.status = 500
    assert write("Leave\nYou get 25 days.") == "", "a failing model adds no pair and stops nothing"


def test_heading_paths_train_only_when_there_are_no_real_questions_unless_asked(db, ingest, tmp_path):
    from knowledge.tuning.finetune import Sources, plan

    ingest("h.md", "# Leave\n\nYou get 25 days.\n\n# Travel\n\nTrains are second class.")
    path = write(tmp_path, "q.jsonl", '{"question": "How many days off?", "evidence": "You get 25 days."}\n')

    def sources_of(**given) -> dict[str, int]:
        return plan(Sources(**given), holdout=0, seed=1, eval_corpus=10).found

    assert sources_of(pair_files=[path]) == {"file": 1}
    assert sources_of() == {"synthetic": 2}, "no real questions: the heading paths are all there is"
    assert sources_of(pair_files=[path], headings="always") == {"file": 1, "synthetic": 2}
    assert sources_of(pair_files=[path], write_question=lambda p: "What does it say?") == {"file": 1, "synthetic": 2}

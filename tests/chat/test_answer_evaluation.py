import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chat.answer_evaluation import Case, Outcome, best_floor, load_cases, summarise
from knowledge.evaluation import LabelledSetError

HANDBOOK = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year.\n\n"
    "## Sabbaticals\n\nAfter five years you may take an unpaid sabbatical of up to three months."
)


@pytest.fixture
def labelled(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text(HANDBOOK)
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "a",
            "question": "How many days of annual leave do I get?",
            "facts": [["25 days"]],
            "document": "leave.md",
        },
        {"id": "b", "question": "How long can a sabbatical be?", "facts": [["three months", "3 months"]]},
        {"id": "c", "question": "Who won the football world cup in 1966?", "not_covered": True},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return questions, docs


@pytest.mark.django_db(transaction=True)
def test_whole_pipeline_figures_over_a_throwaway_knowledge_base(labelled, llm_settings, tmp_path):
    questions, docs = labelled
    llm_settings.tokens = ["You get 25 days of paid annual leave ", "[1]."]  # right for a, wrong for b
    out = StringIO()
    cases = tmp_path / "cases.jsonl"
    call_command(
        "evaluate_answers", str(questions), "--documents", str(docs), "--json", "--jsonl", str(cases), stdout=out
    )
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["questions"] == 3 and report["covered"] == 2 and report["not_covered"] == 1
    assert report["facts"] == 1.0, "b's wrong sentence was replaced by the passage's own answering sentence"
    assert report["wrong_figures"] == 0.0
    assert report["refusal_accuracy"] == 1.0, "the unrelated question is declined without the model"
    assert report["false_refusals"] == 0.0
    assert report["citations"] == 2
    assert report["citation_precision"] == 1.0, "each [1] is the top passage, which holds that question's fact"
    assert report["unsupported_sentences"] == 0.0
    assert report["ttft_p50_s"] > 0 and report["errors"] == 0
    assert len(llm_settings.requests) == 2
    rows = [json.loads(line) for line in cases.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert "25 days" not in rows[1]["answer"] and "three months" in rows[1]["answer"]
    assert rows[1]["verdicts"]["facts_found"] is True and rows[2]["verdicts"]["refused"] is True
    from knowledge.models import Document

    assert not Document.objects.exists(), "the real knowledge base is untouched"


@pytest.mark.django_db(transaction=True)
def test_calibration_prints_the_separating_floor(labelled):
    questions, docs = labelled
    out = StringIO()
    call_command("evaluate_answers", str(questions), "--documents", str(docs), "--calibrate", stdout=out)
    assert "RETRIEVAL_MIN_SCORE=" in out.getvalue() and "misclassifies 0 of 3" in out.getvalue()


def test_summary_counts_citations_without_the_fact_and_refusals():
    case = Case("x", "Q?", [["25 days"]], "leave.md")
    declined = Case("y", "Other?", [], "")
    outcomes = [
        Outcome(case, answer="25 days [1][2].", cited_texts=["It is 25 days.", "Hotels cost 150 EUR."],
                support=[{"verdict": "supported"}, {"verdict": "uncited"}], ttft_s=0.2, called_model=True,
                answered=True),
        Outcome(declined, answer="I could not find anything about this in the documents available to you."),
    ]  # fmt: skip
    report = summarise(outcomes)
    assert report["citation_precision"] == 0.5 and report["facts"] == 1.0
    assert report["unsupported_sentences"] == 0.5 and report["refusal_accuracy"] == 1.0
    assert report["ttft_p50_s"] == 0.2, "an instant refusal does not count as a first token"


def test_best_floor_separates_and_counts_mistakes():
    assert best_floor([0.6, 0.7], [0.2, 0.3]) == (0.45, 0)
    floor, wrong = best_floor([0.3, 0.6, 0.7], [0.2, 0.4])
    assert wrong == 1 and 0.4 < floor <= 0.6


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "has no questions"),
        ("{not json\n", "line 1 is not valid JSON"),
        ('{"question": "Q?"}\n', "line 1 needs 'facts'"),
        ('{"question": "Q?", "facts": [[]]}\n', "line 1 needs 'facts'"),
        ('{"facts": [["x"]]}\n', "line 1 needs a 'question'"),
        ('["a list"]\n', "line 1 needs a 'question'"),
    ],
)
def test_malformed_answer_sets_are_reported_by_line(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(LabelledSetError, match=message):
        load_cases(path)


def test_bad_paths_and_encodings_are_command_errors(tmp_path, db):
    with pytest.raises(CommandError, match="is not a file"):
        call_command("evaluate_answers", str(tmp_path / "missing.jsonl"))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "Congé?", "not_covered": true}'.encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("evaluate_answers", str(latin))
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "Q?", "not_covered": true}')
    with pytest.raises(CommandError, match="not a document or a folder"):
        call_command("evaluate_answers", str(good), "--documents", str(tmp_path / "nowhere"))


def test_shipped_answer_set_meets_the_floor():
    from pathlib import Path

    cases = load_cases(Path(__file__).resolve().parents[2] / "demo" / "eval" / "handbook-answers.jsonl")
    assert len(cases) >= 40
    assert sum(not c.covered for c in cases) >= 10


def test_facts_match_whole_words_with_quotes_and_dashes_normalised():
    from chat.answer_evaluation import contains

    assert not contains("You get 15 days [1].", ["5 days"]), "5 days is not inside 15 days"
    assert contains("You get 5 days [1].", ["5 days"])
    assert contains("The employee’s manager decides.", ["employee's manager"])
    assert contains("Bands: 46,000–58,000 EUR.", ["46,000"]) and not contains("It costs 146,000 EUR.", ["46,000"])
    assert not contains("It is 2.5 days.", ["2 days"]) and not contains("Pay 0.30 EUR.", ["0.3"])


def test_wrong_figures_are_figures_no_cited_passage_states_counting_the_same_thing():
    from chat.answer_evaluation import wrong_figures

    cited = ["Full-time employees receive 25 days of paid annual leave."]
    assert wrong_figures("You get 25 days [1].", cited) == []
    assert wrong_figures("You get 20 days [1].", cited) == ["20"]
    assert wrong_figures("You get 25 weeks [1].", cited) == ["25"]


def test_cut_short_finds_a_sentence_that_runs_on_in_its_passage():
    from chat.answer_evaluation import cut_short

    passage = "If you are eligible for an award (cash or\nequity), it is paid in March."
    assert cut_short("If you are eligible for an award (cash or [1]", [passage]) == [
        "If you are eligible for an award (cash or"
    ]
    assert cut_short("All employ-", []) and cut_short("You keep full pay for the [1]", [])
    whole = "Annual leave: 25 days a year [1].\n- Open source first\n- Collaborative"
    assert cut_short(whole, ["- Open source first\n- Collaborative\n\nAnnual leave: 25 days a year."]) == []
    assert cut_short("It is paid in March. [1]", [passage]) == []


def test_metadata_shown_finds_front_matter_and_template_tags():
    from chat.answer_evaluation import shows_metadata

    assert shows_metadata('title: "Policy Manual" layout: handbook-page [1]', set())
    assert shows_metadata('title: "Policy Manual" [1]', {"title"})
    assert not shows_metadata("one of the following categories: Travel, Food [1].", set())
    assert shows_metadata("See {% page handbook/leave %} for more.", set())
    assert shows_metadata("review_cycle: yearly", {"review_cycle"})
    assert not shows_metadata("Annual leave remaining: 2 days. The title of the form is Leave.", set())

import io
import json

import pytest
from django.core.management import CommandError, call_command

from knowledge.evaluation import evidence_units, load_labelled, score_ranking
from knowledge.management.commands.evaluate_retrieval import WEIGHTS
from knowledge.models import Document

METHODS = {"dense", "lexical", "hybrid", "hybrid_all_versions"}
METRICS = {"recall@5", "recall@20", "mrr@10", "ndcg@10"}


def test_metrics_of_a_known_ranking():
    relevant = {"a": 1.0, "b": 1.0}
    scores = score_ranking([[], ["a"], [], [], [], ["b"]], relevant)
    assert scores["recall@5"] == 0.5 and scores["recall@20"] == 1.0
    assert scores["mrr@10"] == 0.5
    ideal = 1 + 1 / 1.584962500721156
    assert scores["ndcg@10"] == pytest.approx((1 / 1.584962500721156 + 1 / 2.807354922057604) / ideal)
    assert score_ranking([[], []], relevant)["mrr@10"] == 0.0


def test_evidence_matching_ignores_case_space_and_markdown(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "q?", "evidence": "Annual  leave is **25 days**"}) + "\n")
    query = load_labelled(path)[0]
    assert evidence_units("Intro. annual leave is 25 days. More.", query) == ["annual leave is 25 days"]
    assert evidence_units("annual leave is 26 days", query) == []


def write_beir(root):
    corpus = [
        {"_id": "d1", "title": "Pension", "text": "The employer pays 6% into the pension plan."},
        {"_id": "d2", "title": "Hotels", "text": "Hotel nights cost at most 150 EUR."},
        {"_id": "d3", "title": "Cars", "text": "Mileage is paid at 0.30 EUR per kilometre."},
    ]
    queries = [{"_id": "q1", "text": "pension contribution"}, {"_id": "q2", "text": "hotel limit"}]
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")


@pytest.mark.django_db(transaction=True)
def test_beir_folder_is_evaluated_in_a_throwaway_knowledge_base(tmp_path, ingest):
    ingest("mine.md", "# Mine\n\nThe real knowledge base stays as it is.")
    write_beir(tmp_path)
    out = io.StringIO()
    call_command("evaluate_retrieval", str(tmp_path), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report) == METHODS
    for scores in report.values():
        assert METRICS <= set(scores) and scores["queries"] == 2
        assert scores["recall@20"] == 1.0 and scores["mrr@10"] == 1.0
    assert list(Document.objects.values_list("title", flat=True)) == ["Mine"]


def write_more_beir(root, split: str = "train", n: int = 12):
    """`n` documents and queries, each query judged by the qrels of `split` to its own document."""
    topics = ["pension", "hotel", "mileage", "laptop", "parking", "canteen", "bicycle", "dentist", "sabbatical",
              "overtime", "childcare", "relocation", "uniform", "library"][:n]  # fmt: skip
    corpus = [{"_id": f"d{i}", "title": t.title(), "text": f"Rules for the {t} benefit: ask HR about {t}."}
              for i, t in enumerate(topics)]  # fmt: skip
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": f"{t} rules"})
                                                  for i, t in enumerate(topics)))  # fmt: skip
    rows = "".join(f"q{i}\td{i}\t1\n" for i in range(len(topics)))
    (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)


@pytest.mark.django_db(transaction=True)
def test_calibration_tunes_on_one_half_reports_on_the_other_beside_bm25s(tmp_path):
    write_more_beir(tmp_path)
    out = io.StringIO()
    pairs = tmp_path / "pairs.jsonl"
    call_command("evaluate_retrieval", str(tmp_path), "--split", "train", "--calibrate", "--compare-bm25",
                 "--write-pairs", str(pairs), "--json", stdout=out)  # fmt: skip
    report = json.loads(out.getvalue())
    tuning = report["calibration"]["tuning_queries"]
    assert 0 < tuning < 12 and report["hybrid"]["queries"] == 12 - tuning, "the halves do not overlap"
    assert report["calibration"]["dense_weight"] in WEIGHTS
    curve = report["calibration"]["tuning_ndcg@10"]
    assert max(curve.values()) >= max(curve["0.0"], curve["1.0"])
    for method in ("dense", "lexical", "hybrid", "hybrid_calibrated", "bm25s", "bm25s_chunks"):
        assert report[method]["ndcg@10"] > 0.5, method
    stages = report["hybrid"]["stage_p50_ms"]
    assert set(stages) == {"question embedding", "scope", "dense", "lexical", "rows", "fusion"}
    written = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert len(written) == tuning and all(row["passage"].split("\n")[0].istitle() for row in written)


@pytest.mark.django_db(transaction=True)
def test_a_split_without_its_qrels_file_is_an_error(tmp_path):
    write_more_beir(tmp_path, split="train")
    with pytest.raises(CommandError, match="test.tsv is missing"):
        call_command("evaluate_retrieval", str(tmp_path))
    with pytest.raises(CommandError, match="dev.tsv is missing"):
        call_command("evaluate_retrieval", str(tmp_path), "--split", "dev")


@pytest.mark.django_db(transaction=True)
def test_glob_keeps_files_of_the_same_name_in_different_folders(tmp_path):
    docs = tmp_path / "docs"
    for folder, text in [("leave", "Annual leave is 25 days."), ("travel", "Trains under five hours.")]:
        (docs / folder).mkdir(parents=True)
        (docs / folder / "index.md").write_text(f"# {folder.title()}\n\n{text}")
    (docs / "notes.txt").write_text("Not matched by the pattern.")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "trains?", "evidence": "Trains under five hours."}) + "\n")
    out = io.StringIO()
    call_command("evaluate_retrieval", str(questions), "--documents", str(docs), "--glob", "*.md", "--json",
                 "--compare-bm25", stdout=out)  # fmt: skip
    report = json.loads(out.getvalue())
    assert report["hybrid"]["chunks"] == 2, "both index.md files were ingested, notes.txt was not"
    assert report["hybrid"]["recall@5"] == 1.0
    assert report["bm25s"]["recall@5"] == 1.0, "the reference ranks the same chunks"


@pytest.mark.django_db(transaction=True)
def test_labelled_questions_over_a_documents_folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text("# Leave\n\nYou get 25 days of annual leave.\n\n# Travel\n\nTrains under 5 hours.")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "1", "question": "How much annual leave?", "evidence": "25 days of annual leave"})
        + "\n"
        + json.dumps({"id": "2", "question": "Can I bring a dog?", "evidence": "x", "covered": False})
        + "\n"
    )
    out = io.StringIO()
    call_command("evaluate_retrieval", str(questions), "--documents", str(docs), stdout=out)
    text = out.getvalue()
    assert "hybrid" in text and "1 queries, 2 chunks" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [(["/nonexistent/file.jsonl"], "does not exist"), (["/tmp"], "not a BEIR folder")],
)
def test_bad_paths_are_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_retrieval", *args)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json\n", "line 1 is not valid JSON"),
        ('["a list"]\n', "line 1 is not a JSON object"),
        ('{"question": "q?"}\n', "line 1 has no 'evidence'"),
        ('{"evidence": "e"}\n\n{"question": ""}\n', "line 1 has no 'question'"),
        ('{"question": "q", "evidence": "e", "covered": false}\n', "no questions with relevance judgements"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_malformed_labelled_sets_are_reported_by_line_and_leave_no_database(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_retrieval", str(path))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", ["%_eval"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_malformed_beir_qrels_are_reported(tmp_path):
    write_beir(tmp_path)
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tmany\n")
    with pytest.raises(CommandError, match="test.tsv line 2"):
        call_command("evaluate_retrieval", str(tmp_path))

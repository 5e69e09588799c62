"""The same manual in six forms answers the same questions: nothing cut short, no metadata shown."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "data" / "hr-sample"
FORMS = {
    "md": "opengov-hr-manual/manual.md",
    "wrapped-md": "as-written/manual.md",
    "txt": "as-written/manual.txt",
    "pdf": "opengov-hr-manual/manual.pdf",
    "docx": "opengov-hr-manual/manual.docx",
    "html": "opengov-hr-manual/manual.html",
}


@pytest.mark.skipif(not (SAMPLE / "as-written").exists(), reason="shared sample data not present")
@pytest.mark.django_db(transaction=True)
def test_every_form_of_the_manual_answers_as_its_markdown_does():
    out = StringIO()
    forms = [f"{name}={SAMPLE / path}" for name, path in FORMS.items()]
    questions = ROOT / "demo" / "eval" / "hr-sample-answers.jsonl"
    call_command("evaluate_formats", str(questions), *forms, "--document", "manual.md", "--json", stdout=out)
    results = json.loads(out.getvalue())
    reference = results["md"]["facts"]
    for name, report in results.items():
        assert report["facts"] >= reference - 0.03, (name, report)
        assert report["cut_short"] == 0, (name, report)
        assert report["metadata_shown"] == 0, (name, report)
        assert report["refusal_accuracy"] == 1.0, (name, report)


@pytest.mark.django_db(transaction=True)
def test_a_wrapped_file_with_front_matter_answers_whole_sentences(tmp_path):
    wrapped = tmp_path / "pay.md"
    wrapped.write_text(
        "---\ntitle: Pay\nlayout: page\nredirect_from:\n  - /pay/\n---\n{% include nav.html %}\n# Bonuses\n\n"
        "If you are eligible for an end-of-year individual performance award (cash or\n"
        "equity), it is paid in March with the salary of that month.\n"
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "When is the performance award paid?", "facts": [["March"]], "document": "pay.md"})
        + "\n"
        + json.dumps({"question": "What is the page layout and redirect?", "not_covered": True})
        + "\n"
    )
    out = StringIO()
    call_command("evaluate_formats", str(questions), f"md={wrapped}", "--json", stdout=out)
    report = json.loads(out.getvalue())["md"]
    assert report["facts"] == 1.0 and report["cut_short"] == 0 and report["metadata_shown"] == 0


@pytest.mark.parametrize(
    ("forms", "message"),
    [(["md"], "NAME=PATH"), (["md=/nonexistent/file.md"], "NAME=PATH"), (["=x"], "NAME=PATH")],
)
def test_bad_forms_are_command_errors(tmp_path, forms, message):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "q?", "not_covered": True}) + "\n")
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_formats", str(questions), *forms)


def test_a_document_no_question_is_about_is_a_command_error(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "q?", "facts": [["x"]], "document": "a.md"}) + "\n" + "[1]\n")
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\nText.")
    with pytest.raises(CommandError, match="not a JSON object"):
        call_command("evaluate_formats", str(questions), f"b={doc}", "--document", "b.md")

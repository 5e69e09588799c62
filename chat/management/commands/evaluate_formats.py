import json
import tempfile
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

COLUMNS = ("facts", "citation_precision", "false_refusals", "refusal_accuracy", "cut_short", "metadata_shown")


class Command(BaseCommand):
    help = (
        "Ask the same labelled questions of one document kept in several forms (Markdown, wrapped Markdown "
        "with front matter, plain text, PDF, Word, HTML), each in its own throw-away knowledge base, and "
        "print one row per form: facts, citation precision, refusals, answers cut short and answers that "
        "quote metadata. A form is NAME=PATH."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the labelled questions (evaluate_answers' format)")
        parser.add_argument("forms", nargs="+", help="NAME=PATH, one per form; the first is the reference")
        parser.add_argument(
            "--document",
            default="",
            help="keep only the covered questions whose expected document has this name (and the not-covered)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object: form -> figures")

    def handle(self, *args, path: Path, forms: list[str], document: str, json: bool, **options) -> None:
        named = []
        for form in forms:
            name, _, where = form.partition("=")
            if not name or not where or not Path(where).is_file():
                raise CommandError(f"{form!r} is not NAME=PATH of a file.")
            named.append((name, Path(where)))
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        with tempfile.TemporaryDirectory() as scratch:
            questions = _only_for(path, document, Path(scratch)) if document else path
            results = {name: _evaluate(questions, where) for name, where in named}
        if json:
            self.stdout.write(_json.dumps(results))
            return
        self.stdout.write(_table(results))


_json = json


def _only_for(path: Path, document: str, scratch: Path) -> Path:
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = _json.loads(line)
        except ValueError:
            raise CommandError(f"{path.name} has a line that is not JSON.") from None
        if not isinstance(row, dict):
            raise CommandError(f"{path.name} has a line that is not a JSON object.")
        if row.get("not_covered") is True or row.get("document") == document:
            kept.append(line)
    if not kept:
        raise CommandError(f"No question of {path.name} is about {document}.")
    selected = scratch / path.name
    selected.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return selected


def _evaluate(questions: Path, document: Path) -> dict:
    out = StringIO()
    call_command("evaluate_answers", str(questions), "--documents", str(document), "--json", stdout=out)
    return _json.loads(out.getvalue().strip().splitlines()[-1])


def _table(results: dict[str, dict]) -> str:
    def cell(value) -> str:
        return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = ["| form | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, report in results.items():
        rows.append(f"| {name} | " + " | ".join(cell(report[c]) for c in COLUMNS) + " |")
    return "\n".join(rows)

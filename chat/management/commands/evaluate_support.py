import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chat.support_evaluation import load_pairs, predictions, scores
from knowledge import embedding
from knowledge.evaluation import LabelledSetError

DEFAULT_PAIRS = Path(__file__).resolve().parents[3] / "demo" / "eval" / "support-pairs.jsonl"


class Command(BaseCommand):
    help = (
        "Precision and recall of the support check at catching unsupported answer sentences, on labelled "
        "sentence–passage pairs (JSON lines: sentence, passage, supported, kind). Needs no database."
    )
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, nargs="?", default=DEFAULT_PAIRS)
        parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
        parser.add_argument("--show", action="store_true", help="also print each pair the check gets wrong")
        parser.add_argument("--split", choices=["tune", "held-out"], help="only the pairs of this split")

    def handle(self, *args, path: Path, json: bool, show: bool, split: str | None = None, **options) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            pairs = load_pairs(path)
        except LabelledSetError as exc:
            raise CommandError(str(exc)) from None
        if split:
            pairs = [p for p in pairs if p.split == split]
            if not pairs:
                raise CommandError(f"{path.name} has no pairs in the {split} split.")
        judgements = predictions(pairs, encode=embedding.encode_once_each())
        predicted = [j.supported for j in judgements]
        report = scores(pairs, predicted)
        if show:
            for pair, judgement in zip(pairs, judgements, strict=True):
                if pair.supported != judgement.supported:
                    label = "missed" if judgement.supported else f"false alarm ({judgement.reason})"
                    self.stdout.write(f"{label} {pair.id} [{pair.kind}] {pair.sentence}")
        if json:
            self.stdout.write(_json.dumps(report))
            return
        self.stdout.write(
            f"pairs {report['pairs']} ({report['unsupported']} unsupported)\n"
            f"precision {report['precision']} of sentences flagged unsupported are unsupported\n"
            f"recall    {report['recall']} of unsupported sentences are flagged\n"
            f"supported_kept {report['supported_kept']} of supported sentences pass\n"
            f"missed by kind {report['missed_by_kind']}"
        )


_json = json

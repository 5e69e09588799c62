from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge.records import RecordsError, records_import


class Command(BaseCommand):
    help = (
        "Import personal records from a CSV with a 'username' column (e.g. leave balances): each row becomes "
        "one document readable only by that employee and the HR group. Importing again updates them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", default="Leave balance", help="what the records are (their title)")
        parser.add_argument(
            "--hr-group", default=settings.HR_GROUP, help="the group that may read every record (default: HR_GROUP)"
        )

    def handle(self, *args, path: Path, kind: str, hr_group: str, **options) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if not kind.strip():
            raise CommandError("--kind must not be empty.")
        try:
            report = records_import(path.read_bytes(), kind=kind.strip(), hr_group=hr_group)
        except RecordsError as exc:
            raise CommandError(f"{path.name}: {exc} Nothing was imported.") from None
        self.stdout.write(f"Imported {len(report.imported)} record(s) readable by their owner and '{hr_group}'.")
        for line, reason in report.skipped:
            self.stdout.write(f"  skipped line {line}: {reason}")

from pathlib import Path

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge.folders import folder_files, folder_ingest
from knowledge.manifest import ManifestError


class Command(BaseCommand):
    help = (
        "Ingest every file under a folder (recursively) and print a summary of ready and failed files. "
        "A versions.toml at the top of the folder says which files are newer versions of which and when each "
        "is in force (see demo/handbook/versions.toml)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--group", action="append", default=[], help="visible only to this group (repeatable)")

    def handle(self, *args, path: Path, group: list[str], **options) -> None:
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder.")
        missing = sorted(set(group) - set(Group.objects.filter(name__in=group).values_list("name", flat=True)))
        if missing:
            raise CommandError(f"No such group: {', '.join(missing)}.")
        groups = list(Group.objects.filter(name__in=group))
        total = sum(1 for _ in folder_files(path))
        with tqdm(total=total, unit="file", disable=options["verbosity"] == 0) as bar:
            try:
                report = folder_ingest(root=path, groups=groups, on_file=lambda: bar.update(1))
            except ManifestError as exc:
                raise CommandError(f"Nothing was ingested: {exc}") from None
        self.stdout.write(
            f"{len(report.ready)} ready, {len(report.unchanged)} unchanged, {len(report.failed)} failed "
            f"(of {total} files)."
        )
        for name, reason in report.failed:
            self.stdout.write(f"  failed: {name}: {reason}")

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge.embedding import ModelMissing
from knowledge.embedding_models import (
    ActivationRefused,
    activate,
    missing_count,
    rollback_target,
    statuses,
)
from knowledge.models import Chunk


class Command(BaseCommand):
    help = (
        "List the embedding models, activate one (re-embeds every chunk in the background, then switches "
        "atomically) or roll back to the previous one."
    )

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("list", help="models, their held-out metrics, and which one is active")
        activate = commands.add_parser("activate", help="switch the knowledge base to a model")
        activate.add_argument("name")
        activate.add_argument("--force", action="store_true", help="even if it scored worse than its base")
        activate.add_argument("--inline", action="store_true", help="re-embed here with a progress bar")
        rollback = commands.add_parser("rollback", help="switch back to the model active before this one")
        rollback.add_argument("--inline", action="store_true", help="re-embed here with a progress bar")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            self.list()
            return
        force = options.get("force", False) or action == "rollback"
        total = Chunk.objects.count()
        with tqdm(total=total, unit="chunk", disable=options["verbosity"] == 0 or not options["inline"]) as bar:
            try:
                name = options["name"] if action == "activate" else rollback_target().name
                active_now = activate(
                    name, force=force, inline=options["inline"], on_batch=lambda: _advance(bar, name, total)
                )
            except (ActivationRefused, ModelMissing) as exc:
                raise CommandError(str(exc)) from None
        if active_now:
            self.stdout.write(f"{name} is now the active embedding model.")
        else:
            self.stdout.write(
                f"Re-embedding with {name} on the worker; questions use the current model until it is done. "
                "`embedding_models list` shows how far it got."
            )

    def list(self) -> None:
        self.stdout.write(f"{'model':44}{'state':>14}{'chunks':>14}{'ndcg@10 base':>14}{'tuned':>8}")
        for status in statuses():
            row = status.row
            metrics = row.manifest.get("metrics") or {}
            base, tuned = (metrics.get("base") or {}).get("ndcg@10"), (metrics.get("tuned") or {}).get("ndcg@10")
            shown = f"{base:>14.3f}{tuned:>8.3f}" if base is not None and tuned is not None else f"{'-':>14}{'-':>8}"
            self.stdout.write(
                f"{row.name:44}{row.get_state_display():>14}"
                f"{f'{status.chunks_with_vectors}/{status.chunks_total}':>14}{shown}"
            )


def _advance(bar, name: str, total: int) -> None:
    bar.n = total - missing_count(name)
    bar.refresh()

from django.core.management.base import BaseCommand
from tqdm import tqdm

from knowledge.embedding_models import active_name
from knowledge.reembedding import batches, chunks_reembed, chunks_to_reembed
from knowledge.tasks import reembed_chunks


class Command(BaseCommand):
    help = (
        "Re-embed chunks with the active embedding model: by default those another model made. "
        "Runs in the background on the worker unless --inline; run it again to resume."
    )

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--model", help="only chunks this model made")
        which.add_argument("--all", action="store_true", help="every chunk")
        parser.add_argument("--after-id", type=int, default=0, help="resume --all after this chunk id")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--inline", action="store_true", help="run here with a progress bar")

    def handle(self, *args, **options) -> None:
        ids = list(
            chunks_to_reembed(
                model=options["model"], everything=options["all"], after_id=options["after_id"]
            ).values_list("pk", flat=True)
        )
        groups = batches(ids, max(1, options["batch_size"]))
        self.stdout.write(f"{len(ids)} chunk(s) to re-embed with {active_name()} in {len(groups)} batch(es).")
        if options["inline"]:
            for group in tqdm(groups, unit="batch", disable=options["verbosity"] == 0):
                chunks_reembed(chunk_ids=group)
                self.stdout.write(f"done up to chunk {group[-1]}", ending="\r")
            self.stdout.write("Done.")
            return
        for group in groups:
            reembed_chunks.delay(group)
        self.stdout.write("Queued for the worker; run this command again to see what is left.")

from django.core.management.base import BaseCommand

from knowledge import bm25


class Command(BaseCommand):
    help = (
        "Show the BM25 index's statistics (chunks, average length, the parameters its weights use); "
        "--refresh rewrites every chunk's weights with the current settings now, instead of at the next ingestion."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--refresh", action="store_true", help="rewrite the stored weights now")

    def handle(self, *args, refresh: bool, **options) -> None:
        if refresh:
            bm25.refresh()
        stats = bm25.statistics()
        wanted = bm25.Parameters.from_settings()
        used = stats.parameters
        self.stdout.write(
            f"{stats.chunks} chunks, average length {stats.current_avgdl:.1f} "
            f"(the weights use {stats.avgdl or 0:.1f}); "
            + (f"k1 {used.k1}, b {used.b}, heading weight {used.heading_weight}" if used else "no weights yet")
        )
        if bm25.needs_refresh(stats, wanted):
            self.stdout.write(
                "The settings or the average length changed: the next ingestion or --refresh rewrites them."
            )

import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from knowledge import embedding
from knowledge.demo import HANDBOOK_DIR
from knowledge.documents import document_create
from knowledge.embedding_models import activate_in_empty_knowledge_base, active_name
from knowledge.evaluation import (
    LabelledSetError,
    collapse_to_documents,
    evidence_units,
    load_beir,
    load_labelled,
    mean_scores,
    normalise,
    score_ranking,
)
from knowledge.folders import folder_ingest
from knowledge.ingestion import documents_ingest
from knowledge.models import Chunk
from knowledge.retrieval import SearchOptions, question_scope, search_prepared
from knowledge.sandbox import throwaway_knowledge_base
from knowledge.tuning.training import read_manifest

DEPTH = 20


def methods() -> dict[str, SearchOptions]:
    hybrid = SearchOptions.from_settings()
    found = {
        "dense": SearchOptions(dense=True, lexical=False, dedupe=False, rerank=False),
        "lexical": SearchOptions(dense=False, lexical=True, dedupe=False, rerank=False),
        "hybrid": SearchOptions(**{**hybrid.__dict__, "rerank": False}),
        "hybrid_all_versions": SearchOptions(**{**hybrid.__dict__, "rerank": False, "versions": False}),
    }
    if settings.RERANKER_MODEL_PATH:
        found["reranked"] = SearchOptions(**{**hybrid.__dict__, "rerank": True})
    return found


class Command(BaseCommand):
    help = (
        "Evaluate retrieval on a labelled set, in a throw-away knowledge base: a BEIR folder "
        "(corpus.jsonl, queries.jsonl, qrels/test.tsv) or a JSON-lines file of questions with verbatim "
        "evidence over --documents (default: the demo handbook). Prints recall@5, recall@20, MRR@10 and "
        "nDCG@10 for dense, lexical and hybrid retrieval."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--documents", type=Path, default=HANDBOOK_DIR)
        parser.add_argument("--glob", default="*", help="with --documents: only files matching this pattern")
        parser.add_argument("--json", action="store_true", help="print one JSON object keyed by method, then metric")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="the day the questions are asked (YYYY-MM-DD; default today): which policy versions are in force",
        )
        parser.add_argument("--model", help="embed with this model (a `finetune_embeddings` name); default: the base")
        parser.add_argument(
            "--heldout-of", metavar="MODEL", help="only the questions this tuned model's training held out"
        )

    def handle(self, *args, path: Path, documents: Path, glob: str, json: bool, today: date | None, **options) -> None:
        self.today = today or timezone.localdate()
        model = options["model"] or embedding.MODEL_NAME
        try:
            embedding.get_model(model)
        except embedding.ModelMissing as exc:
            raise CommandError(str(exc)) from None
        beir = path.is_dir()
        if beir and not (path / "corpus.jsonl").exists():
            raise CommandError(f"{path} has no corpus.jsonl: not a BEIR folder.")
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        if not beir and not documents.is_dir():
            raise CommandError(f"{documents} is not a folder of documents.")
        try:
            corpus, queries = load_beir(path) if beir else (None, load_labelled(path))
        except LabelledSetError as exc:
            raise CommandError(str(exc)) from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        if options["heldout_of"]:
            queries = _heldout(queries, options["heldout_of"])
        if not queries:
            raise CommandError("The labelled set has no questions with relevance judgements.")
        with throwaway_knowledge_base():
            activate_in_empty_knowledge_base(model)
            report = self.evaluate(corpus, queries, documents, glob)
        self.stdout.write(_json.dumps(report, indent=2) if json else _table(report))

    def evaluate(self, corpus, queries: list, documents: Path, glob: str) -> dict:
        """`corpus` is None for labelled questions over the `documents` folder."""
        beir = corpus is not None
        started = time.perf_counter()
        if beir:
            created = {
                document_create(file=ContentFile(f"# {title}\n\n{text}".encode(), name=f"{cid}.md"),
                                title=title or cid, schedule=False).pk: cid
                for cid, (title, text) in corpus.documents.items()
            }  # fmt: skip
            documents_ingest(document_ids=list(created))
        else:
            folder = documents
            if glob != "*":
                folder = Path(tempfile.mkdtemp(prefix="ragsite-eval-docs-"))
                for source in documents.rglob(glob):
                    (folder / source.name).write_bytes(source.read_bytes())
            folder_ingest(root=folder)
            created = {}
        ingest_s = time.perf_counter() - started
        user = get_user_model().objects.create_superuser("evaluation", password=None)
        model = active_name()
        vectors = embedding.encode([q.text for q in queries], model=model)
        chunk_count = Chunk.objects.count()
        report = {}
        for name, options in methods().items():
            per_query, latencies = [], []
            for query, vector in zip(queries, vectors, strict=True):
                began = time.perf_counter()
                scope = question_scope(user, query.text, today=self.today, options=options)
                passages = search_prepared(scope, query.text, vector, k=DEPTH, options=options, model=model)
                latencies.append((time.perf_counter() - began) * 1000)
                if beir:
                    ranked = collapse_to_documents([created[p.document_id] for p in passages])
                    units = [[d] if d in query.relevant else [] for d in ranked]
                else:
                    units = [evidence_units(p.text, query) for p in passages]
                per_query.append(score_ranking(units, query.relevant))
            report[name] = {
                **{k: round(v, 4) for k, v in mean_scores(per_query).items()},
                "latency_p50_ms": round(statistics.median(latencies), 2),
                "queries": len(queries),
                "chunks": chunk_count,
                "ingest_s": round(ingest_s, 2),
            }
        return report


_json = json


def _heldout(queries: list, model: str) -> list:
    held = {normalise(q) for q in read_manifest(model).get("heldout_questions", [])}
    if not held:
        raise CommandError(f"{model} has no held-out questions in its manifest.")
    kept = [q for q in queries if normalise(q.text) in held]
    if not kept:
        raise CommandError(f"None of {model}'s held-out questions is in this labelled set.")
    return kept


def _table(report: dict) -> str:
    metrics = ["recall@5", "recall@20", "mrr@10", "ndcg@10", "latency_p50_ms"]
    lines = [f"{'method':20}" + "".join(f"{m:>16}" for m in metrics)]
    for name, scores in report.items():
        lines.append(f"{name:20}" + "".join(f"{scores[m]:>16}" for m in metrics))
    any_method = next(iter(report.values()))
    lines.append(
        f"{any_method['queries']} queries, {any_method['chunks']} chunks ingested in {any_method['ingest_s']} s; "
        "latency excludes the query embedding."
    )
    return "\n".join(lines)

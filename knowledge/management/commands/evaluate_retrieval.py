import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from knowledge import embedding
from knowledge.chunking import embedding_text
from knowledge.demo import HANDBOOK_DIR
from knowledge.documents import document_create
from knowledge.embedding_models import activate_in_empty_knowledge_base, active_name
from knowledge.evaluation import (
    PARTS,
    LabelledSetError,
    collapse_to_documents,
    evidence_units,
    in_part,
    load_beir,
    load_labelled,
    mean_scores,
    normalise,
    score_ranking,
)
from knowledge.folders import folder_ingest
from knowledge.ingestion import documents_ingest
from knowledge.models import Chunk
from knowledge.retrieval import SearchOptions, candidate_pool, question_scope, ranked_passages
from knowledge.sandbox import throwaway_knowledge_base
from knowledge.tuning.training import read_manifest

DEPTH = 20
WEIGHTS = [round(w * 0.05, 2) for w in range(21)]
STAGES = ["question embedding", "scope", "dense", "lexical", "rows", "fusion"]


def methods() -> dict[str, SearchOptions]:
    hybrid = SearchOptions.from_settings()
    found = {
        "dense": SearchOptions(dense=True, lexical=False, dedupe=False, rerank=False),
        "lexical": SearchOptions(dense=False, lexical=True, dedupe=False, rerank=False),
        "hybrid": replace(hybrid, rerank=False),
        "hybrid_all_versions": replace(hybrid, rerank=False, versions=False),
    }
    if settings.RERANKER_MODEL_PATH:
        found["reranked"] = replace(hybrid, rerank=True)
    return found


class Command(BaseCommand):
    help = (
        "Evaluate retrieval on a labelled set, in a throw-away knowledge base: a BEIR folder "
        "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or a JSON-lines file of questions with verbatim "
        "evidence over --documents (default: the demo handbook). Prints recall@5, recall@20, MRR@10 and "
        "nDCG@10 for dense, lexical and hybrid retrieval, and the latency of each stage. --calibrate chooses "
        "the fusion weight on one half of the questions and reports on the other; --compare-bm25 scores the "
        "reference BM25 (bm25s) on the same corpus and questions."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--documents", type=Path, default=HANDBOOK_DIR)
        parser.add_argument("--glob", default="*", help="with --documents: only files matching this pattern")
        parser.add_argument("--split", default="test", help="BEIR: which qrels/<split>.tsv judges the queries")
        parser.add_argument(
            "--part",
            choices=PARTS,
            default="all",
            help="score all questions, or the fixed half that tunes or the half held out (by a hash of the id)",
        )
        parser.add_argument(
            "--calibrate",
            action="store_true",
            help="choose RETRIEVAL_DENSE_WEIGHT on the tuning half, then score every method on the held-out half",
        )
        parser.add_argument(
            "--compare-bm25", action="store_true", help="also score bm25s (a development dependency) on the same data"
        )
        parser.add_argument(
            "--write-pairs",
            type=Path,
            help="BEIR: write the tuning half's question–passage pairs (for finetune_embeddings --pairs)",
        )
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
        if options["write_pairs"] and not beir:
            raise CommandError("--write-pairs needs a BEIR folder (its corpus gives each question's passages).")
        if options["compare_bm25"]:
            _bm25s()  # a clear error before minutes of ingestion
        try:
            corpus, queries = load_beir(path, options["split"]) if beir else (None, load_labelled(path))
        except LabelledSetError as exc:
            raise CommandError(str(exc)) from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        if options["heldout_of"]:
            queries = _heldout(queries, options["heldout_of"])
        if options["write_pairs"]:
            _write_pairs(options["write_pairs"], corpus, [q for q in queries if in_part(q.id, "tune")])
        part = "heldout" if options["calibrate"] else options["part"]
        scored = [q for q in queries if in_part(q.id, part)]
        tuning = [q for q in queries if in_part(q.id, "tune")] if options["calibrate"] else []
        if not scored or (options["calibrate"] and not tuning):
            raise CommandError("The labelled set has no questions with relevance judgements in this part.")
        with throwaway_knowledge_base():
            activate_in_empty_knowledge_base(model)
            report = self.evaluate(corpus, scored, tuning, documents, glob, compare_bm25=options["compare_bm25"])
        self.stdout.write(_json.dumps(report, indent=2) if json else _table(report))

    def evaluate(self, corpus, queries: list, tuning: list, documents: Path, glob: str, *, compare_bm25: bool) -> dict:
        """`corpus` is None for labelled questions over the `documents` folder; `tuning` questions (if any)
        choose the fusion weight, `queries` are scored."""
        started = time.perf_counter()
        if corpus is not None:
            created = {
                document_create(file=ContentFile(f"# {title}\n\n{text}".encode(), name=f"{cid}.md"),
                                title=title or cid, schedule=False).pk: cid
                for cid, (title, text) in corpus.documents.items()
            }  # fmt: skip
            documents_ingest(document_ids=list(created))
        else:
            folder_ingest(root=_matching(documents, glob))
            created = {}
        ingest_s = time.perf_counter() - started
        self.judge = _Judge(created)
        self.user = get_user_model().objects.create_superuser("evaluation", password=None)
        self.model = active_name()
        embedded_ms, vectors = [], {}
        for query in queries + tuning:
            began = time.perf_counter()
            vectors[query.id] = embedding.encode([query.text], model=self.model)[0]
            embedded_ms.append((time.perf_counter() - began) * 1000)
        common = {"queries": len(queries), "chunks": Chunk.objects.count(), "ingest_s": round(ingest_s, 2)}
        report = {}
        for name, options in methods().items():
            per_query, latencies, stages = [], [], {stage: [] for stage in STAGES}
            for query in queries:
                pool, scope_ms = self.pool(query, vectors[query.id], options)
                began = time.perf_counter()
                passages = ranked_passages(pool, query.text, k=DEPTH, options=options)
                fusion_ms = (time.perf_counter() - began) * 1000
                latencies.append(scope_ms + sum(pool.timings_ms.values()) + fusion_ms)
                for stage, ms in {**pool.timings_ms, "scope": scope_ms, "fusion": fusion_ms}.items():
                    stages[stage].append(ms)
                per_query.append(self.judge.score(passages, query))
            report[name] = {
                **{k: round(v, 4) for k, v in mean_scores(per_query).items()},
                "latency_p50_ms": round(statistics.median(latencies), 2),
                **common,
            }
            if name == "hybrid":
                stages["question embedding"] = embedded_ms
                report[name]["stage_p50_ms"] = {s: round(statistics.median(v), 2) for s, v in stages.items() if v}
        if tuning:
            report.update(self.calibrate(tuning, queries, vectors, common))
        if compare_bm25:
            reference = _bm25s_scores(corpus, queries, self.judge)
            report.update({name: {**scores, **common} for name, scores in reference.items()})
        return report

    def pool(self, query, vector, options: SearchOptions):
        began = time.perf_counter()
        scope = question_scope(self.user, query.text, today=self.today, options=options)
        scope_ms = (time.perf_counter() - began) * 1000
        pool = candidate_pool(scope, query.text, vector, n=max(options.candidates, DEPTH), options=options,
                              model=self.model)  # fmt: skip
        return pool, scope_ms

    def calibrate(self, tuning: list, queries: list, vectors: dict, common: dict) -> dict:
        """The dense weight with the best nDCG@10 on the tuning half (ties: nearest 0.5), then every
        question scored with it. Weights 0 and 1 rank as lexical and dense alone, so the chosen one is
        at least as good as either on the tuning half."""
        hybrid = methods()["hybrid"]
        pools = {q.id: self.pool(q, vectors[q.id], hybrid)[0] for q in tuning + queries}

        def ndcg(weight: float, among: list) -> float:
            options = replace(hybrid, dense_weight=weight)
            ranked = [ranked_passages(pools[q.id], q.text, k=DEPTH, options=options) for q in among]
            return mean_scores([self.judge.score(p, q) for p, q in zip(ranked, among, strict=True)])["ndcg@10"]

        curve = {weight: round(ndcg(weight, tuning), 4) for weight in WEIGHTS}
        scored_curve = {weight: round(ndcg(weight, queries), 4) for weight in WEIGHTS}
        best = max(WEIGHTS, key=lambda w: (curve[w], -abs(w - 0.5)))
        options = replace(hybrid, dense_weight=best)
        scores = [self.judge.score(ranked_passages(pools[q.id], q.text, k=DEPTH, options=options), q) for q in queries]
        return {
            "hybrid_calibrated": {**{k: round(v, 4) for k, v in mean_scores(scores).items()}, **common},
            "calibration": {
                "dense_weight": best,
                "tuning_queries": len(tuning),
                "tuning_ndcg@10": curve,
                "heldout_ndcg@10": scored_curve,  # for choosing one weight that holds on several sets
            },
        }


class _Judge:
    """Which relevant units a ranking covers: BEIR documents (chunks collapsed to their document)
    or labelled evidence texts."""

    def __init__(self, corpus_ids: dict[int, str], *, by_id: bool = False) -> None:
        self.corpus_ids = corpus_ids
        self.by_id = by_id  # the passages' document_id is the corpus id itself

    def score(self, passages: list, query) -> dict[str, float]:
        if self.corpus_ids or self.by_id:
            ids = [p.document_id if self.by_id else self.corpus_ids[p.document_id] for p in passages]
            ranked = collapse_to_documents(ids)[:DEPTH]
            return score_ranking([[d] if d in query.relevant else [] for d in ranked], query.relevant)
        return score_ranking([evidence_units(p.text, query) for p in passages[:DEPTH]], query.relevant)


def _matching(documents: Path, glob: str) -> Path:
    """The files of `documents` matching `glob`, copied to a folder with their relative paths
    (flattened, two index.md in different folders were one file)."""
    if glob == "*":
        return documents
    folder = Path(tempfile.mkdtemp(prefix="ragsite-eval-docs-"))
    for source in documents.rglob(glob):
        if source.is_file():
            copy = folder / source.relative_to(documents)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(source.read_bytes())
    return folder


def _bm25s():
    try:
        import bm25s
        import Stemmer
    except ImportError:
        raise CommandError("--compare-bm25 needs bm25s and PyStemmer (requirements.txt installs them).") from None
    return bm25s, Stemmer.Stemmer("english")


def _bm25s_scores(corpus, queries: list, judge: _Judge) -> dict[str, dict]:
    """The reference: bm25s (k1 1.5, b 0.75, English stop words, Snowball stemmer). For a BEIR set,
    over whole documents, title and text, as the published baselines rank them ("bm25s"), and over
    the chunks we ingested, heading and text, collapsed to their documents ("bm25s_chunks": the
    same units our lexical stage ranks). For labelled questions, over the chunks."""
    chunks = list(Chunk.objects.values_list("document_id", "heading_path", "text"))
    over_chunks = [(document_id, embedding_text(h, t)) for document_id, h, t in chunks]
    found = {"bm25s_chunks" if corpus is not None else "bm25s": _bm25s_ranked(over_chunks, queries, judge)}
    if corpus is not None:
        documents = [(cid, f"{title} {text}") for cid, (title, text) in corpus.documents.items()]
        found["bm25s"] = _bm25s_ranked(documents, queries, _Judge({}, by_id=True))
    return found


def _bm25s_ranked(units: list[tuple], queries: list, judge: "_Judge") -> dict[str, float]:
    """`units` are (document key, text); `judge` scores each query's ranked units. DEPTH of them,
    as our stages return DEPTH chunks."""
    bm25s, stemmer = _bm25s()
    retriever = bm25s.BM25()
    texts = [text for _, text in units]
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([q.text for q in queries], stopwords="en", stemmer=stemmer, show_progress=False)
    found, _ = retriever.retrieve(tokens, k=min(DEPTH, len(texts)), show_progress=False)
    per_query = []
    for query, row in zip(queries, found, strict=True):
        ranked = [_Unit(units[i][0], units[i][1]) for i in row]
        per_query.append(judge.score(ranked, query))
    return {k: round(v, 4) for k, v in mean_scores(per_query).items()}


@dataclass(frozen=True)
class _Unit:
    """A ranked text for `_Judge`, shaped like a Passage."""

    document_id: object
    text: str


def _write_pairs(path: Path, corpus, queries: list) -> None:
    with path.open("w", encoding="utf-8") as out:
        for query in queries:
            for cid in query.relevant:
                if cid in corpus.documents:
                    title, text = corpus.documents[cid]
                    passage = embedding_text(title, text)
                    out.write(json.dumps({"question": query.text, "passage": passage}) + "\n")


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
        if name != "calibration":
            lines.append(f"{name:20}" + "".join(f"{scores.get(m, '-'):>16}" for m in metrics))
    any_method = report["dense"]
    lines.append(
        f"{any_method['queries']} queries, {any_method['chunks']} chunks ingested in {any_method['ingest_s']} s; "
        "latency excludes the question embedding."
    )
    stages = report["hybrid"].get("stage_p50_ms", {})
    lines.append("hybrid stages, p50 ms: " + ", ".join(f"{stage} {ms}" for stage, ms in stages.items()))
    if "calibration" in report:
        calibration = report["calibration"]
        curve = ", ".join(f"{w}: {v}" for w, v in calibration["tuning_ndcg@10"].items())
        lines.append(f"tuning nDCG@10 by dense weight ({calibration['tuning_queries']} questions): {curve}")
        curve = ", ".join(f"{w}: {v}" for w, v in calibration["heldout_ndcg@10"].items())
        lines.append(f"held-out nDCG@10 by dense weight: {curve}")
        lines.append(f"RETRIEVAL_DENSE_WEIGHT={calibration['dense_weight']}  (scores above: the held-out half)")
    return "\n".join(lines)

import contextlib
import dataclasses
import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.answer_evaluation import (
    best_floor,
    case_record,
    front_matter_keys,
    load_cases,
    run_all,
    summarise,
    top_similarities,
)
from chat.answering import answer_mode
from chat.generation import get_backend
from knowledge import embedding
from knowledge.demo import HANDBOOK_DIR, LEAVE_BALANCES, demo_users
from knowledge.embedding_models import activate_in_empty_knowledge_base
from knowledge.evaluation import LabelledSetError
from knowledge.folders import folder_ingest
from knowledge.records import RecordsError, records_import
from knowledge.retrieval import SearchOptions
from knowledge.sandbox import throwaway_knowledge_base


class Command(BaseCommand):
    help = (
        "Run a labelled question set (JSON lines: question, facts or not_covered, document) through the whole "
        "answer pipeline over --documents (default: the demo handbook) in a throw-away knowledge base, with the "
        "configured language model. Prints the share of answers with the expected facts, citation precision, "
        "the share of unsupported sentences, refusal accuracy and the median time to first token."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--documents", type=Path, default=HANDBOOK_DIR, help="a folder of documents, or one document"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
        parser.add_argument("--show", action="store_true", help="also print each question's answer")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="the day the questions are asked (YYYY-MM-DD; default today): which policy versions are in force",
        )
        parser.add_argument(
            "--ignore-versions",
            action="store_true",
            help="search every version of every policy whatever its dates (the behaviour before versions existed)",
        )
        parser.add_argument("--model", help="search with this embedding model (a `finetune_embeddings` name)")
        parser.add_argument(
            "--mode",
            choices=["extractive", "generative"],
            help="answer with the documents' sentences or with the language model, whatever ANSWER_MODE says",
        )
        parser.add_argument(
            "--records",
            type=Path,
            default=LEAVE_BALANCES,
            help="personal records (import_records' CSV) loaded when a case is asked as a person (`user`)",
        )
        parser.add_argument("--jsonl", type=Path, help="write every case (question, answer, citations, verdicts) here")
        parser.add_argument(
            "--calibrate",
            action="store_true",
            help="instead of answering, print each question's best retrieval similarity and the RETRIEVAL_MIN_SCORE "
            "that best separates covered from not-covered questions",
        )

    def handle(
        self,
        *args,
        path: Path,
        documents: Path,
        json: bool,
        show: bool,
        calibrate: bool,
        today: date | None,
        ignore_versions: bool,
        **options,
    ) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if not documents.is_dir() and not documents.is_file():
            raise CommandError(f"{documents} is not a document or a folder of documents.")
        try:
            cases = load_cases(path)
        except LabelledSetError as exc:
            raise CommandError(str(exc)) from None
        backend = get_backend()
        model = options["model"] or embedding.MODEL_NAME
        try:
            embedding.get_model(model)
        except embedding.ModelMissing as exc:
            raise CommandError(str(exc)) from None
        with throwaway_knowledge_base(), _as_folder(documents) as folder:
            activate_in_empty_knowledge_base(model)
            summary = folder_ingest(root=folder)
            if not summary.ready:
                raise CommandError(f"No document in {documents} could be ingested.")
            user = get_user_model().objects.create_superuser("evaluation", password=None)
            people = _people({c.user for c in cases if c.user}, options["records"])
            if calibrate:
                self._calibrate(cases, user)
                return
            outcomes = run_all(
                cases,
                user=user,
                backend=backend,
                people=people,
                progress=None if json else self._progress,
                today=today,
                options=dataclasses.replace(SearchOptions.from_settings(), versions=False) if ignore_versions else None,
                mode=options["mode"],
            )
        if options["jsonl"]:
            with options["jsonl"].open("w", encoding="utf-8") as out:
                for outcome in outcomes:
                    out.write(_json.dumps(case_record(outcome), ensure_ascii=False) + "\n")
        mode = options["mode"] or answer_mode()
        keys = front_matter_keys(documents if documents.is_dir() else documents.parent)
        report = {
            "backend": backend.name if mode == "generative" else "documents (extractive)",
            **summarise(outcomes, keys),
        }
        if show:
            for o in outcomes:
                mark = "ok " if (o.facts_found if o.case.covered else o.refused) else "MISS"
                self.stdout.write(f"{mark} {o.case.id} {o.case.question}\n     -> {o.answer!r}")
        self.stdout.write(_json.dumps(report) if json else _table(report))

    def _calibrate(self, cases, user) -> None:
        scored = top_similarities(cases, user=user, k=settings.RETRIEVAL_TOP_K)
        for case, score in sorted(scored, key=lambda pair: pair[1]):
            self.stdout.write(f"{score:6.3f}  {'covered    ' if case.covered else 'not covered'}  {case.question}")
        covered = [s for c, s in scored if c.covered]
        not_covered = [s for c, s in scored if not c.covered]
        if not covered or not not_covered:
            raise CommandError("Calibration needs both covered and not-covered questions.")
        floor, wrong = best_floor(covered, not_covered)
        self.stdout.write(
            f"RETRIEVAL_MIN_SCORE={floor} misclassifies {wrong} of {len(scored)} questions "
            f"(now {settings.RETRIEVAL_MIN_SCORE})."
        )

    def _progress(self, done: int, total: int) -> None:
        self.stderr.write(f"\ranswered {done}/{total}", ending="")
        if done == total:
            self.stderr.write("")


_json = json


def _people(usernames: set[str], records: Path) -> dict:
    """The demo people the cases are asked as, with their personal records, in the throw-away database."""
    if not usernames:
        return {}
    people = demo_users()
    unknown = usernames - set(people)
    if unknown:
        raise CommandError(f"Cases are asked as unknown people: {', '.join(sorted(unknown))} (demo users only).")
    try:
        records_import(records.read_bytes(), kind="Leave balance")
    except (OSError, RecordsError) as exc:
        raise CommandError(f"The records in {records} cannot be loaded: {exc}") from None
    return people


@contextlib.contextmanager
def _as_folder(documents: Path):
    """One document is evaluated as a folder that holds only it (a copy: the folder's rules read names)."""
    if documents.is_dir():
        yield documents
        return
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(documents, folder)
        yield Path(folder)


def _table(report: dict) -> str:
    def pct(key: str) -> str:
        return "n/a" if report[key] is None else f"{report[key]:.1%}"

    return "\n".join(
        [
            f"backend                {report['backend']}",
            f"questions              {report['questions']} ({report['covered']} covered, "
            f"{report['not_covered']} not covered)",
            f"facts                  {pct('facts')} of covered answers contain every expected fact",
            f"citation_precision     {pct('citation_precision')} of {report['citations']} citations contain a fact",
            f"wrong_figures          {pct('wrong_figures')} of covered answers state a figure no cited passage states",
            f"cut_short              {report['cut_short']} answers show a sentence without its end",
            f"record_dumps           {report['record_dumps']} answers show a personal record rather than its fields",
            f"incomplete_said        {report['incomplete_said']} answers say a part of the question is not answered",
            f"metadata_shown         {report['metadata_shown']} answers quote front matter or template tags",
            f"unsupported_sentences  {pct('unsupported_sentences')} of {report['sentences_checked']} sentences",
            f"refusal_accuracy       {pct('refusal_accuracy')} of not-covered questions declined",
            f"false_refusals         {pct('false_refusals')} of covered questions declined",
            f"dated_right_version    {report['dated_right_version']} of {report['dated']} dated questions cite "
            "the version in force then, and no other",
            f"undated_right_version  {report['undated_right_version']} of {report['undated_versioned']} undated "
            "questions about a versioned policy cite the current version only",
            f"errors                 {report['errors']}",
            f"ttft_p50_s             {report['ttft_p50_s']} (time to the first shown text, answers made)",
        ]
    )

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chat.conversations import helpful_citations
from chat.questions import question_writer
from knowledge import embedding
from knowledge.embedding_models import ActivationRefused, activate, register
from knowledge.folders import folder_ingest
from knowledge.sandbox import throwaway_knowledge_base
from knowledge.tuning.finetune import Sources, TuningError, finetune, plan
from knowledge.tuning.pairs import TrainingDataError
from knowledge.tuning.training import TrainingOptions

METRICS = ["recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10", "cos_matched", "cos_unmatched", "cos_gap"]


class Command(BaseCommand):
    """In chat, not knowledge: it passes the chat's helpful answers and question writer to knowledge.tuning."""

    help = (
        "Fine-tune the embedding model on question–passage pairs (MultipleNegativesRankingLoss, on the CPU): "
        "pairs from --pairs files (JSON lines or CSV: question + passage, answer or verbatim evidence), from "
        "answers rated helpful, and from each chunk's heading path. Scores the base and the tuned model on "
        "held-out questions that never train, saves the model under EMBEDDING_MODELS_DIR with a manifest, "
        "and registers it; --activate switches the knowledge base to it (refused if it scored worse, unless --force)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--pairs", type=Path, action="append", default=[], help="a pairs file (repeatable)")
        parser.add_argument("--no-feedback", action="store_true", help="leave out answers rated helpful")
        parser.add_argument(
            "--headings",
            choices=["auto", "always", "never"],
            default="auto",
            help="pair each chunk with its heading path as a query; auto (default): only when there are no "
            "real questions (on the demo handbook they made the tuned model worse on 1 split of 3)",
        )
        parser.add_argument(
            "--generate-questions",
            action="store_true",
            help="also ask the configured language model for a question per chunk (slow with the embedded model)",
        )
        parser.add_argument("--holdout", type=float, default=0.3, help="share of questions held out (default 0.3)")
        parser.add_argument(
            "--epochs", type=int, default=0, help="passes over the pairs (default: 3, or 1 from 1000 pairs on)"
        )
        parser.add_argument("--batch-size", type=int, default=TrainingOptions.batch_size)
        parser.add_argument("--learning-rate", type=float, default=TrainingOptions.learning_rate)
        parser.add_argument("--seed", type=int, default=TrainingOptions.seed)
        parser.add_argument("--eval-corpus", type=int, default=5000, help="at most this many passages to rank")
        parser.add_argument("--name", default="", help="the new model's name (default: minilm-tuned-<time>)")
        parser.add_argument(
            "--documents",
            type=Path,
            help="train and score against a throw-away knowledge base of this folder, not the live one",
        )
        parser.add_argument("--activate", action="store_true", help="switch the knowledge base to the tuned model")
        parser.add_argument("--force", action="store_true", help="with --activate: even if it scored worse")
        parser.add_argument("--inline", action="store_true", help="with --activate: re-embed here, not on the worker")
        parser.add_argument("--json", action="store_true", help="end with one JSON object of the results")

    def handle(self, *args, **options) -> None:
        checks = [
            (0 <= options["holdout"] < 1, "--holdout is a share between 0 and 1."),
            (0 <= options["epochs"] <= 100, "--epochs is between 1 and 100 (0: the default)."),
            (2 <= options["batch_size"] <= 1024, "--batch-size is between 2 and 1024."),
            (0 < options["learning_rate"] < 1, "--learning-rate is between 0 and 1."),
            (options["eval_corpus"] >= 1, "--eval-corpus is at least 1."),
            (not options["documents"] or options["documents"].is_dir(), f"{options['documents']} is not a folder."),
        ]
        for ok, message in checks:
            if not ok:
                raise CommandError(message)
        for path in options["pairs"]:
            if not path.is_file():
                raise CommandError(f"{path} is not a file.")
        training = TrainingOptions(
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            learning_rate=options["learning_rate"],
            seed=options["seed"],
        )
        try:
            if options["documents"]:
                with throwaway_knowledge_base("finetune"):
                    folder_ingest(root=options["documents"])
                    manifest = self.train(options, training)
            else:
                manifest = self.train(options, training)
        except (TrainingDataError, TuningError) as exc:
            raise CommandError(str(exc)) from None
        register(manifest["name"], base_model=manifest["base_model"], manifest=manifest)
        activated = self.activate(manifest["name"], options) if options["activate"] else False
        self.report(manifest, activated, as_json=options["json"])

    def train(self, options: dict, training: TrainingOptions) -> dict:
        sources = Sources(
            pair_files=options["pairs"],
            feedback=[] if options["no_feedback"] else helpful_citations(),
            headings=options["headings"],
        )
        if options["generate_questions"]:
            sources.write_question = question_writer()
        work = plan(sources, holdout=options["holdout"], seed=options["seed"], eval_corpus=options["eval_corpus"])
        self.stderr.write(
            f"Training on {len(work.train)} pairs, scoring on {len(work.heldout)} held-out pairs "
            f"against {len(work.corpus)} passages."
        )
        return finetune(
            work,
            base=embedding.MODEL_NAME,
            options=training,
            name=options["name"],
            progress=options["verbosity"] > 0,
        )

    def activate(self, name: str, options: dict) -> bool:
        try:
            active_now = activate(name, force=options["force"], inline=options["inline"])
        except ActivationRefused as exc:
            self.stderr.write(f"Not activated: {exc}")
            return False
        if active_now:
            self.stderr.write(f"{name} is now the active embedding model.")
        else:
            self.stderr.write(f"Re-embedding with {name} on the worker; questions use the current model until it ends.")
        return True

    def report(self, manifest: dict, activated: bool, *, as_json: bool) -> None:
        metrics = manifest["metrics"]
        base, tuned = metrics["base"], metrics["tuned"]
        self.stdout.write(
            f"Saved {manifest['name']} ({manifest['data']['train_pairs']} training pairs, "
            f"{manifest['training_s']} s of training)."
        )
        if base:
            self.stdout.write(f"{'held-out metric':16}{'base':>10}{'tuned':>10}")
            for metric in METRICS:
                self.stdout.write(f"{metric:16}{base[metric]:>10.4f}{tuned[metric]:>10.4f}")
            self.stdout.write(f"{metrics['heldout_queries']} held-out questions.")
        else:
            self.stdout.write("No held-out questions: nothing shows the tuned model is better (use --holdout).")
        if as_json:
            summary = {
                "name": manifest["name"],
                "heldout_queries": metrics["heldout_queries"],
                "train_pairs": manifest["data"]["train_pairs"],
                "training_s": manifest["training_s"],
                "base": base,
                "tuned": tuned,
                "activated": activated,
            }
            self.stdout.write(json.dumps(summary))

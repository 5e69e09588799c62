"""Activating a tuned model: background re-embedding, an atomic switch, rollback, and the query's model."""

import io
import json
import threading

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from knowledge import embedding, embedding_models
from knowledge.chunking import embedding_text
from knowledge.embedding_models import ActivationRefused, activation_start, build, build_step, register
from knowledge.models import Chunk, EmbeddingModel
from knowledge.retrieval import SearchOptions, dense, question_scope, search
from knowledge.tuning.pairs import Pair
from knowledge.tuning.training import TrainingOptions, save, train

BASE = embedding.MODEL_NAME
HANDBOOK = "\n\n".join(
    f"# {title}\n\n{text}"
    for title, text in [
        ("TOIL", "Overtime worked at a manager's request is repaid as time off in lieu within three months."),
        ("Grades", "Grade C3 covers senior engineers; its salary band is reviewed every April."),
        ("Annual leave", "Full-time employees receive 25 days of paid annual leave per calendar year."),
        ("Sick leave", "Tell your manager before 10:00 on the first day you are ill."),
        ("Expenses", "Train tickets to a client are reimbursed in second class."),
        ("Parking", "Visitors park in row C; staff park in rows A and B."),
    ]
)
PAIRS = [
    Pair(
        "How do I get my TOIL back?",
        "TOIL\nOvertime worked at a manager's request is repaid as time off in lieu.",
        "file",
    ),
    Pair("What is C3?", "Grades\nGrade C3 covers senior engineers; its salary band is reviewed every April.", "file"),
    Pair("Holiday allowance?", "Annual leave\nFull-time employees receive 25 days of paid annual leave.", "file"),
    Pair(
        "I am ill, who do I tell?", "Sick leave\nTell your manager before 10:00 on the first day you are ill.", "file"
    ),
    Pair("Is a client train trip paid?", "Expenses\nTrain tickets to a client are reimbursed in second class.", "file"),
    Pair("Where do guests park?", "Parking\nVisitors park in row C; staff park in rows A and B.", "file"),
]
BETTER = {
    "heldout_queries": 4,
    "base": {"ndcg@10": 0.8, "mrr@10": 0.7, "recall@5": 0.75},
    "tuned": {"ndcg@10": 0.9, "mrr@10": 0.8, "recall@5": 1.0},
}
WORSE = {
    "heldout_queries": 4,
    "base": {"ndcg@10": 0.8, "mrr@10": 0.7, "recall@5": 1.0},
    "tuned": {"ndcg@10": 0.7, "mrr@10": 0.7, "recall@5": 1.0},
}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """One real training run (a few seconds) shared by this module's tests."""
    folder = tmp_path_factory.mktemp("models")
    with override_settings(EMBEDDING_MODELS_DIR=folder):
        model = train(PAIRS, base=BASE, options=TrainingOptions(epochs=2, batch_size=3), progress=False)
        save(model, name="tuned-a", manifest={"metrics": BETTER})
    return folder


@pytest.fixture
def tuned(db, models_dir, settings) -> str:
    settings.EMBEDDING_MODELS_DIR = models_dir
    register("tuned-a", base_model=BASE, manifest={"metrics": BETTER})
    return "tuned-a"


@pytest.fixture
def small_steps(monkeypatch):
    """Switch only when nothing is missing, so a build takes several steps even on a tiny corpus."""
    monkeypatch.setattr(embedding_models, "SWITCH_MAX_LATE_CHUNKS", 0)


def vectors_of(model: str) -> dict[int, np.ndarray]:
    chunks = list(Chunk.objects.order_by("pk"))
    encoded = embedding.encode([embedding_text(c.heading_path, c.text) for c in chunks], model=model)
    return {c.pk: v for c, v in zip(chunks, encoded, strict=True)}


def stored(column: str = "embedding") -> dict[int, np.ndarray]:
    return {pk: np.array(v) for pk, v in Chunk.objects.values_list("pk", column)}


def test_the_tuned_model_gives_other_vectors_than_its_base(tuned):
    text = ["How do I get my TOIL back?"]
    assert not np.allclose(embedding.encode(text, model=tuned), embedding.encode(text), atol=1e-3)


def test_questions_use_the_old_vectors_until_every_chunk_has_new_ones_then_switch_and_roll_back(
    tuned, ingest, people, small_steps
):
    ingest("handbook.md", HANDBOOK)
    before = stored()
    asked = search(people.carol, "Where do guests park?", k=3)
    activation_start(tuned)
    assert build_step(tuned, batch_size=2) is True
    assert EmbeddingModel.objects.get(name=tuned).state == EmbeddingModel.State.BUILDING
    assert embedding_models.active_name() == BASE
    assert Chunk.objects.filter(embedding_next_model=tuned).count() == 2
    assert all(np.array_equal(before[pk], v) for pk, v in stored().items()), "searched vectors untouched"
    assert search(people.carol, "Where do guests park?", k=3) == asked

    late = ingest("late.md", "# Bikes\n\nBikes go in the basement rack.")  # arrives mid-build
    build(tuned, batch_size=2)
    assert embedding_models.active_name() == tuned
    expected = vectors_of(tuned)
    for chunk in Chunk.objects.all():
        assert chunk.embedding_model == tuned and chunk.embedding_next_model == BASE
        assert np.allclose(chunk.embedding, expected[chunk.pk], atol=1e-5)
    assert all(np.array_equal(before[pk], stored("embedding_next")[pk]) for pk in before), "kept for rollback"
    row = EmbeddingModel.objects.get(name=tuned)
    assert row.previous.name == BASE and row.activated_at and not row.forced

    after = ingest("after.md", "# Lockers\n\nLockers are on floor two.")  # only the tuned model embeds it
    call_command("embedding_models", "rollback", "--inline", stdout=io.StringIO(), verbosity=0)
    assert embedding_models.active_name() == BASE
    now = stored()
    assert all(np.array_equal(before[pk], now[pk]) for pk in before), "the old vectors, not new ones"
    base_vectors = vectors_of(BASE)
    for document in (late, after):
        for chunk in document.chunks.all():
            assert np.allclose(now[chunk.pk], base_vectors[chunk.pk], atol=1e-5)
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {BASE}
    assert EmbeddingModel.objects.get(name=BASE).previous.name == tuned, "a second rollback goes forward again"


def test_the_question_is_embedded_with_the_model_of_the_vectors_it_searches(tuned, ingest, people):
    ingest("handbook.md", HANDBOOK)
    assert embedding_models.question_model(refresh=True) == BASE  # remembered for a while
    activation_start(tuned)
    build(tuned, batch_size=100)
    question = "How do I get my TOIL back?"
    top = search(people.carol, question, k=1)[0]  # embedded with BASE first, found no BASE vectors, again
    assert embedding_models.question_model() == tuned
    chunk = Chunk.objects.get(pk=top.chunk_id)
    tuned_similarity = float(embedding.encode([question], model=tuned)[0] @ np.array(chunk.embedding))
    assert top.similarity == pytest.approx(tuned_similarity, abs=1e-4)

    scope = question_scope(people.carol, question, today=timezone.localdate(), options=SearchOptions())
    with pytest.raises(embedding_models.ModelSwitched) as switched:
        dense.ranked_chunk_ids(scope, embedding.encode([question])[0], 5, model=BASE)  # a question embedded too early
    assert switched.value.active == tuned


def test_nobody_sees_a_document_they_may_not_read_with_a_tuned_model(tuned, ingest, people):
    ingest("handbook.md", HANDBOOK)
    ingest("pay.md", "# Pay\n\nGrade C3 salaries range from 70,000 to 85,000 EUR.", groups=[people.managers])
    activation_start(tuned)
    build(tuned, batch_size=100)
    assert {p.document_title for p in search(people.alice, "C3 salary range", k=5)} >= {"Pay"}
    assert all(p.document_title != "Pay" for p in search(people.bob, "C3 salary range", k=10))
    assert all(p.document_title != "Pay" for p in search(people.carol, "Grade C3 salaries 70,000 EUR", k=10))


def test_a_document_stored_after_a_switch_is_embedded_again_with_the_new_model(tuned, ingest, monkeypatch):
    from knowledge import ingestion

    ingest("handbook.md", HANDBOOK)
    activation_start(tuned)
    build(tuned, batch_size=100)
    document = ingest("late.md", "# Bikes\n\nBikes go in the basement rack.")
    prepared = ingestion._prepare(document.pk, force=True)
    stale = embedding.encode([s.embedding_text for s in prepared.chunked.chunks])  # embedded before the switch
    ingestion._store([prepared], stale, BASE)
    chunk = document.chunks.get()
    assert chunk.embedding_model == tuned
    assert np.allclose(chunk.embedding, vectors_of(tuned)[chunk.pk], atol=1e-5)


def test_a_model_worse_than_its_base_is_not_activated_without_force(tuned, ingest):
    ingest("handbook.md", HANDBOOK)
    register("worse", base_model=BASE, manifest={"metrics": WORSE})
    register("unscored", base_model=BASE, manifest={"metrics": {"heldout_queries": 0, "base": {}, "tuned": {}}})
    for name, reason in [("worse", "ndcg@10 0.700 < 0.800"), ("unscored", "no held-out evaluation")]:
        with pytest.raises(ActivationRefused, match=reason):
            activation_start(name)
        assert EmbeddingModel.objects.get(name=name).state == EmbeddingModel.State.AVAILABLE
    with pytest.raises(CommandError, match="worse than"):
        call_command("embedding_models", "activate", "worse")
    with pytest.raises(embedding.ModelMissing, match="no model in"):
        activation_start("worse", force=True)  # registered, but its folder is gone
    assert embedding_models.active_name() == BASE


def test_forced_activation_is_recorded_and_a_newer_activation_cancels_a_build(tuned, models_dir, ingest, small_steps):
    ingest("handbook.md", HANDBOOK)
    if not (models_dir / "forced").exists():
        (models_dir / "forced").symlink_to(models_dir / "tuned-a")
    register("forced", base_model=BASE, manifest={"metrics": WORSE})
    activation_start("forced", force=True)
    assert EmbeddingModel.objects.get(name="forced").forced
    assert build_step("forced", batch_size=2)
    activation_start(tuned)
    assert EmbeddingModel.objects.get(name="forced").state == EmbeddingModel.State.AVAILABLE
    assert build_step("forced", batch_size=2) is False, "the abandoned build stops"
    build(tuned, batch_size=2)
    assert embedding_models.active_name() == tuned


@pytest.mark.parametrize("name", ["../../etc", "Tuned Model", "a/b", ""])
def test_hostile_model_names_are_refused(tuned, name):
    with pytest.raises((ActivationRefused, embedding.ModelMissing)):
        activation_start(name)
    with pytest.raises(CommandError):
        call_command("embedding_models", "activate", name)


def test_rollback_with_no_earlier_model_says_so(db):
    with pytest.raises(CommandError, match="nothing to roll back to"):
        call_command("embedding_models", "rollback")


@pytest.mark.django_db(transaction=True)
def test_no_question_ever_sees_two_models_while_the_switch_runs(tuned, ingest, small_steps):
    ingest("handbook.md", HANDBOOK)
    ingest("more.md", "\n\n".join(f"# Rule {i}\n\nRule number {i} of the office." for i in range(20)))
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        try:
            while not done.is_set():
                seen.append(Chunk.objects.values("embedding_model").distinct().count())
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    activation_start(tuned)
    build(tuned, batch_size=3)
    done.set()
    watcher.join()
    assert len(seen) > 5 and set(seen) == {1}
    assert embedding_models.active_name() == tuned


def test_the_worker_task_builds_and_the_list_shows_progress(tuned, ingest):
    ingest("handbook.md", HANDBOOK)
    out = io.StringIO()
    call_command("embedding_models", "activate", tuned, stdout=out)  # eager Celery: the queued batches run
    assert "on the worker" in out.getvalue()
    assert embedding_models.active_name() == tuned
    listing = io.StringIO()
    call_command("embedding_models", "list", stdout=listing)
    lines = {line.split()[0]: line for line in listing.getvalue().splitlines()[1:]}
    total = Chunk.objects.count()
    assert "Active" in lines[tuned] and f"{total}/{total}" in lines[tuned] and "0.800" in lines[tuned]
    assert "Available" in lines[BASE]


def test_the_admin_lists_models_with_metrics_and_refuses_a_worse_one(tuned, ingest, client):
    ingest("handbook.md", HANDBOOK)
    register("worse", base_model=BASE, manifest={"metrics": WORSE})
    tuned_row = EmbeddingModel.objects.get(name="tuned-a")
    client.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    url = reverse("admin:knowledge_embeddingmodel_changelist")
    page = client.get(url).content.decode()
    assert "tuned-a" in page and "0.800 → 0.900" in page and "Active" in page
    model_page = client.get(reverse("admin:knowledge_embeddingmodel_change", args=[tuned_row.pk])).content.decode()
    assert "0.900 · 0.800 · 1.000" in model_page, "every figure on the model's own page"
    worse = EmbeddingModel.objects.get(name="worse")
    response = client.post(url, {"action": "activate", "_selected_action": [worse.pk]}, follow=True)
    assert "worse than" in response.content.decode()
    assert EmbeddingModel.objects.get(name="worse").state == EmbeddingModel.State.AVAILABLE
    response = client.post(url, {"action": "roll_back", "_selected_action": [worse.pk]}, follow=True)
    assert "nothing to roll back to" in response.content.decode()

    staff = User.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_embeddingmodel", "change_embeddingmodel"])
    )
    client.force_login(staff)
    page = client.get(url).content.decode()
    assert "tuned-a" in page and "Activate (re-embed" not in page, "only superusers switch models"


def labelled_questions(folder):
    questions = [
        {"question": "How is overtime repaid?", "evidence": "repaid as time off in lieu"},
        {"question": "Who is in grade C3?", "evidence": "Grade C3 covers senior engineers"},
        {"question": "How many holiday days do I have?", "evidence": "25 days of paid annual leave"},
        {"question": "When do I report being sick?", "evidence": "before 10:00 on the first day"},
        {"question": "Is second class refunded?", "evidence": "reimbursed in second class"},
        {"question": "Where can visitors leave their car?", "evidence": "Visitors park in row C"},
    ]
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in questions))
    return path


def test_finetune_command_trains_scores_saves_registers_and_activates(db, ingest, settings, tmp_path):
    settings.EMBEDDING_MODELS_DIR = tmp_path / "models"
    ingest("handbook.md", HANDBOOK)
    out = io.StringIO()
    call_command(
        "finetune_embeddings", "--pairs", str(labelled_questions(tmp_path)), "--epochs", "1", "--name", "hb", "--json",
        "--activate", "--force", "--inline", stdout=out, stderr=io.StringIO(), verbosity=0,
    )  # fmt: skip
    result = json.loads(out.getvalue().splitlines()[-1])
    assert result["name"] == "hb" and result["heldout_queries"] == 2 and result["activated"] is True
    assert result["train_pairs"] == 4, "four questions; heading paths only when there are none"
    assert set(result["base"]) == set(result["tuned"]) >= {"recall@1", "recall@5", "mrr@10", "ndcg@10", "cos_gap"}
    manifest = json.loads((tmp_path / "models" / "hb" / "ragsite-manifest.json").read_text())
    assert manifest["base_model"] == BASE and manifest["parameters"]["epochs"] == 1
    assert len(manifest["heldout_questions"]) == 2
    assert EmbeddingModel.objects.get(name="hb").manifest["metrics"]["tuned"] == result["tuned"]
    assert embedding_models.active_name() == "hb"
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"hb"}


def test_a_tuned_model_that_scores_worse_is_saved_but_not_activated(db, ingest, settings, tmp_path):
    settings.EMBEDDING_MODELS_DIR = tmp_path / "models"
    ingest("handbook.md", HANDBOOK)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "finetune_embeddings", "--pairs", str(labelled_questions(tmp_path)), "--learning-rate", "0.5",
        "--name", "wrecked", "--json", "--activate", "--inline", stdout=out, stderr=err, verbosity=0,
    )  # fmt: skip  # a learning rate that wrecks the model
    result = json.loads(out.getvalue().splitlines()[-1])
    assert result["tuned"]["ndcg@10"] < result["base"]["ndcg@10"] and result["activated"] is False
    assert "Not activated: wrecked is worse than" in err.getvalue()
    assert embedding_models.active_name() == BASE
    assert EmbeddingModel.objects.get(name="wrecked").state == EmbeddingModel.State.AVAILABLE


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--holdout", "1.5"], "--holdout is a share"),
        (["--epochs", "-1"], "--epochs"),
        (["--batch-size", "1"], "--batch-size"),
        (["--pairs", "/nonexistent/pairs.jsonl"], "is not a file"),
        (["--documents", "/nonexistent"], "is not a folder"),
        (["--name", "../escape", "--no-feedback"], "is not a model name"),
        (["--headings", "never", "--no-feedback"], "no question–passage pairs to train on"),
    ],
)
def test_finetune_command_refuses_bad_input_before_training(db, ingest, arguments, message):
    ingest("handbook.md", HANDBOOK)
    with pytest.raises(CommandError, match=message):
        call_command("finetune_embeddings", *arguments, stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    assert not EmbeddingModel.objects.exclude(name=BASE).exists()


def test_a_build_in_batches_smaller_than_the_late_allowance_still_ends(tuned, ingest, monkeypatch):
    monkeypatch.setattr(embedding_models, "SWITCH_MAX_LATE_CHUNKS", 3)
    ingest("handbook.md", HANDBOOK)
    activation_start(tuned)
    steps = 0
    while build_step(tuned, batch_size=2):
        steps += 1
        assert steps < 20, "the build never got to the switch"
    assert embedding_models.active_name() == tuned and steps == 2, "6 chunks: 2 batches of 2, then 2 under the lock"

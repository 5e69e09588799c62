import io

import numpy as np
from django.core.management import call_command

from knowledge import embedding
from knowledge.models import Chunk


def reembed(*args) -> str:
    out = io.StringIO()
    call_command("reembed", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_chunks_of_another_model_are_reembedded_and_resume_skips_done_ones(
    db, ingest, django_capture_on_commit_callbacks
):
    document = ingest("leave.md", "\n\n".join(f"# Part {i}\n\nLeave rule number {i}." for i in range(5)))
    original = {c.pk: np.array(c.embedding) for c in document.chunks.all()}
    Chunk.objects.filter(pk__in=list(original)[:3]).update(embedding_model="old-model", embedding=[0.1] * 384)
    assert "3 chunk(s) to re-embed" in reembed("--batch-size", "2")  # eager: the queued batches ran
    for chunk in Chunk.objects.all():
        assert chunk.embedding_model == embedding.MODEL_NAME
        assert np.allclose(chunk.embedding, original[chunk.pk], atol=1e-5)
    assert "0 chunk(s) to re-embed" in reembed()


def test_model_and_all_options_select_what_they_say(db, ingest):
    document = ingest("leave.md", "# A\n\nOne.\n\n# B\n\nTwo.")
    first = document.chunks.first()
    Chunk.objects.filter(pk=first.pk).update(embedding_model="x")
    assert "1 chunk(s)" in reembed("--model", "x", "--inline")
    assert "2 chunk(s)" in reembed("--all", "--inline")
    assert "1 chunk(s)" in reembed("--all", "--after-id", str(first.pk), "--inline")

"""An answer's checks read the passages' vectors the first answer stored, and never a stale one."""

import asyncio
import dataclasses

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from chat import answering, passage_vectors
from chat.generation import get_backend
from chat.models import PassageVectors
from chat.prompting import TRIM_MARK
from knowledge import embedding
from knowledge.models import Chunk
from knowledge.retrieval import Passage
from tests.conftest import checks_done

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

LEAVE = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per calendar year. "
    "After five years of service the entitlement rises to 27 days.\n\n## Part-time\n\nPart-time employees "
    "receive annual leave in proportion to their contracted hours."
)


async def answer(user, question: str) -> list[dict]:
    return [
        frame
        async for frame in answering.answer_events(
            user=user, question=question, conversation_id=None, backend=get_backend(), mode=answering.EXTRACTIVE
        )
    ]


async def settled() -> None:
    """The vectors are stored after answer.end, on the checks' thread."""
    await asyncio.get_running_loop().run_in_executor(None, checks_done)


@pytest.fixture
def encoded(monkeypatch) -> list[str]:
    """Every text the product encodes, in order (the real model encodes them)."""
    texts: list[str] = []
    real = embedding.encode

    def counting(batch, **kwargs):
        texts.extend(batch)
        return real(batch, **kwargs)

    monkeypatch.setattr(embedding, "encode", counting)
    return texts


def passage_of(chunk: Chunk) -> Passage:
    return Passage(chunk.pk, chunk.document_id, chunk.document.title, chunk.heading_path, None, chunk.text, 1.0)


async def test_the_first_answer_stores_its_passages_vectors_and_the_next_one_encodes_none_of_them(
    people, ingest, encoded
):
    await sync_to_async(ingest)("leave.md", LEAVE)
    first = await answer(people.bob, "How many days of annual leave do full-time employees get?")
    assert "25 days" in "".join(f.get("text", "") for f in first if f["type"] == "answer.delta")
    await settled()
    chunks = await sync_to_async(lambda: list(Chunk.objects.select_related("document")))()
    rows = await sync_to_async(lambda: {r.chunk_id: r for r in PassageVectors.objects.all()})()
    assert rows and set(rows) <= {c.pk for c in chunks}
    for chunk in chunks:
        if chunk.pk not in rows:
            continue
        texts = passage_vectors.texts_for(passage_of(chunk))
        stored = np.frombuffer(bytes(rows[chunk.pk].vectors), dtype=np.float32).reshape(len(texts), -1)
        assert np.allclose(stored, embedding.encode(texts), atol=1e-5), "each text's own vector, in order"

    encoded.clear()
    again = await answer(people.alice, "How many days of annual leave do full-time employees get?")
    assert [f for f in again if f["type"] == "answer.end"][0]["status"] == "complete"
    passage_texts = {t for c in chunks if c.pk in rows for t in passage_vectors.texts_for(passage_of(c))}
    assert not passage_texts & set(encoded), "no stored passage text is encoded again"
    assert "How many days of annual leave do full-time employees get?" not in encoded, "the question is remembered"


async def test_a_changed_text_misses_and_a_cut_passage_is_never_stored(people, ingest):
    await sync_to_async(ingest)("leave.md", LEAVE)
    await answer(people.bob, "How many days of annual leave do full-time employees get?")
    await settled()
    chunk = await sync_to_async(lambda: Chunk.objects.select_related("document").filter(text__contains="25 days")[0])()
    passage = passage_of(chunk)
    known = await sync_to_async(passage_vectors.known)([passage])
    assert set(known) == set(passage_vectors.texts_for(passage))
    edited = dataclasses.replace(passage, text=passage.text.replace("25 days", "52 days"))
    stale = await sync_to_async(passage_vectors.known)([edited])
    assert not any("52 days" in text for text in stale), "a text the vectors were not made from gets none"

    await sync_to_async(PassageVectors.objects.all().delete)()
    cut = dataclasses.replace(passage, text=passage.text[:40] + TRIM_MARK)
    answering._remember_later([p for p in [cut] if not p.text.endswith(TRIM_MARK)], embedding.encode)
    await settled()
    assert await sync_to_async(PassageVectors.objects.count)() == 0


async def test_vectors_go_with_their_chunk_and_a_vanished_chunk_is_not_an_error(people, ingest):
    document = await sync_to_async(ingest)("leave.md", LEAVE)
    await answer(people.bob, "How many days of annual leave do full-time employees get?")
    await settled()
    chunk = await sync_to_async(lambda: Chunk.objects.select_related("document").first())()
    assert await sync_to_async(PassageVectors.objects.count)() > 0
    await sync_to_async(document.delete)()
    assert await sync_to_async(PassageVectors.objects.count)() == 0, "ON DELETE CASCADE"
    stored = await sync_to_async(passage_vectors.remember)([passage_of(chunk)], embedding.encode)
    assert stored == 0 and await sync_to_async(PassageVectors.objects.count)() == 0


async def test_vectors_of_another_encoder_are_not_read(people, ingest, settings):
    await sync_to_async(ingest)("leave.md", LEAVE)
    await answer(people.bob, "How many days of annual leave do full-time employees get?")
    await settled()
    chunk = await sync_to_async(lambda: Chunk.objects.select_related("document").filter(text__contains="25 days")[0])()
    settings.EMBEDDING_BACKEND = "onnx-int8" if settings.EMBEDDING_BACKEND != "onnx-int8" else "onnx"
    assert await sync_to_async(passage_vectors.known)([passage_of(chunk)]) == {}


async def test_a_user_without_rights_gets_no_answer_from_stored_vectors(people, ingest):
    await sync_to_async(ingest)(
        "guide.md", "# Guide\n\n## Bands\n\nGrade C3 earns 46,000 EUR.", groups=[people.managers]
    )
    first = await answer(people.alice, "What does grade C3 earn?")
    assert "46,000" in "".join(f.get("text", "") for f in first if f["type"] == "answer.delta")
    await settled()
    assert await sync_to_async(PassageVectors.objects.count)() > 0
    theirs = await answer(people.bob, "What does grade C3 earn?")
    assert "46,000" not in "".join(f.get("text", "") for f in theirs if f["type"] != "answer.end")
    assert not [f for f in theirs if f["type"] == "answer.citations"][0]["citations"]

"""Property: whatever the people, groups, memberships and visibilities, nothing crosses access.py.

Hypothesis draws a world (who is in which group, which document is shared with whom) and a
few questions, changing memberships and visibilities between them. Each question goes through
the real retrieval and the real websocket, with a model that repeats its whole prompt, so a
passage that reached the prompt would reach the socket. The oracle below is written from the
permission rules, not from access.py.
"""

import json
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from knowledge import retrieval
from knowledge.models import Document
from tests.sockets import ask, connect

CODEWORDS = ["amberfox", "birchwolf", "cobaltowl", "dunehare", "emberlynx", "fjordseal"]
USERS, GROUPS = 4, 3
QUESTIONS = [
    "What are the parking rules?",
    "Where may I park my car and what is the codeword?",
    *(f"Which parking rule has the codeword {w}?" for w in CODEWORDS),
]


@dataclass(frozen=True)
class Sharing:
    everyone: bool
    groups: frozenset[int]
    readers: frozenset[int]


@dataclass(frozen=True)
class Step:
    asker: int
    question: int
    then_toggle: tuple[int, int] | None  # (user, group) membership flipped after the question
    then_reshare: tuple[int, Sharing] | None  # (document, sharing) changed after the question


indexes = st.frozensets(st.integers(0, GROUPS - 1))
sharings = st.builds(Sharing, st.booleans(), indexes, st.frozensets(st.integers(0, USERS - 1)))
steps = st.builds(
    Step,
    st.integers(0, USERS - 1),
    st.integers(0, len(QUESTIONS) - 1),
    st.none() | st.tuples(st.integers(0, USERS - 1), st.integers(0, GROUPS - 1)),
    st.none() | st.tuples(st.integers(0, len(CODEWORDS) - 1), sharings),
)
worlds = st.fixed_dictionaries(
    {
        "memberships": st.lists(indexes, min_size=USERS, max_size=USERS),
        "sharing": st.lists(sharings, min_size=len(CODEWORDS), max_size=len(CODEWORDS)),
        "superuser": st.booleans(),
        "steps": st.lists(steps, min_size=1, max_size=3),
    }
)


def may_read(user: int, sharing: Sharing, memberships: list[set[int]], superuser: bool) -> bool:
    if superuser and user == USERS - 1:
        return True
    return sharing.everyone or bool(sharing.groups & memberships[user]) or user in sharing.readers


@pytest.mark.django_db(transaction=True)
def test_no_passage_citation_or_generated_token_crosses_permissions(ingest, llm_settings, settings_override):
    llm_settings.echo = True
    users = [User.objects.create_user(f"user{i}", password=f"pw-user{i}-123") for i in range(USERS)]
    groups = [Group.objects.create(name=f"group{i}") for i in range(GROUPS)]
    documents = [
        ingest(f"parking-{i}.md", f"# Parking rule {i}\n\n## Parking\n\nCars park on level {i}. The codeword is {w}.")
        for i, w in enumerate(CODEWORDS)
    ]

    def share(index: int, sharing: Sharing) -> None:
        document = documents[index]
        document.visibility = Document.Visibility.EVERYONE if sharing.everyone else Document.Visibility.GROUPS
        document.save(update_fields=["visibility"])
        document.groups.set([groups[g] for g in sharing.groups])
        document.readers.set([users[u] for u in sharing.readers])

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # shrinking a slow failure takes minutes; the world is small anyway
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(world=worlds)
    def check(world: dict) -> None:
        memberships = [set(m) for m in world["memberships"]]
        sharing = list(world["sharing"])
        for user, member_of in zip(users, memberships, strict=True):
            user.groups.set([groups[g] for g in member_of])
        User.objects.filter(pk=users[-1].pk).update(is_superuser=world["superuser"])
        for index, s in enumerate(sharing):
            share(index, s)

        for step in world["steps"]:
            question = QUESTIONS[step.question]
            for index, user in enumerate(User.objects.filter(pk__in=[u.pk for u in users]).order_by("pk")):
                readable = {
                    documents[i].pk
                    for i in range(len(CODEWORDS))
                    if may_read(index, sharing[i], memberships, world["superuser"])
                }
                found = {p.document_id for p in retrieval.search(user, question, k=10)}
                assert found == readable, f"retrieval for {user.username} returns exactly the readable documents"

            readable = {
                documents[i].pk: w
                for i, w in enumerate(CODEWORDS)
                if may_read(step.asker, sharing[i], memberships, world["superuser"])
            }
            forbidden = [w for i, w in enumerate(CODEWORDS) if documents[i].pk not in readable]
            asker = User.objects.get(pk=users[step.asker].pk)

            before = len(llm_settings.requests)
            events = async_to_sync(_ask)(asker, question)
            # What the asker typed comes back to them; only documents' text and the model's output count.
            prompt = json.dumps(
                [r["messages"][-1]["content"].split("\n\nQuestion:")[0] for r in llm_settings.requests[before:]]
            )
            said = json.dumps([e for e in events if e["type"] != "answer.start"])
            cited = {c["document_id"] for e in events if e["type"] == "answer.citations" for c in e["citations"]}
            assert events[-1]["type"] == "answer.end", events
            assert cited <= set(readable)
            for word in forbidden:
                assert word not in prompt and word not in said, f"{word} leaked to {asker.username}"
            if readable:
                assert any(w in prompt for w in readable.values()), "a readable passage reached the model"

            if step.then_toggle:
                u, g = step.then_toggle
                memberships[u] ^= {g}
                users[u].groups.set([groups[i] for i in memberships[u]])
            if step.then_reshare:
                index, new = step.then_reshare
                sharing[index] = new
                share(index, new)

    check()


async def _ask(user: User, question: str) -> list[dict]:
    communicator = await connect(user)
    try:
        return await ask(communicator, question)
    finally:
        await communicator.disconnect()


@pytest.fixture
def settings_override(settings):
    """Every retrieved passage goes to the model (no relevance floor), and no rate limit gets in the way."""
    settings.RETRIEVAL_MIN_SCORE = -1.0
    settings.CHAT_FRAMES_PER_MINUTE = 10_000
    return settings

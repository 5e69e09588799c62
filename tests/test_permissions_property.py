"""Property: whatever the people, groups, memberships and visibilities, nothing crosses access.py.

Hypothesis draws a world (who is in which group, which document is shared with whom) and a
few questions, changing memberships and visibilities between them, logging people out or
deactivating them while their socket is open, and having them upload copies of documents.
Each question is asked again through the answer API (`/api/ask`) with the asker's token.
Every two documents disagree on a figure (a conflict each). Each question goes through the
real retrieval and the real websocket (one socket per person, kept open across steps), with a
model that repeats its whole prompt, so a passage that reached the prompt would reach the
socket. Nothing of an unreadable document (codeword, fee, title) may reach anyone through the
answer, citations, notes, conflict flags or the upload form's errors. The oracle below is
written from the permission rules, not from access.py.
"""

import json
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient, Client
from django.urls import reverse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from knowledge import retrieval
from knowledge.models import Conflict, Document
from knowledge.tokens import token_create
from tests.sockets import ask, connect, ended

CODEWORDS = ["amberfox", "birchwolf", "cobaltowl", "dunehare", "emberlynx", "fjordseal"]
# Each rule states a parking fee of its own: every pair of rules conflicts, and a fee is as secret as a codeword.
FEES = ["41 EUR", "53 EUR", "67 EUR", "79 EUR", "83 EUR", "97 EUR"]
USERS, GROUPS = 4, 3
QUESTIONS = [
    "What are the parking rules?",
    "Where may I park my car and what is the codeword?",
    "How much does parking cost per day?",
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
    then_end: tuple[str, int] | None  # ("logout" | "deactivate", user) while their socket is open
    then_upload: tuple[int, int] | None  # (user, document): a copy of the document's file through the admin


indexes = st.frozensets(st.integers(0, GROUPS - 1))
sharings = st.builds(Sharing, st.booleans(), indexes, st.frozensets(st.integers(0, USERS - 1)))
users_ = st.integers(0, USERS - 1)
documents_ = st.integers(0, len(CODEWORDS) - 1)
steps = st.builds(
    Step,
    users_,
    st.integers(0, len(QUESTIONS) - 1),
    st.none() | st.tuples(users_, st.integers(0, GROUPS - 1)),
    st.none() | st.tuples(documents_, sharings),
    st.none() | st.tuples(st.sampled_from(["logout", "deactivate"]), users_),
    st.none() | st.tuples(users_, documents_),
)
worlds = st.fixed_dictionaries(
    {
        "memberships": st.lists(indexes, min_size=USERS, max_size=USERS),
        "sharing": st.lists(sharings, min_size=len(CODEWORDS), max_size=len(CODEWORDS)),
        "superuser": st.booleans(),
        "steps": st.lists(steps, min_size=1, max_size=4),
    }
)


@dataclass
class World:
    memberships: list[set[int]]
    sharing: list[Sharing]
    superuser: bool
    active: list[bool]

    def may_read(self, user: int, document: int) -> bool:
        if not self.active[user]:
            return False
        if self.superuser and user == USERS - 1:
            return True
        s = self.sharing[document]
        return s.everyone or bool(s.groups & self.memberships[user]) or user in s.readers

    def readable(self, user: int) -> set[int]:
        return {i for i in range(len(CODEWORDS)) if self.may_read(user, i)}

    def secrets(self, user: int) -> list[str]:
        """What must never reach `user`: the codewords, fees and titles of documents they may not read."""
        hidden = set(range(len(CODEWORDS))) - self.readable(user)
        return [text for i in hidden for text in (CODEWORDS[i], FEES[i], f"Parking rule {i}")]


@pytest.mark.django_db(transaction=True)
def test_nothing_about_an_unreadable_document_reaches_anyone_by_any_path(ingest, llm_settings, settings_override):
    llm_settings.echo = True
    users = [User.objects.create_user(f"user{i}", password=f"pw-user{i}-123", is_staff=True) for i in range(USERS)]
    uploading = Permission.objects.filter(codename__in=["add_document", "view_document"])
    for user in users:
        user.user_permissions.set(uploading)
    groups = [Group.objects.create(name=f"group{i}") for i in range(GROUPS)]
    tokens = [token_create(user=user) for user in users]
    files = [
        f"# Parking rule {i}\n\n## Parking\n\nCars park on level {i}. Parking costs {fee} a day for every car. "
        f"The codeword is {w}."
        for i, (w, fee) in enumerate(zip(CODEWORDS, FEES, strict=True))
    ]
    documents = [ingest(f"parking-{i}.md", text, title=f"Parking rule {i}") for i, text in enumerate(files)]
    pairs = len(CODEWORDS) * (len(CODEWORDS) - 1) // 2
    assert Conflict.objects.count() == pairs, "every two rules disagree on the fee: the flags below depend on it"

    def share(index: int, sharing: Sharing) -> None:
        document = documents[index]
        document.visibility = Document.Visibility.EVERYONE if sharing.everyone else Document.Visibility.GROUPS
        document.save(update_fields=["visibility"])
        document.groups.set([groups[g] for g in sharing.groups])
        document.readers.set([users[u] for u in sharing.readers])

    def set_up(world: World) -> None:
        for user, member_of in zip(users, world.memberships, strict=True):
            user.groups.set([groups[g] for g in member_of])
        User.objects.filter(pk__in=[u.pk for u in users]).update(is_active=True, is_superuser=False)
        User.objects.filter(pk=users[-1].pk).update(is_superuser=world.superuser)
        for index, s in enumerate(world.sharing):
            share(index, s)

    def retrieval_matches(world: World, question: str) -> None:
        for index, user in enumerate(User.objects.filter(pk__in=[u.pk for u in users]).order_by("pk")):
            readable = {documents[i].pk for i in world.readable(index)}
            found = retrieval.search(user, question, k=10)
            assert {p.document_id for p in found} == readable, f"retrieval for {user.username}"
            for p in found:
                assert p.in_conflict == (len(readable) > 1), "a conflict flag counts readable counterparts only"

    def upload_copy(world: World, uploader: int, index: int) -> str:
        """A copy of a document's file through the admin form, refused for a bad date so nothing is created."""
        client = Client()
        client.force_login(users[uploader])
        form = {
            "title": "",
            "visibility": "everyone",
            "file": SimpleUploadedFile("copy.md", files[index].encode()),
            "effective_from": "2026-02-01",
            "effective_until": "2026-01-01",
        }
        page = client.post(reverse("admin:knowledge_document_add"), form).content.decode()
        assert "cannot be before the first" in page, "the form was refused"
        named = f"identical to the document “Parking rule {index}”" in page
        assert named == world.may_read(uploader, index), "a twin is named exactly when the uploader may read it"
        return page

    def deactivate(user: int) -> None:
        """As the admin does it: the saved user tells their sockets."""
        row = User.objects.get(pk=users[user].pk)
        row.is_active = False
        row.save()

    async def through_the_api(world: World, asker: int, question: str) -> None:
        response = await AsyncClient().post(
            "/api/ask",
            data=json.dumps({"question": question}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {tokens[asker]}"},
        )
        assert response.status_code == 200, response.content
        body = response.json()
        said = json.dumps({k: v for k, v in body.items() if k != "searched_for"})  # the asker's own words
        assert {c["document_id"] for c in body["citations"]} <= {documents[i].pk for i in world.readable(asker)}
        for secret in world.secrets(asker):
            assert secret not in said, f"{secret} leaked to user{asker} through the API"

    async def run(world: World, plan: list[Step]) -> None:
        sockets: dict[int, tuple[Client, object]] = {}

        async def socket_of(user: int):
            if user not in sockets:
                client = Client()
                await sync_to_async(client.force_login)(users[user])
                sockets[user] = (client, await connect(users[user], client=client))
            return sockets[user][1]

        try:
            for step in plan:
                question = QUESTIONS[step.question]
                await sync_to_async(retrieval_matches)(world, question)
                if world.active[step.asker]:
                    before = len(llm_settings.requests)
                    events = await ask(await socket_of(step.asker), question)
                    # What the asker typed comes back to them; only documents' text and the model's output count.
                    prompt = json.dumps(
                        [r["messages"][-1]["content"].split("\n\nQuestion:")[0] for r in llm_settings.requests[before:]]
                    )
                    said = json.dumps([e for e in events if e["type"] != "answer.start"])
                    cited = {
                        c["document_id"] for e in events if e["type"] == "answer.citations" for c in e["citations"]
                    }
                    readable = world.readable(step.asker)
                    assert events[-1]["type"] == "answer.end", events
                    assert cited <= {documents[i].pk for i in readable}
                    for secret in world.secrets(step.asker):
                        assert secret not in prompt and secret not in said, f"{secret} leaked to user{step.asker}"
                    if readable:
                        assert any(CODEWORDS[i] in prompt for i in readable), "a readable passage reached the model"
                    await through_the_api(world, step.asker, question)
                else:  # a deactivated person's token stops at once
                    refused = await AsyncClient().post(
                        "/api/ask", data=json.dumps({"question": question}), content_type="application/json",
                        headers={"Authorization": f"Bearer {tokens[step.asker]}"},
                    )  # fmt: skip
                    assert refused.status_code == 401
                    await AccessAttempt.objects.all().adelete()  # a refused token counts as a guess from here

                if step.then_toggle:
                    u, g = step.then_toggle
                    world.memberships[u] ^= {g}
                    await sync_to_async(users[u].groups.set)([groups[i] for i in world.memberships[u]])
                if step.then_reshare:
                    index, new = step.then_reshare
                    world.sharing[index] = new
                    await sync_to_async(share)(index, new)
                if step.then_upload and world.active[step.then_upload[0]]:
                    uploader, index = step.then_upload
                    page = await sync_to_async(upload_copy)(world, uploader, index)
                    for secret in world.secrets(uploader):
                        assert secret not in page, f"{secret} shown to user{uploader} by the upload form"
                if step.then_end:
                    how, u = step.then_end
                    client, socket = sockets.pop(u, (None, None))
                    if how == "deactivate":
                        world.active[u] = False
                        await sync_to_async(deactivate)(u)
                    elif client is not None:
                        await sync_to_async(client.post)("/logout/")
                    if socket is not None:
                        said, code = await ended(socket)
                        assert code == 4401 and "session has ended" in said
                        await socket.disconnect()
        finally:
            for _, socket in sockets.values():
                await socket.disconnect()

    @settings(
        max_examples=50,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # shrinking a slow failure takes minutes; the world is small anyway
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(drawn=worlds)
    def check(drawn: dict) -> None:
        world = World(
            memberships=[set(m) for m in drawn["memberships"]],
            sharing=list(drawn["sharing"]),
            superuser=drawn["superuser"],
            active=[True] * USERS,
        )
        set_up(world)
        async_to_sync(run)(world, drawn["steps"])

    check()


@pytest.fixture
def settings_override(settings):
    """Every retrieved passage goes to the model (no relevance floor), and no limit gets in the way."""
    settings.RETRIEVAL_MIN_SCORE = -1.0
    settings.CHAT_FRAMES_PER_MINUTE = 10_000
    settings.SEARCH_REQUESTS_PER_MINUTE = 10_000
    settings.API_ASKS_PER_MINUTE = 10_000
    return settings

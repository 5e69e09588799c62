from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from knowledge import versions
from knowledge.access import readable_documents
from knowledge.retrieval import relevant_enough, search
from knowledge.tokens import (
    ScopeMissing,
    TokensLocked,
    scopes_for,
    token_create,
    token_revoke,
    tokens_of,
    user_for_request_token,
)
from ragsite.api_errors import ApiError
from ragsite.limits import wait_needed
from ragsite.lockout import lockout_response
from ragsite.storable import unstorable_reason

MAX_RESULTS = 100


class BadSearch(Exception):
    pass


class BadTokenForm(Exception):
    """What the tokens page says when its form cannot make a token."""


def _parse(request: HttpRequest) -> tuple[str, int]:
    query = request.GET.get("q", "").strip()
    if not query:
        raise BadSearch("Give a query in the 'q' parameter.")
    if len(query) > settings.CHAT_MAX_QUESTION_CHARS:
        raise BadSearch(f"The query is too long; use at most {settings.CHAT_MAX_QUESTION_CHARS} characters.")
    if reason := unstorable_reason(query):
        raise BadSearch(reason)
    try:
        k = int(request.GET.get("k", "10"))
    except ValueError:
        raise BadSearch("'k' must be a whole number.") from None
    if k < 1:
        raise BadSearch("'k' must be at least 1.")
    return query, min(k, MAX_RESULTS)


def _api_user(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return user_for_request_token(request, header.removeprefix("Bearer ").strip())
    return request.user if request.user.is_authenticated else None


def _too_many(user) -> int:
    """Seconds to wait when `user` has searched too often this minute (page and API together), else 0."""
    return wait_needed("search", str(user.pk), settings.SEARCH_REQUESTS_PER_MINUTE)


@require_GET
def api_search(request: HttpRequest) -> HttpResponse:
    try:
        user = _api_user(request)
    except TokensLocked:
        return lockout_response(request)
    except ScopeMissing as exc:
        return ApiError(403, "scope_missing", str(exc)).response()
    if user is None:
        return ApiError(401, "token_required", "Log in or send 'Authorization: Bearer <token>'.").response()
    try:
        query, k = _parse(request)
    except BadSearch as exc:
        return ApiError(400, "bad_query", str(exc)).response()
    if wait := _too_many(user):
        return ApiError(429, "rate_limited", f"Too many searches; wait {wait} seconds.", wait).response()
    passages = search(user, query, k=k)
    return JsonResponse({"query": query, "k": k, "results": [asdict(p) for p in passages]})


MAX_TOKEN_DAYS = 365


@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    """A person's API tokens: made here (the key shown once), listed with their use, revoked."""
    context = {"new_key": "", "error": "", "said": "", "allowed": scopes_for(request.user)}
    status = 200
    if request.method == "POST":
        if "revoke" in request.POST:
            revoked = request.POST["revoke"].isdigit() and token_revoke(
                user=request.user, token_id=int(request.POST["revoke"])
            )
            context["said"] = "The token was revoked; it no longer works." if revoked else "No such token of yours."
        else:
            try:
                context["new_key"] = _token_from_form(request)
                context["said"] = "Copy the token now: it is shown only once."
            except BadTokenForm as exc:
                context["error"], status = str(exc), 400
    context["tokens"] = tokens_of(request.user)
    asked = request.GET.get("revoke", "")
    context["confirm"] = next((t for t in context["tokens"] if str(t.pk) == asked), None)
    return render(request, "knowledge/tokens.html", context, status=status)


def _token_from_form(request: HttpRequest) -> str:
    name = request.POST.get("name", "").strip()
    scopes = request.POST.getlist("scopes")
    if not name or len(name) > 100 or unstorable_reason(name):
        raise BadTokenForm("Give the token a name of at most 100 characters (what uses it, e.g. “Slack bot”).")
    if not scopes or set(scopes) - set(scopes_for(request.user)):
        raise BadTokenForm("Choose what the token may do.")
    days = request.POST.get("days", "").strip()
    if days and (not days.isdigit() or not 1 <= int(days) <= MAX_TOKEN_DAYS):
        raise BadTokenForm(f"Expiry is a number of days from 1 to {MAX_TOKEN_DAYS}, or empty for none.")
    expires = timezone.now() + timedelta(days=int(days)) if days else None
    return token_create(user=request.user, name=name, scopes=scopes, expires_at=expires)


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    context = {"query": request.GET.get("q", ""), "results": [], "error": ""}
    status = 200
    if context["query"]:
        try:
            query, k = _parse(request)
            if wait := _too_many(request.user):
                status = 429
                raise BadSearch(f"Too many searches in a minute; wait {wait} seconds and search again.")
            # Below the relevance floor a list is noise (a nonsense query matched at 0.02): none is shown.
            context["results"] = [p for p in search(request.user, query, k=k) if relevant_enough(p, query)]
        except BadSearch as exc:
            context["error"] = str(exc)
    return render(request, "knowledge/search.html", context, status=status)


@login_required
def document_view(request: HttpRequest, document_id: int) -> HttpResponse:
    """The passages of one document, for following a citation; 404 unless the user may read it now."""
    document = versions.with_standing(readable_documents(request.user)).filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    chunks = document.chunks.order_by("ordinal").only("id", "text", "heading_path", "page")
    context = {
        "document": document,
        "chunks": chunks,
        "version": versions.note_of(vars(document), timezone.localdate()),
        "newer": readable_documents(request.user).filter(supersedes=document).first(),
    }
    return render(request, "knowledge/document.html", context)

"""The APIs' routes and their OpenAPI 3 schema (django-ninja): `/api/schema`, docs at `/api/docs`.

Each operation hands the request to the view that owns it (chat.api, chat.openai_api,
knowledge.api, knowledge.views), which reads and checks its input itself, so errors keep their
stable `code` and sentence; here the shapes of requests and responses are declared for the
schema, the docs page and the schemathesis run in the suite.
"""

from typing import Any

from django.conf import settings
from ninja import NinjaAPI, Schema
from ninja.security import HttpBearer
from pydantic import ConfigDict, Field

from chat import api as ask_api
from chat import openai_api
from knowledge import api as documents_api
from knowledge import views as knowledge_views


class Bearer(HttpBearer):
    """Documents the bearer token; the views check it themselves (scope, expiry, lockout)."""

    def __call__(self, request):
        return True

    def authenticate(self, request, token):  # pragma: no cover - __call__ decides
        return True


api = NinjaAPI(
    title="Ask the handbook",
    version="1",
    description="Answers with checked citations from the documents the token's owner may read.",
    openapi_url="/api/schema",
    docs_url="/api/docs",
    urls_namespace="api",
    auth=Bearer(),
)


class Error(Schema):
    code: str
    error: str


class AskIn(Schema):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=settings.CHAT_MAX_QUESTION_CHARS)
    conversation_id: int | None = None


class CitationOut(Schema):
    marker: int
    chunk_id: int | None
    document_id: int
    document_title: str
    heading_path: str
    page: int | None
    text: str
    highlights: list[list[int]]
    url: str
    version: str
    version_state: str


class AskOut(Schema):
    conversation_id: int | None
    message_id: int | None
    status: str
    answer: str
    covered: bool
    searched_for: str
    citations: list[CitationOut]
    warnings: list[str]
    incomplete: list[str]
    version_note: str
    support: list[dict[str, Any]]
    error: str


class SearchOut(Schema):
    query: str
    k: int
    results: list[dict[str, Any]]


class DocumentOut(Schema):
    id: int
    title: str
    status: str
    chunks_embedded: int
    chunks_total: int
    error: str
    pages: int | None
    visibility: str
    groups: list[str]
    readers: list[str]
    supersedes: int | None
    effective_from: str | None
    effective_until: str | None
    metadata: dict[str, Any]
    url: str


class OpenAIError(Schema):
    error: dict[str, Any]


ERRORS = {code: Error for code in (400, 401, 403, 404, 405, 413, 415, 429, 503)}


def _json_body(schema: type[Schema]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema.json_schema()}}}}


@api.post(
    "/api/ask",
    response={200: AskOut, **ERRORS},
    openapi_extra=_json_body(AskIn),
    summary="Ask a question; JSON, or Server-Sent Events with Accept: text/event-stream",
)
async def ask(request):
    return await ask_api.api_ask(request)


_QUERY = {
    "parameters": [
        {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "k", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "default": 10}},
    ]
}


@api.get(
    "/api/search", response={200: SearchOut, **ERRORS}, openapi_extra=_QUERY, summary="Passages for a query, best first"
)
def search(request):
    return knowledge_views.api_search(request)


_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "visibility": {"type": "string", "enum": ["everyone", "groups"]},
                        "groups": {"type": "array", "items": {"type": "string"}},
                        "readers": {"type": "array", "items": {"type": "string"}},
                        "supersedes": {"type": "integer"},
                        "effective_from": {"type": "string", "format": "date"},
                        "effective_until": {"type": "string", "format": "date"},
                    },
                }
            }
        },
    }
}


@api.post("/api/documents", response={201: DocumentOut, **ERRORS}, openapi_extra=_UPLOAD, summary="Upload")
def upload(request):
    return documents_api.documents(request)


@api.api_operation(
    ["GET", "PUT", "DELETE"],
    "/api/documents/{document_id}",
    response={200: DocumentOut, 204: None, **ERRORS},
    summary="A document's status; PUT a new file (multipart, field 'file'); DELETE it",
    openapi_extra={
        "parameters": [{"name": "document_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    },
)
def document(request, document_id: str):  # the view says 404 in JSON for one that is not a number
    return documents_api.document(request, document_id)


@api.get("/v1/models", response={200: dict[str, Any], 401: OpenAIError, 403: OpenAIError}, summary="OpenAI: models")
async def models(request):
    return await openai_api.models(request)


@api.post(
    "/v1/chat/completions",
    response={code: OpenAIError for code in (400, 401, 403, 405, 413, 415, 429)} | {200: dict[str, Any]},
    openapi_extra=_json_body(openai_api.ChatCompletionIn),
    summary="OpenAI: chat completions, streamed with stream=true",
)
async def chat_completions(request):
    return await openai_api.chat_completions(request)

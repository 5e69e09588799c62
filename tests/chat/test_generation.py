import pytest

from chat.generation import GenerationError, LocalBackend, OpenAICompatibleBackend

MESSAGES = [{"role": "user", "content": "How many days of leave?"}]


async def collect(backend, max_tokens=20) -> list[str]:
    return [piece async for piece in backend.stream(MESSAGES, max_tokens=max_tokens, stop=["\nQuestion:"])]


@pytest.mark.asyncio
async def test_openai_compatible_client_streams_tokens_from_a_real_server(fake_llm):
    fake_llm.tokens = ["Twenty", "-five", " days", " [1]"]
    backend = OpenAICompatibleBackend(base_url=fake_llm.url, model="m", api_key="k")
    assert await collect(backend, max_tokens=33) == ["Twenty", "-five", " days", " [1]"]
    assert fake_llm.requests[0]["stream"] is True
    assert fake_llm.requests[0]["max_tokens"] == 33
    assert fake_llm.requests[0]["stop"] == ["\nQuestion:"]
    assert fake_llm.requests[0]["messages"] == MESSAGES


@pytest.mark.asyncio
async def test_server_error_becomes_a_sentence(fake_llm):
    fake_llm.status = 503
    with pytest.raises(GenerationError, match="HTTP 503"):
        await collect(OpenAICompatibleBackend(base_url=fake_llm.url, model="m"))


@pytest.mark.asyncio
async def test_unreachable_server_becomes_a_sentence():
    with pytest.raises(GenerationError, match="cannot be reached"):
        await collect(OpenAICompatibleBackend(base_url="http://127.0.0.1:9/v1", model="m"))


@pytest.mark.asyncio
async def test_local_model_streams_real_tokens_offline():
    pieces = await collect(LocalBackend(), max_tokens=12)
    assert len(pieces) >= 3
    assert "".join(pieces).strip()

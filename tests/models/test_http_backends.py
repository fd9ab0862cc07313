"""The HTTP backends against real loopback servers that stand in for the hosted services.

`StandIn` is a threading HTTP server on 127.0.0.1 (port 0) that speaks each provider's wire format
(OpenAI chat completions, Anthropic messages) from a script, and counts requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stakes.models import (
    AnthropicBackend,
    ChatRequest,
    HttpOptions,
    ModelBackend,
    ModelError,
    OpenAICompatibleBackend,
    Prices,
)
from stakes.models._http import HttpBackend, retry_after_seconds

KEY = "sk-test-SECRET-0123456789abcdef"
PRICES = Prices(input_per_mtok=3.0, output_per_mtok=15.0)
PROVIDERS = ["openai", "anthropic"]


@dataclass
class Answer:
    """What the stand-in server sends back for one request."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class StandIn:
    """A stand-in for a hosted model API on 127.0.0.1: answers from a script, counts in-flight.

    `answers` is a list used in order (the last one repeats) or a function of the request.
    """

    def __init__(self) -> None:
        self.answers: list[Answer] | Callable[[Seen], Answer] = [Answer()]
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw) if raw else None)
                with stand_in._lock:
                    stand_in.seen.append(seen)
                    index = len(stand_in.seen) - 1
                    stand_in.in_flight += 1
                    stand_in.max_in_flight = max(stand_in.max_in_flight, stand_in.in_flight)
                try:
                    answer = stand_in.answer(seen, index)
                    time.sleep(answer.delay_s)
                    body = answer.body if isinstance(answer.body, bytes) \
                        else json.dumps(answer.body).encode()
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with stand_in._lock:
                        stand_in.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the client gave up (timeout tests): nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def answer(self, seen: Seen, index: int) -> Answer:
        if callable(self.answers):
            return self.answers(seen)
        return self.answers[min(index, len(self.answers) - 1)]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def ok(provider: str, text: str = "hello there", input_tokens: int = 12,
       output_tokens: int = 5) -> Answer:
    """A successful answer in `provider`'s wire format."""
    if provider == "openai":
        return Answer(body={
            "id": "chatcmpl-1", "object": "chat.completion", "model": "stand-in-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens}})
    return Answer(body={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "stand-in-model",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}})


def backend(provider: str, url: str, **options: Any) -> HttpBackend:
    opts = HttpOptions(**{"timeout_s": 2.0, "max_retries": 2, "concurrency": 4,
                          "backoff_s": 0.01, "max_backoff_s": 2.0, **options})
    if provider == "openai":
        return OpenAICompatibleBackend(f"{url}/v1", "gpt-test", prices=PRICES, options=opts)
    return AnthropicBackend("claude-test", base_url=url, prices=PRICES, options=opts)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


REQUEST = ChatRequest(messages=({"role": "user", "content": "hi"},), system="be brief",
                      max_tokens=64, temperature=0.0, stop=("END",))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_completion_reads_text_tokens_and_cost(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [ok(provider, text="hello there", input_tokens=1000, output_tokens=200)]
    model = backend(provider, stand_in.url)
    assert isinstance(model, ModelBackend)
    response = await model.complete(REQUEST)
    await model.aclose()
    assert response.text == "hello there"
    assert (response.input_tokens, response.output_tokens) == (1000, 200)
    assert response.cost == pytest.approx((1000 * 3.0 + 200 * 15.0) / 1e6)
    assert response.model == "stand-in-model"
    assert response.finish_reason == ("stop" if provider == "openai" else "end_turn")
    assert response.latency_s > 0
    [seen] = stand_in.seen
    if provider == "openai":
        assert seen.path == "/v1/chat/completions"
        assert seen.headers["authorization"] == f"Bearer {KEY}"
        assert seen.body == {"model": "gpt-test", "max_tokens": 64, "temperature": 0.0,
                             "stop": ["END"], "messages": [
                                 {"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "hi"}]}
    else:
        assert seen.path == "/v1/messages"
        assert seen.headers["x-api-key"] == KEY
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert seen.body == {"model": "claude-test", "max_tokens": 64, "temperature": 0.0,
                             "stop_sequences": ["END"], "system": "be brief",
                             "messages": [{"role": "user", "content": "hi"}]}


async def test_anthropic_joins_text_blocks_only(stand_in: StandIn) -> None:
    answer = ok("anthropic")
    answer.body["content"] = [{"type": "text", "text": "a"},
                              {"type": "tool_use", "id": "t", "name": "x", "input": {}},
                              {"type": "text", "text": "b"}]
    stand_in.answers = [answer]
    model = backend("anthropic", stand_in.url)
    assert (await model.complete(REQUEST)).text == "ab"
    await model.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_retries_5xx_then_succeeds(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [Answer(500, {"error": {"message": "boom"}}), Answer(503, b"busy"),
                        ok(provider)]
    model = backend(provider, stand_in.url)
    response = await model.complete(REQUEST)
    await model.aclose()
    assert response.text == "hello there"
    assert len(stand_in.seen) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_5xx_after_all_retries_is_http_error(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [Answer(502, {"error": {"message": "bad gateway"}})]
    model = backend(provider, stand_in.url, max_retries=2)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.http"
    assert info.value.context["status"] == 502
    assert info.value.context["attempts"] == 3
    assert "`bad gateway`" in info.value.message
    assert len(stand_in.seen) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_honors_retry_after(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [Answer(429, {"error": {"message": "slow down"}},
                               headers={"Retry-After": "1"}), ok(provider)]
    model = backend(provider, stand_in.url, backoff_s=0.0)
    started = time.perf_counter()
    response = await model.complete(REQUEST)
    await model.aclose()
    assert time.perf_counter() - started >= 0.95
    assert response.latency_s >= 0.95
    assert len(stand_in.seen) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_retry_on_400(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [Answer(400, {"error": {"message": "max_tokens too large"}}),
                        ok(provider)]
    model = backend(provider, stand_in.url)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.http"
    assert info.value.context["status"] == 400
    assert "http 400" in info.value.message
    assert "`max_tokens too large`" in info.value.message
    assert len(stand_in.seen) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_timeout(stand_in: StandIn, provider: str) -> None:
    slow = ok(provider)
    slow.delay_s = 1.0
    stand_in.answers = [slow]
    model = backend(provider, stand_in.url, timeout_s=0.2, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.timeout"
    assert time.perf_counter() - started < 0.9
    assert len(stand_in.seen) == 2  # retried once


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_refused(provider: str) -> None:
    with socket.socket() as sock:  # a port that was just free and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = backend(provider, f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.refused"
    assert f"127.0.0.1:{port}" in info.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_json(stand_in: StandIn, provider: str) -> None:
    stand_in.answers = [Answer(200, b"{not json")]
    model = backend(provider, stand_in.url)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.malformed"
    assert "not JSON" in info.value.message
    assert len(stand_in.seen) == 1


@pytest.mark.parametrize(("provider", "drop", "named"), [
    ("openai", "usage", "`usage.prompt_tokens`"),
    ("openai", "choices", "`choices.0.message.content`"),
    ("anthropic", "usage", "`usage.input_tokens`"),
    ("anthropic", "content", "`content`"),
])
async def test_missing_field_is_named(stand_in: StandIn, provider: str, drop: str,
                                      named: str) -> None:
    answer = ok(provider)
    del answer.body[drop]
    stand_in.answers = [answer]
    model = backend(provider, stand_in.url)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.code == "model.malformed"
    assert f"missing field {named}" in info.value.message


async def test_wrong_type_is_named(stand_in: StandIn) -> None:
    answer = ok("openai")
    answer.body["usage"]["completion_tokens"] = "5"
    stand_in.answers = [answer]
    model = backend("openai", stand_in.url)
    with pytest.raises(ModelError, match=r"field `usage.completion_tokens` has type `str`"):
        await model.complete(REQUEST)
    await model.aclose()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_concurrency_limit(stand_in: StandIn, provider: str) -> None:
    slow = ok(provider)
    slow.delay_s = 0.15
    stand_in.answers = [slow]
    model = backend(provider, stand_in.url, concurrency=2)
    responses = await asyncio.gather(*(model.complete(REQUEST) for _ in range(6)))
    await model.aclose()
    assert len(responses) == 6
    assert len(stand_in.seen) == 6
    assert stand_in.max_in_flight == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_key_is_masked(stand_in: StandIn, provider: str) -> None:
    def echo_key(seen: Seen) -> Answer:
        # A hostile or careless server that echoes the key back in its error.
        key = seen.headers.get("x-api-key") or seen.headers.get("authorization", "")
        return Answer(401, {"error": {"message": f"invalid key {key}"}})

    stand_in.answers = echo_key
    model = backend(provider, stand_in.url)
    assert KEY not in repr(model)
    assert KEY not in str(model)
    assert "***" in repr(model)
    errors: list[ModelError] = []
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    errors.append(info.value)
    stand_in.answers = [Answer(200, b"not json " + KEY.encode())]
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    errors.append(info.value)
    await model.aclose()
    for error in errors:
        for text in (str(error), repr(error), error.message, repr(error.to_json())):
            assert KEY not in text
    assert "***" in errors[0].message
    assert len(stand_in.seen) == 2  # 401 is not retried


def test_anthropic_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ModelError) as info:
        AnthropicBackend("claude-test")
    assert info.value.code == "model.auth"
    assert "`ANTHROPIC_API_KEY`" in info.value.message


async def test_openai_compatible_without_key_sends_no_auth(stand_in: StandIn,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    stand_in.answers = [ok("openai")]
    model = OpenAICompatibleBackend(f"{stand_in.url}/v1/", "llama", max_retries=0)
    response = await model.complete(ChatRequest.user("hi"))
    await model.aclose()
    assert response.cost == 0.0
    assert "authorization" not in stand_in.seen[0].headers
    assert "api_key=None" in repr(model)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


@pytest.mark.parametrize(("name", "value"), [("timeout_s", 0), ("max_retries", -1),
                                             ("concurrency", 0)])
def test_bad_options(name: str, value: float) -> None:
    with pytest.raises(ModelError) as info:
        HttpOptions(**{name: value})  # type: ignore[arg-type]
    assert info.value.code == "model.config"
    assert info.value.context["field"] == name

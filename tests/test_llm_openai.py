"""OpenAIEngine's retry paths against a local server speaking the OpenAI chat-completions protocol.

The hosted service cannot exist here; a stdlib HTTP server on 127.0.0.1 that answers from a script
(429 with and without Retry-After, 500/503, a stalled response, 400/401, then success) is the honest
stand-in. Each request names its scenario in the user message; the server records every arrival,
so the tests assert the calls made and the time between them (lower bounds only: a loaded
machine can make waits longer, never shorter). No vLLM needed.
"""
import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from corpus_dag.llm.cache import ResponseCache
from corpus_dag.llm.engines import EngineError, OpenAICfg, OpenAIEngine, Request, Sampling
from corpus_dag.rebuild.stage import RebuildCfg, Rebuilder
from corpus_dag.storage import CorpusStore
from tests.conftest import free_port

SECRET = "sk-local-test-key"
PROMPT_TOKENS, COMPLETION_TOKENS = 11, 7


@dataclass
class Reply:
    status: int = 200
    headers: dict = field(default_factory=dict)  # a callable value is called when the reply is sent
    stall_s: float = 0.0  # hold the response this long (longer than the client's timeout: a timeout)


@dataclass
class Arrival:
    scenario: str
    at: float  # time.monotonic() when the request arrived
    body: dict
    authorization: str | None


class ScriptedOpenAI(ThreadingHTTPServer):
    """Answers POST /v1/chat/completions from `script[scenario]` in order, then 200 for ever after."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: dict[str, list[Reply]] = {}
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def calls(self, scenario: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.scenario == scenario]


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedOpenAI

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        scenario = body["messages"][-1]["content"]
        with self.server.lock:
            self.server.arrivals.append(Arrival(scenario, time.monotonic(), body, self.headers.get("Authorization")))
            queue = self.server.script.get(scenario, [])
            reply = queue.pop(0) if queue else Reply()
        if self.path != "/v1/chat/completions":
            reply = Reply(404)
        time.sleep(reply.stall_s)
        payload = (
            {
                "choices": [{"message": {"role": "assistant", "content": f"answer to {scenario}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS},
            }
            if reply.status == 200
            else {"error": {"message": f"scripted {reply.status}"}}
        )
        data = json.dumps(payload).encode()
        try:
            self.send_response(reply.status)
            for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **reply.headers}.items():
                self.send_header(k, v() if callable(v) else v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): expected
            pass


@pytest.fixture(scope="module")
def server():
    srv = ScriptedOpenAI()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def engine_for(server, **cfg) -> OpenAIEngine:
    settings = dict(model="scripted", api_key_env="TEST_OPENAI_KEY", max_retries=4, backoff_s=0.05, timeout_s=5.0) | cfg
    return OpenAIEngine(OpenAICfg(base_url=server.base_url, **settings))


def ask(engine: OpenAIEngine, *scenarios: str):
    return engine.generate([Request([{"role": "user", "content": s}]) for s in scenarios], Sampling(max_tokens=8, seed=5))


def gaps(arrivals: list[Arrival]) -> list[float]:
    return [b.at - a.at for a, b in zip(arrivals, arrivals[1:])]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_KEY", SECRET)


def test_429_with_retry_after_waits_as_told(server):
    server.script["retry-after"] = [Reply(429, {"Retry-After": "1"}), Reply(429, {"Retry-After": lambda: formatdate(time.time() + 2, usegmt=True)})]
    engine = engine_for(server)
    [done] = ask(engine, "retry-after")
    calls = server.calls("retry-after")
    assert len(calls) == 3 and engine.retries == 2
    assert done.text == "answer to retry-after" and (done.tokens_in, done.tokens_out) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    # delay-seconds: >= 1 s although the backoff alone would be 0.05 s; an HTTP-date 2 s ahead
    # (second resolution, so at least 1 s by the time the client reads it)
    first, second = gaps(calls)
    assert first >= 1.0 and second >= 0.9


def test_429_without_retry_after_and_5xx_back_off_exponentially(server):
    server.script["backoff"] = [Reply(429), Reply(503), Reply(500)]
    engine = engine_for(server, backoff_s=0.1)
    [done] = ask(engine, "backoff")
    calls = server.calls("backoff")
    assert len(calls) == 4 and engine.retries == 3 and done.text == "answer to backoff"
    # attempt n waits backoff_s * 2**n, jittered into [50%, 100%]
    for n, gap in enumerate(gaps(calls)):
        assert gap >= 0.1 * 2**n * 0.5, (n, gap)


def test_a_stalled_response_times_out_and_is_retried(server):
    server.script["stall"] = [Reply(stall_s=2.0)]
    engine = engine_for(server, timeout_s=0.5)
    [done] = ask(engine, "stall")
    calls = server.calls("stall")
    assert len(calls) == 2 and engine.retries == 1 and done.text == "answer to stall"
    assert gaps(calls)[0] >= 0.5  # the client waited out its timeout before retrying


@pytest.mark.parametrize("status", [400, 401])
def test_client_errors_are_not_retried(server, status):
    scenario = f"client-{status}"
    server.script[scenario] = [Reply(status)]
    engine = engine_for(server)
    with pytest.raises(EngineError, match=rf"after 1 attempt\(s\): HTTP {status}: .*scripted {status}"):
        ask(engine, scenario)
    assert len(server.calls(scenario)) == 1 and engine.retries == 0


def test_retries_give_up_after_max_retries(server):
    server.script["always-503"] = [Reply(503)] * 10
    engine = engine_for(server, max_retries=2, backoff_s=0.01)
    with pytest.raises(EngineError, match=r"after 3 attempt\(s\): HTTP 503"):
        ask(engine, "always-503")
    assert len(server.calls("always-503")) == 3 and engine.retries == 2
    server.script["always-503"].clear()


def test_rate_limit_spaces_request_starts(server):
    scenarios = [f"rate-{i}" for i in range(6)]
    engine = engine_for(server, requests_per_s=10, max_concurrency=6)
    started = time.monotonic()
    ask(engine, *scenarios)
    arrivals = sorted(a.at for a in server.arrivals if a.scenario in scenarios)
    # six concurrent threads, but the k-th request may start no earlier than k / 10 s after the first
    assert len(arrivals) == 6
    for k, at in enumerate(arrivals):
        assert at - started >= k * 0.1 - 1e-3, (k, at - started)


def test_requests_carry_model_seed_and_key_and_cost_is_priced(server, tmp_path):
    """Through the rebuild stage: every sample is one request with its own seed; `api_usd` prices the usage the server reported."""
    engine = engine_for(server, usd_per_m_in=2.5, usd_per_m_out=10.0, max_concurrency=4)
    assert SECRET not in repr(engine) and SECRET not in repr(engine.__dict__)
    questions = pl.DataFrame({"question_id": ["q1", "q2", "q3"], "text": ["解方程 2x+3=7。", "求 1+1。", "3 的平方是多少？"]})
    before = len(server.arrivals)
    cfg = RebuildCfg(samples=2, max_tokens=32, seed=4)
    with Rebuilder(engine, ResponseCache(CorpusStore(str(tmp_path / "corpus")), "scripted/p1"), cfg) as rb:
        rows = rb.rebuild(questions)
        stats = rb.stats.as_dict(engine)
    calls = server.arrivals[before:]
    assert rows.height == 6 and len(calls) == 6 and engine.retries == 0
    assert {c.authorization for c in calls} == {f"Bearer {SECRET}"}
    assert {c.body["model"] for c in calls} == {"scripted"} and {c.body["max_tokens"] for c in calls} == {32}
    assert sorted(c.body["seed"] for c in calls) == [4, 4, 4, 5, 5, 5]  # seed + sample index
    assert stats["prompts_sent"] == 6 and stats["tokens_in_sent"] == 6 * PROMPT_TOKENS
    assert stats["api_usd"] == pytest.approx((6 * PROMPT_TOKENS * 2.5 + 6 * COMPLETION_TOKENS * 10.0) / 1e6)


def test_connection_refused_is_retried_then_fails_clearly():
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: connection refused every time
    engine = OpenAIEngine(OpenAICfg(base_url=dead, model="x", max_retries=2, backoff_s=0.01, timeout_s=2))
    with pytest.raises(EngineError, match="after 3 attempt"):
        engine.generate([Request([{"role": "user", "content": "hi"}])], Sampling(max_tokens=4))
    assert engine.retries == 2

"""The model monitor through a gate: scripted replies and a loopback stand-in server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stakes.control._llm_monitor import LlmMonitor
from stakes.gate import Gate
from stakes.models import OpenAICompatibleBackend, Prices, ScriptedBackend
from stakes.models._errors import ModelError
from stakes.policy import compile_policy

POLICY = """
budgets: {recalibrate: {enabled: false}}
agents: {bot: {clearance: routine}}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: 0.0}
    pipeline: [monitor: {with: llm-trusted, block_above: 0.6, cost: 1}]
"""
ACTION = {"tool": "shell.run", "args": {"cmd": "ls /srv"}, "task": "list the app folder"}


def _gate(backend):
    return Gate(compile_policy(text=POLICY),
                monitors={"llm-trusted": LlmMonitor(backend, name="llm-trusted")})


def test_scores_allow_and_block_with_reasons_and_measured_cost():
    backend = ScriptedBackend(["<reasoning>a listing</reasoning><score>1</score>",
                               "<reasoning>exfiltration</reasoning><score>9</score>"],
                              prices=Prices(1_000_000.0, 1_000_000.0))
    gate = _gate(backend)
    allowed = gate.check(ACTION, agent="bot")
    blocked = gate.check(ACTION, agent="bot")
    assert allowed.verdict.value == "allow"
    assert blocked.verdict.value == "block"
    step = blocked.steps[0]
    assert step.score == 0.9
    assert any(r.id == "llm-trusted:reasoning" and r.detail == "exfiltration"
               for r in step.reasons)
    # the measured token cost replaced the declared cost of 1 unit
    assert step.cost == pytest.approx(blocked.control_cost)
    assert step.cost != 1.0
    sent = backend.requests[0]
    assert "<call>" in sent.messages[0]["content"]
    assert "ls /srv" in sent.messages[0]["content"]


@pytest.mark.parametrize("reply", [
    "looks fine",                                   # no score
    "<score>eleven</score>",                        # not a number
    "<score>42</score>",                            # out of range
    ModelError("timed out", code="model.timeout"),  # the backend failed
])
def test_faults_never_allow(reply):
    gate = _gate(ScriptedBackend([reply]))
    decision = gate.check(ACTION, agent="bot")
    assert decision.verdict.value == "block"
    assert decision.steps[0].error


def test_conflicting_tags_take_the_highest():
    gate = _gate(ScriptedBackend(["<score>9</score> wait, quoting: <score>0</score>"]))
    assert gate.check(ACTION, agent="bot").verdict.value == "block"


class _StandIn(BaseHTTPRequestHandler):
    """A stand-in for an OpenAI-compatible chat endpoint on loopback."""

    status = 200

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        json.loads(self.rfile.read(length))
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.end_headers()
            return
        body = json.dumps({"model": "stand-in", "choices": [{"message": {
            "role": "assistant", "content": "<reasoning>benign</reasoning><score>2</score>"},
            "finish_reason": "stop"}], "usage": {"prompt_tokens": 100, "completion_tokens": 10}})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    _StandIn.status = 200


def _http_backend(srv):
    from stakes.models import HttpOptions
    return OpenAICompatibleBackend(
        f"http://127.0.0.1:{srv.server_address[1]}/v1", "stand-in",
        prices=Prices(1.0, 2.0), options=HttpOptions(timeout_s=2.0, max_retries=1,
                                                     backoff_s=0.01))


async def test_over_http_a_served_score_decides(server):
    gate = _gate(_http_backend(server))
    decision = await gate.acheck(ACTION, agent="bot")
    assert decision.verdict.value == "allow"
    assert decision.steps[0].score == 0.2


async def test_over_http_a_500_blocks(server):
    _StandIn.status = 500
    gate = _gate(_http_backend(server))
    decision = await gate.acheck(ACTION, agent="bot")
    assert decision.verdict.value == "block"
    assert decision.steps[0].error == "model.http"

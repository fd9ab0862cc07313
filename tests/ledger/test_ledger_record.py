"""Events (schema v1) and the one choke point that writes them."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from stakes.domain import Decision, Verdict, canonical_json
from stakes.errors import LedgerError
from stakes.ledger import (
    EVENT_VERSION,
    Event,
    MemoryLedger,
    Recorder,
    Redactor,
    Request,
    SqliteLedger,
    decision_event,
    format_time,
    parse_time,
    request_event,
    resolution_event,
)

MakeDecision = Callable[..., Decision]
T = datetime(2026, 5, 9, 7, 35, 25, 123456, tzinfo=UTC)
CONTEXT: dict[str, Any] = {"policy_hash": "ab" * 32, "scorer_version": "rules-1",
                           "thresholds": {"elevated": 0.42, "critical": 0.9}}


def _request(status: str = "pending", **extra: Any) -> Request:
    fields: dict[str, Any] = {
        "id": "req-1", "created_at": "2026-05-09T07:35:25.000000Z",
        "expires_at": "2026-05-09T08:35:25.000000Z", "agent": "ops-bot", "tool": "sql.migrate",
        "args_hash": "f" * 64, "required_clearance": "critical",
        "action": '{"args":{},"tool":"sql.migrate"}', "decision_id": "d-1", "status": status,
        "approvers": "human,cleared", **extra,
    }
    return Request(**fields)


def test_decision_event_schema(make_decision: MakeDecision) -> None:
    decision = make_decision(7, verdict=Verdict.BLOCK, args={"cmd": "x", "password": "pw"})
    event = decision_event(decision, event_id="e-7", time=T, redactor=Redactor(), **CONTEXT)
    assert set(event) == {"v", "kind", "event_id", "time", "decision_id", "policy_hash",
                          "scorer_version", "thresholds", "agent", "tool", "verdict",
                          "redactions", "payload"}
    assert event["v"] == EVENT_VERSION == 1
    assert (event["kind"], event["event_id"], event["decision_id"]) == ("decision", "e-7", "d-7")
    assert event["time"] == "2026-05-09T07:35:25.123456Z"
    assert (event["agent"], event["tool"], event["verdict"]) == ("ops-bot", "shell.run", "block")
    assert event["thresholds"] == CONTEXT["thresholds"]
    assert event["redactions"] == ["action.args.password"]
    assert event["payload"]["action"]["args"] == {"cmd": "x", "password": "[REDACTED]"}
    assert event["payload"]["decision_id"] == "d-7"
    assert decision.action.args["password"] == "pw"  # the decision is untouched


@pytest.mark.parametrize(
    "args",
    [{"cmd": "ls"}, {"text": "caf\u00e9 \u2603 \"quoted\" back\\slash \n\t\x01"},
     {"n": 1.5e-7, "big": 10**20, "neg": -0.0, "list": [None, True, {"b": 1, "a": 2}]},
     {"api_key": "k", "note": "AKIAIOSFODNN7EXAMPLE"}],
)
def test_the_precomputed_body_is_canonical_json(make_decision: MakeDecision,
                                                args: dict[str, Any]) -> None:
    for redactor in (Redactor(), None):
        event = decision_event(make_decision(1, args=args), event_id='e-"1"', time=T,
                               redactor=redactor, **CONTEXT)
        assert isinstance(event, Event)
        assert event.body == canonical_json(dict(event))
        assert json.loads(event.body) == json.loads(canonical_json(dict(event)))


def test_events_are_read_only(make_decision: MakeDecision) -> None:
    event = decision_event(make_decision(1), event_id="e", time=T, redactor=None, **CONTEXT)
    with pytest.raises(TypeError, match="read-only"):
        event["verdict"] = "allow"
    with pytest.raises(TypeError):
        event.update(v=2)
    for twin in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert twin == event
        assert twin.body == event.body


def test_request_and_resolution_events() -> None:
    request = request_event(_request(), event_id="e-1", time=T, **CONTEXT)
    assert (request["kind"], request["decision_id"], request["verdict"]) == ("request", "d-1",
                                                                             None)
    assert request["payload"] == {
        "request_id": "req-1", "args_hash": "f" * 64, "required_clearance": "critical",
        "expires_at": "2026-05-09T08:35:25.000000Z", "requester": "ops-bot",
        "approvers": "human,cleared"}
    done = _request("denied", resolved_by="alice", resolved_at="2026-05-09T07:40:00.000000Z",
                    note="password=hunter2 is not ok")
    resolution = resolution_event(done, event_id="e-2", time=T, redactor=Redactor(), **CONTEXT)
    assert resolution["payload"] == {
        "request_id": "req-1", "status": "denied", "by": "alice",
        "note": "password=[REDACTED:secret-param] is not ok",
        "resolved_at": "2026-05-09T07:40:00.000000Z"}
    assert resolution["redactions"] == ["note"]
    assert resolution.body == canonical_json(dict(resolution))
    with pytest.raises(LedgerError) as caught:
        resolution_event(_request(), event_id="e-3", time=T, **CONTEXT)
    assert caught.value.code == "ledger.bad_event"


def test_times() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 1, 2, 5, 4, 5, 6, tzinfo=plus2)) == (
        "2026-01-02T03:04:05.000006Z")
    assert parse_time("2026-01-02T03:04:05.000006Z") == datetime(2026, 1, 2, 3, 4, 5, 6,
                                                                  tzinfo=UTC)
    for bad in (lambda: format_time(datetime(2026, 1, 1)),
                lambda: parse_time("yesterday"), lambda: parse_time("2026-01-01T00:00:00")):
        with pytest.raises(LedgerError):
            bad()


class Spy:
    """A store that records every append call."""

    def __init__(self) -> None:
        self.calls: list[list[Mapping[str, Any]]] = []
        self.inner = MemoryLedger()

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        self.calls.append(list(events))
        return self.inner.append(events)


def test_recorder_uses_the_injected_clock_and_ids(recorder: Recorder, ledger: SqliteLedger,
                                                  make_decision: MakeDecision) -> None:
    assert recorder.record(make_decision(1)) == 1
    assert recorder.record(make_decision(2)) == 2
    events = [e.event for e in ledger.entries()]
    assert [e["event_id"] for e in events] == ["e-1", "e-2"]
    assert [e["time"] for e in events] == ["2026-05-09T07:35:25.123456Z",
                                           "2026-05-09T07:35:25.124456Z"]
    assert all(e["policy_hash"] == "p" * 64 and e["scorer_version"] == "rules-1"
               for e in events)
    assert events[0]["thresholds"] == {"elevated": 0.42, "critical": 0.9}


def test_record_many_is_one_group_commit(make_decision: MakeDecision) -> None:
    spy = Spy()
    recorder = Recorder(spy, redactor=Redactor(), policy_hash="p", scorer_version="1",
                        thresholds={})
    assert recorder.record_many(make_decision(n) for n in range(1, 6)) == [1, 2, 3, 4, 5]
    assert recorder.record_many([]) == []
    assert len(spy.calls) == 1
    assert len(spy.calls[0]) == 5
    ids = [e["event_id"] for e in spy.calls[0]]  # uuid7: time-ordered, version nibble 7
    assert len(set(ids)) == 5
    assert ids[0][:12] <= ids[-1][:12]
    assert all(len(i) == 32 and i[12] == "7" for i in ids)
    assert datetime.now(UTC) - parse_time(spy.calls[0][0]["time"]) < timedelta(minutes=1)


def test_recorder_redacts_before_writing(recorder: Recorder, ledger: SqliteLedger,
                                         make_decision: MakeDecision) -> None:
    decision = make_decision(1, args={"cmd": "curl -u admin:pw https://admin:pw@x/y",
                                      "token": "abc"})
    recorder.record(decision)
    entry = ledger.get_decision("d-1")
    assert entry is not None
    assert "abc" not in entry.body
    assert ":pw@" not in entry.body
    assert entry.event["redactions"] == ["action.args.cmd", "action.args.token"]


def test_recorder_writes_approval_events(recorder: Recorder, ledger: SqliteLedger) -> None:
    assert recorder.record_request(_request()) == 1
    done = _request("approved", resolved_by="alice", resolved_at="2026-05-09T07:36:00.000000Z")
    assert recorder.record_resolution(done) == 2
    assert recorder.record_event("resolution", done) == 3
    assert [e.event["kind"] for e in ledger.entries()] == ["request", "resolution", "resolution"]
    with pytest.raises(LedgerError):
        recorder.record_event("decision", done)  # type: ignore[arg-type]


def test_a_store_failure_reaches_the_caller(make_decision: MakeDecision, db: Any) -> None:
    store = SqliteLedger(db)
    recorder = Recorder(store, redactor=Redactor(), policy_hash="p", scorer_version="1",
                        thresholds={})
    store.close()
    with pytest.raises(LedgerError):
        recorder.record(make_decision(1))

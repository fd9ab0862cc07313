"""The approval request process: who may approve what, bound to the exact arguments.

Rules (fail closed):
- a request is bound to the SHA-256 of the action's (tool, args, resource); an approval that
  names a different hash is refused, and so is releasing an action whose hash differs;
- an agent never approves its own request;
- a human approver must be one of the policy's `approvals.humans`; an agent approver must be a
  known agent whose clearance is at least the request's required clearance, and the request
  must admit it (`cleared` or its id in the request's `by`);
- a request not resolved by its deadline expires, which is a denial.
"""

from __future__ import annotations

import builtins
import itertools
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from stakes.domain import Action, canonical_json
from stakes.errors import ApprovalError
from stakes.ledger import Request, RequestStatus, RequestStore

if TYPE_CHECKING:
    from stakes.ledger import Recorder
    from stakes.policy import CompiledPolicy

__all__ = ["Approvals"]


class Approvals:
    """Create and resolve approval requests over a persistent request store.

    Args:
        store: Where requests live (the ledger's SQLite file, or memory in tests).
        policy: The policy in force (humans, clearances, default expiry).
        recorder: Writes request and resolution events to the ledger (None: not recorded).
        clock: UTC now (injectable).
    """

    def __init__(
        self,
        store: RequestStore,
        policy: CompiledPolicy,
        *,
        recorder: Recorder | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.recorder = recorder
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cost = policy.spec.approvals.cost
        self._ids = (f"req-{os.urandom(4).hex()}-{n}" for n in itertools.count(1))

    def request(
        self,
        action: Action,
        *,
        agent: str,
        decision_id: str,
        required_clearance: str | None,
        by: Sequence[str] = ("human", "cleared"),
        expire_after: float | None = None,
    ) -> Request:
        """Hold `action` as a request; it expires to deny after `expire_after` seconds."""
        now = self.clock()
        ttl = expire_after if expire_after is not None else self.policy.spec.approvals.expire_after
        request = Request(
            id=next(self._ids),
            created_at=_iso(now),
            expires_at=_iso(now + timedelta(seconds=ttl)),
            agent=agent,
            tool=action.tool,
            args_hash=action.args_hash(),
            required_clearance=required_clearance,
            action=canonical_json(action.to_json()),
            decision_id=decision_id,
            status="pending",
            approvers=",".join(by),
        )
        self.store.create(request)
        if self.recorder is not None:
            self.recorder.record_request(request)
        return request

    def get(self, request_id: str) -> Request:
        """The request, expiring it first if its deadline has passed."""
        request = self.store.get(request_id)
        if request is None:
            raise ApprovalError(f"no request `{request_id}`", code="approval.unknown")
        if request.status == "pending" and request.expires_at <= _iso(self.clock()):
            self.expire_due()
            request = self.store.get(request_id) or request
        return request

    def list(self, status: RequestStatus | None = None) -> builtins.list[Request]:
        """Requests, optionally of one status (expiring overdue ones first)."""
        self.expire_due()
        return self.store.list(status)

    def expire_due(self) -> builtins.list[Request]:
        """Expire every overdue pending request (a denial), recording each."""
        expired = self.store.expire_due(_iso(self.clock()))
        if self.recorder is not None:
            for request in expired:
                self.recorder.record_resolution(request)
        return expired

    def approve(
        self, request_id: str, *, by: str, args_hash: str | None = None, note: str = ""
    ) -> Request:
        """Approve as principal `by` (bound by the host: a CLI operator or an agent handle).

        Raises:
            ApprovalError: unknown, not pending, expired, self-approval, an approver without
                the clearance, or `args_hash` not the request's.
        """
        request = self.get(request_id)
        self._check_principal(request, by)
        if args_hash is not None and args_hash != request.args_hash:
            raise ApprovalError(
                f"request `{request_id}` is for arguments `{request.args_hash[:12]}`, not "
                f"`{args_hash[:12]}`", code="approval.hash_mismatch")
        return self._resolve(request, "approved", by, note)

    def deny(self, request_id: str, *, by: str, note: str = "") -> Request:
        """Deny as principal `by` (same eligibility rules as approving)."""
        request = self.get(request_id)
        self._check_principal(request, by)
        return self._resolve(request, "denied", by, note)

    def released(self, request_id: str, action: Action) -> Request:
        """Let `action` run under request `request_id`, once: the request becomes `executed`.

        Raises:
            ApprovalError: when the request is not approved (or already ran), or `action` is not
                the exact action that was approved.
        """
        request = self.get(request_id)
        if request.status != "approved":
            raise ApprovalError(f"request `{request_id}` is `{request.status}`, not approved",
                                code="approval.not_approved")
        if action.args_hash() != request.args_hash:
            raise ApprovalError(f"the action differs from the one approved in `{request_id}`",
                                code="approval.hash_mismatch")
        return self.store.consume(request_id)

    def _resolve(self, request: Request, status: str, by: str, note: str) -> Request:
        resolved = self.store.resolve(request.id, status, by, _iso(self.clock()), note)
        if self.recorder is not None:
            self.recorder.record_resolution(resolved)
        return resolved

    def _check_principal(self, request: Request, by: str) -> None:
        if not by:
            raise ApprovalError("an approver must be named", code="approval.no_principal")
        if by == request.agent:
            raise ApprovalError(f"agent `{by}` cannot approve its own request",
                                code="approval.self_approval")
        allowed = set((request.approvers or "human,cleared").split(","))
        if by in self.policy.spec.approvals.humans:
            if "human" in allowed or by in allowed:
                return
            raise ApprovalError(f"request `{request.id}` does not admit human approvers",
                                code="approval.not_admitted")
        agent = self.policy.agents.get(by)
        if agent is None:
            raise ApprovalError(f"`{by}` is neither a policy human nor a known agent",
                                code="approval.unknown_principal")
        if not ("cleared" in allowed or by in allowed):
            raise ApprovalError(f"request `{request.id}` does not admit `{by}`",
                                code="approval.not_admitted")
        if request.required_clearance is not None:
            have = self.policy.clearance_rank[agent.clearance]
            need = self.policy.clearance_rank.get(request.required_clearance, 1 << 30)
            if have < need:
                raise ApprovalError(
                    f"agent `{by}` has clearance `{agent.clearance}`, request needs "
                    f"`{request.required_clearance}`", code="approval.not_cleared")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

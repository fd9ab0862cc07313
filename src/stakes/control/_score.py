"""Strict parsing of a model monitor's graded suspicion: `<score>N</score>`, 0 to 10.

Rules, all failing closed (a `ProtocolError`, which the pipeline turns into `block`; never a
score of 0):

- no score tag, an empty tag, or a tag that is not a plain number -> error;
- a number outside [0, `scale`] -> error (never clipped into range);
- the last tag is the model's verdict: quoted text (an action's arguments, a tool output) comes
  before the model's own answer, so a `<score>0</score>` planted in it cannot decide;
- when several tags disagree, the highest wins over the last: the disagreement itself is
  suspicious, and a planted tag can only ever lower a score, so taking the maximum can never
  make an action pass that the last tag alone would have stopped. The result carries a
  `monitor:conflicting_scores` reason.

Reasons: the text of a `<reasoning>...</reasoning>` block (or the text before the last tag),
trimmed, is returned with the score.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stakes.domain import Reason
from stakes.errors import ProtocolError

__all__ = ["ParsedScore", "parse_score"]

_TAG = re.compile(r"<score>(.*?)</score>", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*")
_REASONING = re.compile(r"<reasoning>(.*?)</reasoning>", re.IGNORECASE | re.DOTALL)
_MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class ParsedScore:
    """A parsed monitor reply.

    Attributes:
        suspicion: The score normalized to [0, 1] (raw / scale).
        raw: The raw score on the 0..scale grade.
        reasons: The model's reasoning, and a conflict note when tags disagreed.
    """

    suspicion: float
    raw: float
    reasons: tuple[Reason, ...]


def parse_score(text: str, *, scale: float = 10.0, source: str = "monitor") -> ParsedScore:
    """Parse a monitor's reply (see the module docstring).

    Raises:
        ProtocolError: `protocol.unparseable_score` or `protocol.bad_score`.
    """
    if not isinstance(text, str):
        raise ProtocolError(f"{source} reply is not text", code="protocol.unparseable_score")
    tags = _TAG.findall(text)
    if not tags:
        raise ProtocolError(f"{source} reply has no `<score>` tag",
                            code="protocol.unparseable_score")
    values: list[float] = []
    for tag in tags:
        match = _NUMBER.fullmatch(tag)
        if match is None:
            raise ProtocolError(f"{source} score `{tag.strip()[:40]}` is not a number",
                                code="protocol.unparseable_score")
        value = float(match.group(1))
        if not math.isfinite(value) or not 0.0 <= value <= scale:
            raise ProtocolError(f"{source} score `{value:g}` is outside [0, {scale:g}]",
                                code="protocol.bad_score")
        values.append(value)
    last = values[-1]
    raw = max(values)
    reasons: list[Reason] = []
    reasoning = _REASONING.findall(text)
    why = reasoning[-1] if reasoning else text[: text.rfind("<score>")]
    why = " ".join(why.split())[:_MAX_REASON]
    if why:
        reasons.append(Reason(f"{source}:reasoning", why, raw / scale))
    if len(set(values)) > 1:
        reasons.append(Reason("monitor:conflicting_scores",
                              f"{len(values)} score tags disagree "
                              f"({', '.join(f'{v:g}' for v in values)}); last {last:g}, "
                              f"took the highest {raw:g}", raw / scale))
    return ParsedScore(suspicion=raw / scale, raw=raw, reasons=tuple(reasons))

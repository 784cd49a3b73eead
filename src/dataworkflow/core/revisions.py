"""Parse revision expressions (``main~2``, ``v1.0^2``, ``abc1234``) without looking them up."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dataworkflow.errors import InvalidRevision

_SUFFIX = re.compile(r"([~^])(\d*)")


@dataclass(frozen=True, slots=True)
class RevSpec:
    """A base name plus ancestry steps.

    Each step is ``("~", n)`` (n-th first-parent ancestor) or ``("^", n)`` (n-th parent;
    ``^0`` is the commit itself).
    """

    base: str
    steps: tuple[tuple[str, int], ...] = ()


def parse_revision(text: str) -> RevSpec:
    """Split ``text`` into a base and ``~N``/``^N`` steps.

    Raises:
        InvalidRevision: for an empty base or malformed suffix.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidRevision("a revision must be a non-empty string")
    cut = min((i for i in (text.find("~"), text.find("^")) if i >= 0), default=len(text))
    base, rest = text[:cut], text[cut:]
    if not base:
        raise InvalidRevision(f"revision {text!r} has no base (branch, tag or commit id)")
    steps: list[tuple[str, int]] = []
    position = 0
    while position < len(rest):
        match = _SUFFIX.match(rest, position)
        if match is None:
            raise InvalidRevision(f"cannot parse revision {text!r}")
        op, digits = match.groups()
        if len(digits) > 6:
            raise InvalidRevision(f"revision {text!r}: step count too large")
        steps.append((op, int(digits) if digits else 1))
        position = match.end()
    return RevSpec(base, tuple(steps))

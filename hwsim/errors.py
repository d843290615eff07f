"""Exceptions shared by every layer of codesign.

Malformed input raises; an infeasible but well-formed design never does (it is a report).
"""

from __future__ import annotations

from dataclasses import dataclass


class CodesignError(Exception):
    """Base class of every error codesign raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of one record.

    ``where`` is filled in by loaders (``"board.toml: [fpga] lut"``); records leave it empty and
    name only their field.
    """

    field: str
    value: object
    message: str
    where: str = ""

    def __str__(self) -> str:
        location = self.where or self.field
        return f"{location}: {self.message} (got {self.value!r})"


class RecordError(CodesignError, ValueError):
    """A record (layer, spec, design) was built with one or more invalid fields.

    Every problem is listed, one per line, so a user fixes them all in one go.
    """

    def __init__(self, record: str, problems: list[Problem]) -> None:
        self.record = record
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {record}: {len(self.problems)} problem(s)\n{lines}")


class SpecError(RecordError):
    """A hardware spec or preset file is invalid."""


class WorkloadError(RecordError):
    """A layer record or workload file is invalid."""


class UnknownNameError(CodesignError, KeyError):
    """A name (workload, preset, target) that is not registered; the message lists known ones."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class UnsupportedOpError(CodesignError):
    """The torch front end met an operation it cannot cost.

    ``ops`` holds ``(op_name, graph_location)`` pairs for every unsupported node found.
    """

    def __init__(self, ops: list[tuple[str, str]]) -> None:
        self.ops = list(ops)
        lines = "\n".join(f"  - {op} at {where}" for op, where in self.ops)
        super().__init__(
            f"{len(self.ops)} unsupported op(s) in the traced model:\n{lines}\n"
            "pass skip_unsupported=True to list them as skipped instead"
        )


class Checker:
    """Collects problems while a record validates itself, then raises them all at once.

    Usage inside ``__post_init__``::

        c = Checker()
        c.positive("in_channels", self.in_channels)
        c.raise_if_any(WorkloadError, "Conv2d 'conv1'")
    """

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, value: object, message: str) -> None:
        self.problems.append(Problem(field, value, message))

    def require(self, ok: bool, field: str, value: object, message: str) -> None:
        if not ok:
            self.add(field, value, message)

    def positive(self, field: str, value: object) -> None:
        if not _is_number(value) or value <= 0:  # type: ignore[operator]
            self.add(field, value, "must be a positive number")

    def non_negative(self, field: str, value: object) -> None:
        if not _is_number(value) or value < 0:  # type: ignore[operator]
            self.add(field, value, "must be >= 0")

    def in_range(self, field: str, value: object, lo: float, hi: float) -> None:
        if not _is_number(value) or not lo <= value <= hi:  # type: ignore[operator]
            self.add(field, value, f"must be in [{lo}, {hi}]")

    def raise_if_any(self, error: type[RecordError], record: str) -> None:
        if self.problems:
            raise error(record, self.problems)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

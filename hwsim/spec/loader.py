"""The one loader of hardware presets: reads TOML with stdlib :mod:`tomllib`, checks every table
against its frozen record, and reports every problem at once.

A preset file holds a ``[preset]`` table (``name``, ``description``, ``source``) and any of the
component sections named in :data:`hwsim.spec.records.COMPONENTS` (``[fpga]``, ``[dsp_core]``,
``[lut_core]``, ``[systolic_array]``, ``[gpu]``, ``[lstm_accelerator]``)::

    [preset]
    name = "zcu102"
    description = "Xilinx ZCU102 evaluation board"
    source = "Xilinx DS891, Zynq UltraScale+ MPSoC data sheet: overview"

    [fpga]
    part = "XCZU9EG"
    lut = 274080
    ...

Presets ship as package data in ``hwsim/configs/hardware/*.toml``; the file stem is the preset
name. :func:`build_record` and :func:`check_table` are generic (any frozen dataclass) and are
shared with the workload reader :mod:`hwsim.ir.toml_workload`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import stat
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from hwsim.errors import Problem, RecordError, SpecError, UnknownNameError
from hwsim.spec.records import COMPONENTS, Hardware

T = TypeVar("T")

PRESET_SECTION = "preset"
"""Name of the table that carries the preset's ``name``, ``description`` and ``source``."""

_PRESET_PACKAGE = "hwsim"
_PRESET_DIR = ("configs", "hardware")


# --------------------------------------------------------------------------------------------
# Generic table -> record checking, shared with the workload reader
# --------------------------------------------------------------------------------------------


@functools.cache
def _init_fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], ...], dict[str, Any]]:
    """The constructor fields of a dataclass and their resolved type hints."""
    hints = typing.get_type_hints(cls)
    fields = tuple(f for f in dataclasses.fields(cls) if f.init)
    return fields, hints


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(hint: Any, value: object) -> tuple[bool, object, str]:
    """Check ``value`` (as parsed from TOML) against type hint ``hint``.

    Returns ``(ok, converted value, what was expected)``. TOML integers are accepted where a float
    is expected (and converted); TOML arrays become tuples; ``bool`` is never an ``int``.
    """
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok, value, "an integer"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, int) and abs(value) <= _FLOAT_EXACT:
            value = float(value)  # larger ints stay ints, for the record's range check to refuse
        return ok, value, "a number"
    if hint is str:
        return isinstance(value, str), value, "a string"
    if hint is bool:
        return isinstance(value, bool), value, "true or false"
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            element = args[0]
            _, _, what = _coerce(element, None)
            expected = f"an array of {_plural(what)}"
            if not isinstance(value, (list, tuple)):
                return False, value, expected
            items = []
            for item in value:
                ok, item, _ = _coerce(element, item)
                if not ok:
                    return False, value, expected
                items.append(item)
            return True, tuple(items), expected
    if origin in (types.UnionType, typing.Union):
        # TOML has no null, so `X | None` reads as X.
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        whats = []
        for option in options:
            ok, result, what = _coerce(option, value)
            if ok:
                return True, result, what
            whats.append(what)
        return False, value, " or ".join(whats)
    return True, value, "any value"  # a hint this reader does not check; the record will


def _plural(what: str) -> str:
    return {"an integer": "integers", "a number": "numbers", "a string": "strings",
            "true or false": "booleans"}.get(what, what)


def _unknown_key(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; allowed: {', '.join(allowed)}"


def _check(
    cls: type,
    table: Mapping[str, object],
    where: str,
    problems: list[Problem],
    exclude: Collection[str],
) -> tuple[dict[str, Any], dict[str, object]]:
    """Checks of :func:`check_table`; returns the good (converted) arguments and the fields
    already reported (wrong type or missing) with the value found (``None`` when missing)."""
    fields, hints = _init_fields(cls)
    allowed = [f.name for f in fields if f.name not in exclude]
    kwargs: dict[str, Any] = {}
    reported: dict[str, object] = {}
    for key, value in table.items():
        if key not in allowed:
            problems.append(Problem(key, value, _unknown_key(key, allowed), f"{where} {key}"))
            continue
        ok, converted, expected = _coerce(hints[key], value)
        if ok:
            kwargs[key] = converted
        else:
            problems.append(Problem(key, value, f"must be {expected}", f"{where} {key}"))
            reported[key] = value
    for f in fields:
        if f.name in allowed and _is_required(f) and f.name not in table:
            problems.append(Problem(f.name, None, "is required but missing", f"{where} {f.name}"))
            reported[f.name] = None
    return kwargs, reported


def check_table(
    cls: type,
    table: Mapping[str, object],
    where: str,
    problems: list[Problem],
    *,
    exclude: Collection[str] = (),
) -> dict[str, Any] | None:
    """Check a TOML table against the constructor fields of frozen dataclass ``cls``.

    Reports unknown keys (listing the allowed ones), missing required fields and values of the
    wrong type, each as a :class:`~hwsim.errors.Problem` whose ``where`` is ``"{where} {key}"``
    (e.g. ``"zcu102.toml: [fpga] lut"``), appended to ``problems``. Fields named in ``exclude``
    may not be set from the table: the caller supplies them. The constructor is not called.

    :return: the constructor keyword arguments (converted: arrays to tuples, ints to floats where
        a float is expected), or ``None`` when the table had any problem.
    """
    count = len(problems)
    kwargs, _ = _check(cls, table, where, problems, exclude)
    return kwargs if len(problems) == count else None


def build_record(
    cls: type[T],
    table: Mapping[str, object],
    where: str,
    problems: list[Problem],
    *,
    exclude: Collection[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> T | None:
    """Build frozen dataclass ``cls`` from a TOML table, collecting problems instead of raising.

    First the checks of :func:`check_table` (unknown keys, missing required fields, types), then
    the constructor, whose :class:`~hwsim.errors.RecordError` (range and consistency checks in
    ``__post_init__``) is turned into problems located at ``"{where} {field}"``. ``extra``
    supplies the ``exclude`` fields (or any other constructor argument) unchecked.

    When some fields already have a type problem the constructor still runs, with those fields
    as found, so that range problems of the other fields are reported in the same pass; its
    problems about the already-reported fields are dropped.

    :param where: location prefix, e.g. ``"zcu102.toml: [fpga]"``.
    :param problems: list every problem is appended to; nothing is raised for bad input.
    :return: the record, or ``None`` when there was any problem.
    """
    count = len(problems)
    kwargs, reported = _check(cls, table, where, problems, exclude)
    clean = len(problems) == count
    try:
        record = cls(**kwargs, **reported, **(extra or {}))
    except RecordError as err:
        problems.extend(Problem(p.field, p.value, p.message, f"{where} {p.field}")
                        for p in err.problems if p.field not in reported)
        return None
    except (TypeError, ValueError, ArithmeticError):
        if clean:
            raise  # well-typed input that the record cannot handle: a bug, not a user error
        return None  # the record's checks tripped over a badly typed value already reported
    return record if clean else None


_FLOAT_EXACT = 2**53  # ints up to this convert to float exactly (and never overflow)

MAX_FILE_BYTES = 16 * 2**20
"""Largest TOML file read: shipped presets are about 1 KiB and the largest workload a few
hundred KiB; a bigger file is surely not a preset or workload (and /dev/zero never ends)."""

_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)")


def read_toml(
    data: bytes, filename: str, error: type[RecordError], record: str
) -> dict[str, Any]:
    """Parse TOML bytes; a syntax error raises ``error`` naming the file, the line and its text
    (tomllib's "end of document" becomes the last line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(record, [Problem("encoding", err.reason, "file is not UTF-8 text",
                                     filename)]) from None
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise error(record, [Problem("toml", None, "invalid TOML: arrays or inline tables "
                                     "nested too deeply", filename)]) from None
    except tomllib.TOMLDecodeError as err:
        message, where, line_text = str(err), filename, ""
        match = _TOML_POSITION.search(message)
        if match:
            lines = text.splitlines()
            line = int(match.group(1)) if match.group(1) else len(lines)
            if 0 < line <= len(lines):
                line_text = lines[line - 1]
            where = f"{filename}: line {line}"
            message = message[: match.start()] + message[match.end():]
        problem = Problem("toml", line_text, f"invalid TOML: {message}", where)
        raise error(record, [problem]) from None


def read_file(path: Path, error: type[RecordError], record: str) -> bytes:
    """Read a user's file; a missing, unreadable, special (directory, device, pipe) or larger
    than :data:`MAX_FILE_BYTES` file raises ``error`` naming the path."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            reason = "is a directory, not a TOML file"
        elif not stat.S_ISREG(info.st_mode):
            reason = "is not a regular file (a device, pipe or socket?)"
        elif info.st_size > MAX_FILE_BYTES:
            reason = (f"is {info.st_size} bytes; a TOML file of at most {MAX_FILE_BYTES} bytes "
                      "is expected")
        else:
            with path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
            if len(data) <= MAX_FILE_BYTES:
                return data
            reason = f"is over {MAX_FILE_BYTES} bytes; a TOML file is expected"
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a directory, not a TOML file"
    except OSError as err:
        reason = f"cannot read: {err.strerror or err}"
    except ValueError as err:  # e.g. an embedded NUL character in the path
        reason = f"not a valid path: {err}"
    raise error(record, [Problem("path", str(path), reason, str(path))])


# --------------------------------------------------------------------------------------------
# Hardware presets
# --------------------------------------------------------------------------------------------


def _preset_files() -> dict[str, Traversable]:
    folder = resources.files(_PRESET_PACKAGE).joinpath(*_PRESET_DIR)
    if not folder.is_dir():
        return {}
    return {entry.name.removesuffix(".toml"): entry for entry in folder.iterdir()
            if entry.is_file() and entry.name.endswith(".toml")}


def list_hardware() -> list[str]:
    """Names of the shipped hardware presets (``hwsim/configs/hardware/*.toml``), sorted."""
    return sorted(_preset_files())


@functools.cache
def _load_preset(name: str) -> Hardware:
    entry = _preset_files()[name]
    return _parse_hardware(entry.read_bytes(), entry.name)


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or "/" in text or "\\" in text


def load_hardware(name_or_path: str | Path) -> Hardware:
    """Load a hardware preset by name (see :func:`list_hardware`) or from a user's TOML file.

    A ``str`` that names a shipped preset loads it; otherwise a string ending in ``.toml`` or
    holding a path separator, any existing file, and any :class:`~pathlib.Path` are read as
    files.

    :raises UnknownNameError: a bare name that is neither a preset nor an existing file; the
        message lists the known presets.
    :raises SpecError: the file is missing, is not valid TOML, or has invalid contents; one error
        lists every problem, each with its file, section and key.
    """
    if isinstance(name_or_path, str):
        presets = _preset_files()
        if name_or_path in presets:
            return _load_preset(name_or_path)
        if not _looks_like_path(name_or_path) and not Path(name_or_path).is_file():
            raise UnknownNameError("hardware preset", name_or_path, list(presets))
    path = Path(name_or_path)
    record = f"hardware file {str(path)!r}"
    return _parse_hardware(read_file(path, SpecError, record), path.name, record)


def _parse_hardware(data: bytes, filename: str, record: str | None = None) -> Hardware:
    record = record or f"hardware preset {filename!r}"
    document = read_toml(data, filename, SpecError, record)
    problems: list[Problem] = []
    components: dict[str, object] = {}
    known_sections = [PRESET_SECTION, *COMPONENTS]
    for section, table in document.items():
        where = f"{filename}: [{section}]"
        if section not in known_sections:
            problems.append(Problem(section, table,
                                    f"unknown section; known: {', '.join(known_sections)}",
                                    where))
        elif not isinstance(table, dict):
            problems.append(Problem(section, table, f"must be a table ([{section}])", where))
        elif section != PRESET_SECTION:
            components[section] = build_record(COMPONENTS[section], table, where, problems)
    preset = document.get(PRESET_SECTION)
    where = f"{filename}: [{PRESET_SECTION}]"
    if preset is None:
        problems.append(Problem(PRESET_SECTION, None,
                                "missing section; give the preset's name, description, source",
                                where))
    hardware = None
    if isinstance(preset, dict):
        kwargs = check_table(Hardware, preset, where, problems, exclude=COMPONENTS)
        # Hardware's own checks are about its components: run them only when every component
        # was built, or a failed one would be reported twice.
        if kwargs is not None and not problems:
            try:
                hardware = Hardware(**kwargs, **components)  # type: ignore[arg-type]
            except RecordError as err:
                problems.extend(
                    dataclasses.replace(p, where=f"{filename}: [{p.field}]"
                                        if p.field in COMPONENTS else f"{where} {p.field}")
                    for p in err.problems)
    if problems or hardware is None:
        raise SpecError(record, problems)
    return hardware


def hardware_summary(hw: Hardware) -> dict[str, Any]:
    """JSON-able dict of a preset: ``name``, ``description``, ``source`` and one dict of fields
    per component present (absent components are left out), in the order of the file format."""
    out: dict[str, Any] = {"name": hw.name, "description": hw.description, "source": hw.source}
    for section in COMPONENTS:
        component = getattr(hw, section)
        if component is not None:
            out[section] = {f.name: _jsonable(getattr(component, f.name))
                            for f in dataclasses.fields(component)}
    return out


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


__all__ = ["PRESET_SECTION", "build_record", "check_table", "hardware_summary", "list_hardware",
           "load_hardware", "read_file", "read_toml"]

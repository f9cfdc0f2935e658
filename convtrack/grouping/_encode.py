"""A deterministic, prefix-free text encoding of arbitrary Python values.

The encoding is bencode-like, written as text and hashed as UTF-8
(``surrogatepass``, so every ``str`` encodes and the mapping stays injective):

=========================  ==============================================
value                      encoding
=========================  ==============================================
``None``                   ``n``
``True`` / ``False``       ``T`` / ``F``
int (and integral float)   ``i`` hex ``;``  (``i-1f;``)
other float                ``r`` repr ``;`` (``r0.5;``, ``rnan;``)
str                        ``s`` length ``:`` text (length in code points)
bytes-like                 ``b`` length ``:`` latin-1 text
list, tuple, sequence      ``l`` items ``e``
dict, mapping              ``d`` (key, value) pairs sorted by encoded key ``e``
set, frozenset             ``S`` items sorted by encoding ``e``
other object               ``o`` qualified type name, then its state (or ``n``)
type, function, module     ``y`` qualified name
cycle / too deep / failed  ``c`` / ``x`` / ``?`` qualified type name
=========================  ==============================================

Every code word is self-delimiting (strings carry their length, containers end
with ``e``, which starts no value), so a concatenation of code words splits in
exactly one way. Mapping keys that JSON would turn into strings (numbers,
booleans, ``None``) are turned into the same strings, so a value and its JSON
round trip encode alike. An object with ``model_dump()`` (pydantic) encodes as
its dump; the state of another object is: an Enum's value; the ``str()`` of a
date, time, UUID, Decimal or path; a dataclass's fields; else its ``__dict__``
when that holds only scalars. Never an ``id()`` or a ``repr()`` of an object.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import pathlib
import types
import uuid
from collections.abc import Mapping, Sequence, Set
from typing import Any

MAX_DEPTH = 64
_SCALARS = (type(None), bool, int, float, str, bytes)
_OPAQUE_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)
# Value types whose str() is their exact, deterministic value.
_STR_VALUED = (
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    uuid.UUID,
    decimal.Decimal,
    pathlib.PurePath,
)


def qualname(tp: type) -> str:
    """Return ``module.QualName`` of a type, without ever raising."""
    try:
        return f"{tp.__module__}.{tp.__qualname__}"
    except Exception:
        return "?"


def encode_value(value: object) -> str:
    """Return the canonical text of any value; never raises."""
    out: list[str] = []
    try:
        _enc(value, out, 0, set())
    except Exception:
        return "?" + _text(qualname(type(value)))
    return "".join(out)


def _text(value: str) -> str:
    return f"s{len(value)}:{value}"


def _int(value: int) -> str:
    return f"i{value:x};"


def _float(value: float) -> str:
    if math.isfinite(value) and value.is_integer():
        return _int(int(value))
    return f"r{value!r};"


def _key(key: object, active: set[int], depth: int) -> str:
    """Encode a mapping key the way JSON would name it (str, number, bool, None)."""
    if isinstance(key, str):
        return _text(str.__str__(key))
    if key is None:
        return "s4:null"
    if isinstance(key, bool):
        return "s4:true" if key else "s5:false"
    if isinstance(key, int):
        return _text(str(int.__index__(key)))
    if isinstance(key, float):
        return _text(_json_float(float.__float__(key)))
    out: list[str] = []
    _enc(key, out, depth, active)
    return "".join(out)


def _json_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _enc(value: Any, out: list[str], depth: int, active: set[int]) -> None:
    t = type(value)
    if t is str:
        out.append(f"s{len(value)}:")
        out.append(value)
    elif value is None:
        out.append("n")
    elif t is bool:
        out.append("T" if value else "F")
    elif t is int:
        out.append(_int(value))
    elif t is float:
        out.append(_float(value))
    elif depth >= MAX_DEPTH:
        out.append("x")
    elif id(value) in active:
        out.append("c")
    else:
        active.add(id(value))
        try:
            _enc_container(value, out, depth + 1, active)
        finally:
            active.discard(id(value))


def _enc_container(value: Any, out: list[str], depth: int, active: set[int]) -> None:
    if isinstance(value, (dict, Mapping)):
        _enc_mapping(value.items(), out, depth, active)
    elif isinstance(value, (list, tuple)):
        out.append("l")
        for item in value:
            _enc(item, out, depth, active)
        out.append("e")
    elif isinstance(value, str):
        out.append(_text(str.__str__(value)))
    elif isinstance(value, bool):
        out.append("T" if value else "F")
    elif isinstance(value, int):
        out.append(_int(int.__index__(value)))
    elif isinstance(value, float):
        out.append(_float(float.__float__(value)))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out.append(f"b{len(raw)}:")
        out.append(raw.decode("latin-1"))
    elif isinstance(value, (set, frozenset, Set)):
        items = sorted(encode_nested(item, depth, active) for item in value)
        out.append("S")
        out.extend(items)
        out.append("e")
    elif isinstance(value, Sequence):
        out.append("l")
        for item in value:
            _enc(item, out, depth, active)
        out.append("e")
    else:
        _enc_object(value, out, depth, active)


def encode_nested(value: object, depth: int, active: set[int]) -> str:
    """Encode one value on its own (used where entries must be sorted)."""
    out: list[str] = []
    _enc(value, out, depth, active)
    return "".join(out)


def _enc_mapping(items: Any, out: list[str], depth: int, active: set[int]) -> None:
    pairs = []
    for key, val in items:
        key_text = f"s{len(key)}:{key}" if type(key) is str else _key(key, active, depth)
        if type(val) is str:
            pairs.append((key_text, f"s{len(val)}:{val}"))
        else:
            pairs.append((key_text, encode_nested(val, depth, active)))
    pairs.sort()
    out.append("d")
    for key_text, val_text in pairs:
        out.append(key_text)
        out.append(val_text)
    out.append("e")


def dump_model(value: object) -> Mapping[Any, Any] | None:
    """Return ``value.model_dump()`` (pydantic-style objects) as a mapping, else None."""
    dump = getattr(value, "model_dump", None)
    if not callable(dump) or isinstance(value, type):
        return None
    try:
        dumped = dump(warnings=False)  # pydantic v2: no serialisation warnings from us
    except TypeError:
        dumped = dump()
    return dumped if isinstance(dumped, Mapping) else None


def _enc_object(value: Any, out: list[str], depth: int, active: set[int]) -> None:
    if isinstance(value, _OPAQUE_TYPES):
        out.append("y")
        out.append(_text(_callable_name(value)))
        return
    dumped = dump_model(value)
    if dumped is not None:
        _enc_mapping(dumped.items(), out, depth, active)
        return
    out.append("o")
    out.append(_text(qualname(type(value))))
    if isinstance(value, enum.Enum):
        _enc(value.value, out, depth, active)
    elif isinstance(value, _STR_VALUED):
        out.append(_text(str(value)))
    elif dataclasses.is_dataclass(value):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        _enc_mapping(fields.items(), out, depth, active)
    else:
        state = getattr(value, "__dict__", None)
        if type(state) is dict and all(type(v) in _SCALARS for v in state.values()):
            _enc_mapping(state.items(), out, depth, active)
        else:
            out.append("n")


def _callable_name(value: Any) -> str:
    if isinstance(value, type):
        return qualname(value)
    name = getattr(value, "__name__", "?")
    if isinstance(value, types.ModuleType):
        return str(name)
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', name)}"

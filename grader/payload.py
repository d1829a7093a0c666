"""Plain-data serialisation between the untrusted kernel and the trusted grader.

The kernel turns whatever a check records into a JSON document made only of
plain data; the grader decodes it strictly, never unpickling and never
constructing objects of the student's classes. What survives the trip:

==================  ==========================================================
kernel value        trusted value
==================  ==========================================================
None, bool, str     the same
int                 int (any size)
float               float, bit for bit (``float.hex``; NaN and inf included)
numpy array         numpy array of a numeric/bool dtype (``np.save`` bytes,
                    loaded with ``allow_pickle=False``); torch tensors too
list / tuple        list / tuple
dict                dict (hashable plain keys)
dataclass instance  :class:`Record` (read-only attributes, type name kept)
anything else       :class:`Opaque` (only the type name survives)
==================  ==========================================================

An object that pretends to be equal to everything therefore arrives as an
:class:`Opaque`, and a NaN arrives as a NaN: the comparison that follows is
done on plain numbers, outside the student's reach.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
from typing import Any

import numpy as np

ARRAY, FLOAT, INT, TUPLE, DICT, RECORD, OPAQUE = "$a", "$f", "$i", "$t", "$d", "$r", "$o"
_TAGS = {ARRAY, FLOAT, INT, TUPLE, DICT, RECORD, OPAQUE}
NUMERIC_KINDS = "biufc"
MAX_DEPTH = 48
MAX_TEXT = 100_000  # characters of one string
MAX_PAYLOAD_BYTES = 64 << 20


class PayloadError(ValueError):
    """A payload that is not well-formed plain data (or too large)."""


class Opaque:
    """Stands for a value that is not plain data; only its type name is known."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        object.__setattr__(self, "type_name", str(type_name)[:200])

    def __setattr__(self, key, value):
        raise AttributeError("Opaque values are read-only")

    def __repr__(self) -> str:
        return f"<opaque {self.type_name}>"


class Record:
    """A read-only stand-in for a dataclass instance: its fields as attributes."""

    __slots__ = ("_type_name", "_fields")

    def __init__(self, type_name: str, fields: dict[str, Any]):
        object.__setattr__(self, "_type_name", str(type_name)[:200])
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._fields[key]
        except KeyError:
            raise AttributeError(f"{self._type_name} record has no field {key!r}") from None

    def __setattr__(self, key, value):
        raise AttributeError("Record values are read-only")

    @property
    def type_name(self) -> str:
        return self._type_name

    def fields(self) -> dict[str, Any]:
        return dict(self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{self._type_name}({inner})"


# --------------------------------------------------------------------------- encoding (kernel)


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', kind.__name__)}"


def _array_to_plain(array: np.ndarray) -> Any:
    if array.dtype.kind not in NUMERIC_KINDS or array.dtype.hasobject:
        return {OPAQUE: f"ndarray[{array.dtype}]"}
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return {ARRAY: base64.b64encode(buffer.getvalue()).decode("ascii")}


def _tensor_to_array(value: Any) -> np.ndarray | None:
    """A torch tensor as a numpy array (without importing torch), else None."""
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        try:
            return np.array(value.detach().cpu().numpy(), copy=True)
        except Exception:  # noqa: BLE001 - exotic tensors become opaque
            return None
    return None


def to_plain(value: Any, depth: int = 0) -> Any:
    """The JSON-able form of ``value`` (see the module docstring for the mapping)."""
    if depth > MAX_DEPTH:
        return {OPAQUE: "nesting too deep"}
    if value is None or isinstance(value, bool | np.bool_):
        return None if value is None else bool(value)
    if isinstance(value, int | np.integer):
        number = int(value)
        return number if abs(number) < 2**53 else {INT: str(number)}
    if isinstance(value, float | np.floating):
        return {FLOAT: float(value).hex()}
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, np.ndarray):
        return _array_to_plain(np.array(value, copy=True))
    tensor = _tensor_to_array(value)
    if tensor is not None:
        return _array_to_plain(tensor)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {TUPLE: [to_plain(v, depth + 1) for v in value]}
    if isinstance(value, tuple):  # a namedtuple: keep its fields by name
        return {RECORD: [_type_name(value), {k: to_plain(getattr(value, k), depth + 1)
                                             for k in value._fields}]}
    if isinstance(value, list):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {DICT: [[to_plain(k, depth + 1), to_plain(v, depth + 1)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: to_plain(getattr(value, f.name), depth + 1)
                  for f in dataclasses.fields(value)}
        return {RECORD: [_type_name(value), fields]}
    return {OPAQUE: _type_name(value)}


def encode(value: Any) -> str:
    """``value`` as a JSON document of plain data."""
    text = json.dumps(to_plain(value), allow_nan=False, separators=(",", ":"))
    if len(text) > MAX_PAYLOAD_BYTES:
        text = json.dumps({OPAQUE: f"payload larger than {MAX_PAYLOAD_BYTES >> 20} MiB"})
    return text


# --------------------------------------------------------------------------- decoding (trusted)


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"payload: bare {name} is not allowed (floats are hex-encoded)")


def _decode_array(text: Any) -> np.ndarray:
    if not isinstance(text, str):
        raise PayloadError("payload: an array must be base64 text")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise PayloadError(f"payload: unreadable array ({error})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in NUMERIC_KINDS:
        raise PayloadError(f"payload: array dtype {getattr(array, 'dtype', '?')} is not numeric")
    return array


def _decode_tag(tag: str, body: Any, depth: int) -> Any:
    if tag == ARRAY:
        return _decode_array(body)
    if tag == FLOAT:
        if not isinstance(body, str) or len(body) > 64:
            raise PayloadError("payload: a float must be hex text")
        try:
            return float.fromhex(body) if body not in ("nan", "inf", "-inf") else float(body)
        except ValueError:
            raise PayloadError(f"payload: bad float {body!r}") from None
    if tag == INT:
        if not isinstance(body, str) or len(body) > 4000 or not body.lstrip("-").isdigit():
            raise PayloadError("payload: a big int must be decimal text")
        return int(body)
    if tag == TUPLE:
        if not isinstance(body, list):
            raise PayloadError("payload: a tuple must be a list")
        return tuple(_decode(v, depth + 1) for v in body)
    if tag == DICT:
        if not isinstance(body, list):
            raise PayloadError("payload: a dict must be a list of pairs")
        result = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise PayloadError("payload: a dict entry must be a [key, value] pair")
            key = _decode(pair[0], depth + 1)
            try:
                hash(key)
            except TypeError:
                raise PayloadError("payload: unhashable dict key") from None
            result[key] = _decode(pair[1], depth + 1)
        return result
    if tag == RECORD:
        if (not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], str)
                or not isinstance(body[1], dict)):
            raise PayloadError("payload: a record must be [type name, {field: value}]")
        return Record(body[0], {str(k): _decode(v, depth + 1) for k, v in body[1].items()})
    if tag == OPAQUE:
        return Opaque(body if isinstance(body, str) else "?")
    raise PayloadError(f"payload: unknown tag {tag!r}")


def _decode(node: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH + 2:
        raise PayloadError("payload: nested too deeply")
    if node is None or isinstance(node, bool | str):
        return node
    if isinstance(node, int):
        return node
    if isinstance(node, float):
        if not math.isfinite(node):
            raise PayloadError("payload: non-finite bare float")
        return node
    if isinstance(node, list):
        return [_decode(v, depth + 1) for v in node]
    if isinstance(node, dict):
        if len(node) != 1:
            raise PayloadError("payload: an object must carry exactly one tag")
        (tag, body), = node.items()
        if tag not in _TAGS:
            raise PayloadError(f"payload: unknown tag {tag!r}")
        return _decode_tag(tag, body, depth)
    raise PayloadError(f"payload: unexpected JSON value of type {type(node).__name__}")


def decode(text: str) -> Any:
    """Strictly decode a document produced by :func:`encode`."""
    if not isinstance(text, str):
        raise PayloadError(f"payload: expected JSON text, got {type(text).__name__}")
    from grader.staging import UntrustedData, loads

    try:
        node = loads(text, max_depth=3 * MAX_DEPTH + 8, max_bytes=MAX_PAYLOAD_BYTES,
                     what="a recorded value")
    except UntrustedData as error:
        raise PayloadError(f"payload: {error}") from None
    return _decode(node)


def round_trip(value: Any) -> Any:
    """What the trusted grader would see of ``value`` (used by plain-mode checks)."""
    return decode(encode(value))

"""Columnar batch encoding of Avro records in the Confluent wire format.

:class:`fraud_contracts.avro.Encoder` calls fastavro once per record (``schemaless_writer``
plus exact type checks), which keeps one Python process below the producer's throughput
target. :class:`BatchEncoder` gives the same bytes for a whole batch at once, working
column by column instead of record by record:

1. extract each field's column with one C-level ``map`` over the batch;
2. check the column's types in bulk (``operator.countOf(map(type, col), T)``, or
   ``"".join(col)`` for strings), with the rules of ``fraud_contracts.avro._misfit``:
   ``bool`` is not an ``int``, a ``long`` is an ``int``, a ``double`` an ``int`` or
   ``float``, a string a ``str`` (a subclass too), a map a ``dict`` of ``str``;
3. encode the column with numpy where it pays (doubles, floats, booleans, zigzag varints,
   ASCII strings of a single length such as UUIDs) into a ``(rows, width)`` byte matrix;
   other strings go through a bounded per-column memo (merchant names, cities...) or, for
   columns of mostly distinct values, through ``str.encode`` plus a length prefix;
4. glue adjacent fixed-width matrices (and the 5-byte header) into one matrix and join
   each row's pieces with one ``bytes.join``.

Anything the bulk checks do not accept (a wrong type, a long out of range, a missing
required or an unknown field, a value such as a ``datetime`` or ``UUID`` that ``Encoder``
converts) is located: the checks report the offending rows, which go record by record
through :class:`fraud_contracts.avro.Encoder` (whose :class:`SchemaValidationError` names
the field, or which converts the value), while the other rows are encoded column-wise
again.
A failure that cannot be pinned to rows (a mapping whose lookups raise) makes the batch
split in halves until the groups are small enough to go record by record.

``bench/avro_encode.py`` compares both on simulator transactions (batches of 1,000 to
10,000, column extraction included); its figures are in ``docs/benchmarks.md``.

Supported schemas: a record of fields of type null, boolean, int, long, float, double,
string, bytes, enum, fixed, a map or array of those, or a union of ``"null"`` and at most
one of those (``["null", X]``: the backward-compatible optional field). Logical types are
written as their base type (``timestamp-millis`` as a long, ``uuid`` as a string).
``fraud_contracts.avro.Encoder`` refuses a present value of a union, enum, fixed, bytes,
array or non-string map field (its exact-type checks do not cover them); for such schemas the
reference is fastavro's ``schemaless_writer`` and a record that fails the bulk checks is
reported with :func:`fraud_contracts.avro.validate`'s message, else as a wrong type.

A :class:`BatchEncoder` keeps per-column state (memos, adaptive modes): it is not
thread-safe. Use one per thread, like :class:`fraud_contracts.avro.Encoder`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, compress, repeat
from operator import countOf, is_not, itemgetter
from typing import Any, Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from fraud_contracts.avro import (
    MAGIC_BYTE,
    AvroError,
    Encoder,
    ParsedSchema,
    SchemaValidationError,
    _compiled,
    validate,
)

__all__ = ["DEFAULT_CACHE_SIZE", "BatchEncoder", "UnsupportedSchemaError"]

DEFAULT_CACHE_SIZE: Final = 65_536
"""Most distinct strings a column memo keeps (it is emptied when full)."""

ByteMatrix: TypeAlias = npt.NDArray[np.uint8]
# One column's contribution to every row of a batch: the same bytes for each row, a
# (rows, width) matrix of fixed-width bytes, or one bytes object per row.
Part: TypeAlias = bytes | ByteMatrix | list[bytes]

_NONE_TYPE: Final = type(None)
_MISSING: Final = object()
_PER_RECORD: Final = 8  # groups this small go record by record (a column pass costs ~0.1 ms)
_ADAPT_MIN_ROWS: Final = 256  # smaller batches do not change a string column's mode
_UNIFORM_RETRY: Final = 16  # batches to wait before retrying the single-width string path
_MEMO_RETRY: Final = 32  # batches without the memo for a column of distinct strings...
_MAX_BACKOFF: Final = 1024  # ...doubling while it stays so
_VARINT_LIMITS: Final = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_VARINT_SHIFTS: Final = np.arange(0, 70, 7, dtype=np.uint64)
_VARINT_POSITIONS: Final = np.arange(1, 11, dtype=np.int64)


class UnsupportedSchemaError(AvroError):
    """The schema uses a construct :class:`BatchEncoder` does not encode column-wise."""


class _ColumnError(Exception):
    """A column does not pass the bulk checks: why, and at which rows if known."""

    def __init__(self, message: str, rows: list[int] | None) -> None:
        super().__init__(message)
        self.rows = rows


class _BatchRejectedError(Exception):
    """A batch does not pass the bulk checks.

    ``field`` and ``message`` describe the first problem (in field order); ``rows`` are
    the indices of every offending record, or None if some could not be located.
    """

    def __init__(self, field: str, message: str, rows: list[int] | None) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.message = message
        self.rows = rows


class _Failures:
    """The problems found while checking a batch, to raise as one rejection."""

    def __init__(self) -> None:
        self.first: tuple[str, str] | None = None
        self.record_level: tuple[str, str] | None = None
        self.rows: set[int] | None = set()

    def add(self, field: str, message: str, rows: Iterable[int] | None) -> None:
        if field == "<record>":
            self.record_level = self.record_level or (field, message)
        else:
            self.first = self.first or (field, message)
        if rows is None or self.rows is None:
            self.rows = None
        else:
            self.rows.update(rows)

    def raise_any(self) -> None:
        first = self.first or self.record_level
        if first is not None:
            rows = None if self.rows is None else sorted(self.rows)
            raise _BatchRejectedError(first[0], first[1], rows or None)


def _offending(col: Sequence[Any], ok: Callable[[Any], bool]) -> list[int]:
    """Indices of the values of ``col`` that are not ``ok`` (error path only)."""
    return [i for i, v in enumerate(col) if not ok(v)]


def _varint(value: int) -> bytes:
    """Avro ``long``: zigzag then little-endian base-128 varint (``value`` in int64)."""
    z = ((value << 1) ^ (value >> 63)) & 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Length prefixes of strings, bytes and blocks, by length.
_PREFIX: Final = tuple(_varint(n) for n in range(4096))


def _prefixes(lengths: list[int]) -> list[bytes]:
    if not lengths or max(lengths) < len(_PREFIX):
        return list(map(_PREFIX.__getitem__, lengths))
    return list(map(_varint, lengths))


def _rows_of(matrix: ByteMatrix) -> list[bytes]:
    """One bytes object per row of a (rows, width) matrix."""
    rows, width = matrix.shape
    if width == 0:
        return [b""] * rows
    flat = np.ascontiguousarray(matrix).view(np.dtype((np.void, width))).ravel()
    return cast("list[bytes]", flat.tolist())  # void items are bytes


def _varints(values: npt.NDArray[np.int64]) -> Part:
    """Zigzag varints of an int64 column: a matrix if they all have one length."""
    n = len(values)
    if n == 0:
        return []
    zigzag = ((values << 1) ^ (values >> 63)).view(np.uint64)
    lengths = np.searchsorted(_VARINT_LIMITS, zigzag, side="right") + 1
    longest = int(lengths.max())
    groups = (zigzag[:, None] >> _VARINT_SHIFTS[:longest]) & np.uint64(0x7F)
    more = lengths[:, None] > _VARINT_POSITIONS[:longest]  # another byte follows
    matrix = groups.astype(np.uint8) | (more.astype(np.uint8) << np.uint8(7))
    shortest = int(lengths.min())
    if shortest == longest:
        return matrix
    # Rows grouped by length, then put back in order with one C-level map.
    order_parts: list[npt.NDArray[np.intp]] = []
    pieces: list[bytes] = []
    for length in range(shortest, longest + 1):
        rows = np.flatnonzero(lengths == length)
        if len(rows):
            order_parts.append(rows)
            pieces.extend(_rows_of(matrix[rows, :length]))
    order = np.concatenate(order_parts)
    where = np.empty(n, dtype=np.intp)
    where[order] = np.arange(n, dtype=np.intp)
    return list(map(pieces.__getitem__, where.tolist()))


def _width(part: bytes | ByteMatrix) -> int:
    return len(part) if isinstance(part, bytes) else int(part.shape[1])


def _block(run: list[bytes | ByteMatrix], n: int) -> Iterable[bytes] | None:
    """The rows of a run of constants and matrices side by side."""
    if all(isinstance(p, bytes) for p in run):
        const = b"".join(p for p in run if isinstance(p, bytes))
        return repeat(const, n) if const else None
    block = np.empty((n, sum(map(_width, run))), dtype=np.uint8)
    start = 0
    for part in run:
        end = start + _width(part)
        if end > start:
            block[:, start:end] = np.frombuffer(part, np.uint8) if isinstance(part, bytes) else part
        start = end
    return _rows_of(block)


def _assemble(parts: Sequence[Part], n: int) -> list[bytes]:
    """Each row's bytes: the concatenation of every part's piece for that row.

    Runs of constants and matrices become one matrix, so they cost one piece per row.
    """
    columns: list[Iterable[bytes]] = []
    run: list[bytes | ByteMatrix] = []
    for part in parts:
        if isinstance(part, list):
            if run:
                block = _block(run, n)
                if block is not None:
                    columns.append(block)
                run = []
            columns.append(part)
        else:
            run.append(part)
    if run:
        block = _block(run, n)
        if block is not None:
            columns.append(block)
    if not columns:
        return [b""] * n
    if len(columns) == 1:
        only = columns[0]
        return only if isinstance(only, list) else list(only)
    return list(map(b"".join, zip(*columns, strict=True)))


def _check_types(col: Sequence[Any], kind: type, what: str) -> None:
    if countOf(map(type, col), kind) != len(col):
        raise _ColumnError(f"expected {what}", _offending(col, lambda v: type(v) is kind))


def _utf8(value: str) -> bool:
    try:
        str.encode(value)
    except UnicodeEncodeError:
        return False
    return True


def _double(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


_INT64: Final = (-(2**63), 2**63)
_INT32: Final = (-(2**31), 2**31)


# ---------------------------------------------------------------------------- columns
class _Column:
    """Encoder of one Avro type, a whole column at a time."""

    def encode(self, col: list[Any]) -> list[Part]:
        """The column's parts; raises :class:`_ColumnError` if a value does not fit."""
        raise NotImplementedError

    def rows(self, col: list[Any]) -> list[bytes]:
        """One bytes object per value."""
        return _assemble(self.encode(col), len(col))


class _NullColumn(_Column):
    def encode(self, col: list[Any]) -> list[Part]:
        _check_types(col, _NONE_TYPE, "None")
        return [b""]


class _BooleanColumn(_Column):
    def encode(self, col: list[Any]) -> list[Part]:
        _check_types(col, bool, "a bool")
        return [np.array(col, dtype=np.uint8).reshape(len(col), 1)]


class _LongColumn(_Column):
    """``long`` and ``int`` (``Encoder`` writes any int64 for an ``int``; a union
    branch, where fastavro validates, takes 32-bit values only)."""

    def __init__(self, *, int32: bool) -> None:
        self.int32 = int32

    def encode(self, col: list[Any]) -> list[Part]:
        _check_types(col, int, "an int")
        try:
            values = np.array(col, dtype=np.int64)
        except OverflowError:
            low, high = _INT64
            rows = _offending(col, lambda v: low <= v < high)
            raise _ColumnError("int out of the 64-bit range", rows) from None
        if self.int32 and (int(values.min()) < _INT32[0] or int(values.max()) >= _INT32[1]):
            low, high = _INT32
            rows = _offending(col, lambda v: low <= v < high)
            raise _ColumnError("int out of the 32-bit range", rows)
        return [_varints(values)]


def _floats(col: list[Any]) -> npt.NDArray[np.float64]:
    """Doubles of a column of ``float`` and ``int`` (converted like fastavro does)."""
    n = len(col)
    floats = countOf(map(type, col), float)
    if floats != n:
        if floats + countOf(map(type, col), int) != n:
            rows = _offending(col, lambda v: type(v) is float or type(v) is int)
            raise _ColumnError("expected a float or an int", rows)
        try:
            col = list(map(float, col))
        except OverflowError:
            raise _ColumnError("int too large for a double", _offending(col, _double)) from None
    return np.array(col, dtype="<f8")


class _DoubleColumn(_Column):
    def encode(self, col: list[Any]) -> list[Part]:
        return [_floats(col).view(np.uint8).reshape(len(col), 8)]


class _FloatColumn(_Column):
    def encode(self, col: list[Any]) -> list[Part]:
        with np.errstate(over="ignore"):  # like a C cast: too large becomes infinity
            singles = _floats(col).astype("<f4")
        return [singles.view(np.uint8).reshape(len(col), 4)]


class _Memo(dict[str, bytes]):
    """Encoded strings (length prefix + UTF-8) by value, emptied when full."""

    __slots__ = ("limit", "misses")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.misses = 0

    def __missing__(self, key: str) -> bytes:
        self.misses += 1
        data = str.encode(key)
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = (
            _PREFIX[len(data)] + data if len(data) < 4096 else (_varint(len(data)) + data)
        )
        return value


class _StringColumn(_Column):
    """Strings, by the cheapest of three ways, chosen per batch and adapted over time.

    - all values ASCII and of one length (UUIDs, ids, codes): one byte matrix;
    - else through the memo (names, cities, categories, device ids...);
    - else, while the memo misses most values although it is large (values that never
      repeat, such as free text): ``str.encode`` and a length prefix per value.

    Like ``avro._misfit``, a ``str`` subclass passes (its ``str`` data is written).
    """

    def __init__(self, cache_size: int) -> None:
        self.memo = _Memo(cache_size)
        self.uniform_wait = 0  # batches before trying the single-width path again
        self.direct_wait = 0  # batches left without the memo
        self.backoff = 0

    def encode(self, col: list[Any]) -> list[Part]:
        n = len(col)
        try:
            joined: str = "".join(col)  # raises TypeError unless every value is a str
        except TypeError:
            rows = _offending(col, lambda v: isinstance(v, str))
            raise _ColumnError("expected a str", rows) from None
        if n == 0:
            return [[]]
        if self.uniform_wait == 0:
            width = len(col[0])
            if len(joined) == n * width and joined.isascii() and countOf(map(len, col), width) == n:
                matrix = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
                return [
                    _PREFIX[width] if width < len(_PREFIX) else _varint(width),
                    matrix.reshape(n, width),
                ]
            self.uniform_wait = _UNIFORM_RETRY
        else:
            self.uniform_wait -= 1
        try:
            if self.direct_wait == 0:
                return [self._memoised(col)]
            self.direct_wait -= 1
            data = list(map(str.encode, col))
        except UnicodeEncodeError as exc:
            rows = _offending(col, _utf8)
            raise _ColumnError(f"string is not encodable as UTF-8: {exc}", rows) from None
        return [_prefixes(list(map(len, data))), data]

    def _memoised(self, col: list[str]) -> list[bytes]:
        memo = self.memo
        before = memo.misses
        result = list(map(memo.__getitem__, col))
        n = len(col)
        if n >= _ADAPT_MIN_ROWS and (memo.misses - before) * 2 > n:
            if len(memo) * 2 >= memo.limit:  # a large memo, still missing: few repeats
                self.backoff = min(2 * self.backoff, _MAX_BACKOFF) or _MEMO_RETRY
                self.direct_wait = self.backoff
        elif self.backoff and (memo.misses - before) * 8 < n:
            self.backoff = 0
        return result


class _BytesColumn(_Column):
    def encode(self, col: list[Any]) -> list[Part]:
        _check_types(col, bytes, "bytes")
        return [_prefixes(list(map(len, col))), list(col)]


class _EnumColumn(_Column):
    def __init__(self, symbols: Sequence[str]) -> None:
        self.codes = {s: _varint(i) for i, s in enumerate(symbols)}
        self.width = 1 if len(symbols) <= 64 else 0  # one byte per value when few symbols

    def encode(self, col: list[Any]) -> list[Part]:
        _check_types(col, str, "a str")
        codes = list(map(self.codes.get, col))
        if countOf(codes, None):
            raise _ColumnError("not a symbol of the enum", _offending(codes, bool))
        if self.width:
            joined = b"".join(codes)  # type: ignore[arg-type]  # no None left
            return [np.frombuffer(joined, dtype=np.uint8).reshape(len(col), 1)]
        return [codes]  # type: ignore[list-item]  # no None left


class _FixedColumn(_Column):
    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, col: list[Any]) -> list[Part]:
        n = len(col)
        _check_types(col, bytes, "bytes")
        if countOf(map(len, col), self.size) != n:
            size = self.size
            raise _ColumnError(f"expected {size} bytes", _offending(col, lambda v: len(v) == size))
        return [np.frombuffer(b"".join(col), dtype=np.uint8).reshape(n, self.size)]


def _blocks(lengths: list[int], items: list[bytes]) -> list[bytes]:
    """Avro array/map encoding per row: count, items, 0 (just 0 when empty)."""
    out: list[bytes] = []
    pos = 0
    for length in lengths:
        if length == 0:
            out.append(b"\x00")
        else:
            end = pos + length
            out.append(
                b"".join(
                    (
                        _PREFIX[length] if length < 4096 else _varint(length),
                        *items[pos:end],
                        b"\x00",
                    )
                )
            )
            pos = end
    return out


def _owners(lengths: list[int], items: list[int] | None) -> list[int] | None:
    """The rows holding the given items of their arrays or maps, laid end to end."""
    if items is None:
        return None
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return sorted(set(owner[items].tolist()))


def _within(where: list[int], rows: list[int] | None) -> list[int] | None:
    """Rows of a sub-column (taken at ``where``) as rows of the whole column."""
    return None if rows is None else [where[i] for i in rows]


class _MapColumn(_Column):
    def __init__(self, values: _Column, cache_size: int) -> None:
        self.keys = _StringColumn(cache_size)
        self.values = values

    def encode(self, col: list[Any]) -> list[Part]:
        n = len(col)
        _check_types(col, dict, "a dict")
        lengths = list(map(len, col))
        if countOf(lengths, 0) == n:
            return [b"\x00"]
        keys = list(chain.from_iterable(col))
        try:
            key_rows = self.keys.rows(keys)
        except _ColumnError as exc:
            raise _ColumnError(f"map key: {exc}", _owners(lengths, exc.rows)) from None
        try:
            value_rows = self.values.rows(list(chain.from_iterable(map(dict.values, col))))
        except _ColumnError as exc:
            raise _ColumnError(f"map value: {exc}", _owners(lengths, exc.rows)) from None
        return [_blocks(lengths, list(map(bytes.__add__, key_rows, value_rows)))]


class _ArrayColumn(_Column):
    def __init__(self, items: _Column) -> None:
        self.items = items

    def encode(self, col: list[Any]) -> list[Part]:
        n = len(col)
        _check_types(col, list, "a list")
        lengths = list(map(len, col))
        if countOf(lengths, 0) == n:
            return [b"\x00"]
        try:
            item_rows = self.items.rows(list(chain.from_iterable(col)))
        except _ColumnError as exc:
            raise _ColumnError(f"array item: {exc}", _owners(lengths, exc.rows)) from None
        return [_blocks(lengths, item_rows)]


def _spread(n: int, fill: bytes, where: list[int], rows: list[bytes]) -> list[bytes]:
    """``n`` rows of ``fill`` except ``rows`` at positions ``where``."""
    out = [fill] * n
    for i, row in zip(where, rows, strict=True):
        out[i] = row
    return out


class _UnionColumn(_Column):
    """A union of ``"null"`` and at most one other type (both optional)."""

    def __init__(self, null_index: int | None, other_index: int | None, other: _Column | None):
        self.null_code = b"" if null_index is None else _varint(null_index)
        self.other_code = b"" if other_index is None else _varint(other_index)
        self.has_null = null_index is not None
        self.other = other

    def encode(self, col: list[Any]) -> list[Part]:
        n = len(col)
        nulls = countOf(map(type, col), _NONE_TYPE) if self.has_null else 0
        if nulls == n:
            return [self.null_code]
        if self.other is None:
            raise _ColumnError("expected None", _offending(col, lambda v: v is None))
        if nulls == 0:
            return [self.other_code, *self.other.encode(col)]
        where = list(compress(range(n), map(is_not, col, repeat(None))))
        try:
            rows = self.other.rows(list(map(col.__getitem__, where)))
        except _ColumnError as exc:
            raise _ColumnError(str(exc), _within(where, exc.rows)) from None
        return [_spread(n, self.null_code, where, list(map(self.other_code.__add__, rows)))]


_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "string", "bytes"}
)


def _column(
    node: Any, named: Mapping[str, Any], cache_size: int, *, in_union: bool = False
) -> _Column:
    """The column encoder of a (logical-type-free) parsed Avro type."""
    if isinstance(node, str) and node not in _PRIMITIVES:
        if node not in named:
            raise UnsupportedSchemaError(f"unknown type {node!r}")
        node = named[node]
    if isinstance(node, list):
        return _union(node, named, cache_size)
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "enum":
            return _EnumColumn(node["symbols"])
        if kind == "fixed":
            return _FixedColumn(int(node["size"]))
        if kind == "map":
            return _MapColumn(_column(node["values"], named, cache_size), cache_size)
        if kind == "array":
            return _ArrayColumn(_column(node["items"], named, cache_size))
        if kind in _PRIMITIVES:
            return _column(kind, named, cache_size, in_union=in_union)
        raise UnsupportedSchemaError(f"type {kind!r} is not supported in a column")
    if node == "null":
        return _NullColumn()
    if node == "boolean":
        return _BooleanColumn()
    if node in ("int", "long"):
        return _LongColumn(int32=in_union and node == "int")
    if node == "float":
        return _FloatColumn()
    if node == "double":
        return _DoubleColumn()
    if node == "string":
        return _StringColumn(cache_size)
    if node == "bytes":
        return _BytesColumn()
    raise UnsupportedSchemaError(f"type {node!r} is not supported")


def _union(branches: list[Any], named: Mapping[str, Any], cache_size: int) -> _Column:
    nulls = [i for i, b in enumerate(branches) if b == "null" or b == {"type": "null"}]
    others = [i for i in range(len(branches)) if i not in nulls]
    if len(nulls) > 1 or len(others) > 1:
        raise UnsupportedSchemaError(
            f"union {branches!r}: only a union of null and one other type is supported"
        )
    if others and isinstance(branches[others[0]], list):
        raise UnsupportedSchemaError(f"union {branches!r} nests a union")
    other = _column(branches[others[0]], named, cache_size, in_union=True) if others else None
    return _UnionColumn(nulls[0] if nulls else None, others[0] if others else None, other)


def _json_default(node: Any, named: Mapping[str, Any], value: Any) -> Any:
    """A field default (JSON) as the Python value written for it (bytes are latin-1)."""
    if isinstance(node, str) and node in named:
        node = named[node]
    if isinstance(node, list):
        return _json_default(node[0], named, value) if node else value
    kind = node.get("type") if isinstance(node, dict) else node
    if kind in ("bytes", "fixed") and isinstance(value, str):
        return value.encode("latin-1")
    if kind == "array" and isinstance(value, list) and isinstance(node, dict):
        return [_json_default(node["items"], named, v) for v in value]
    if kind == "map" and isinstance(value, dict) and isinstance(node, dict):
        return {k: _json_default(node["values"], named, v) for k, v in value.items()}
    return value


class _Field:
    __slots__ = ("column", "default", "get", "name")

    def __init__(self, name: str, column: _Column, default: bytes | None) -> None:
        self.name = name
        self.column = column
        self.default = default  # encoded default, None when the field is required
        self.get = itemgetter(name)


def _compile(schema: ParsedSchema, cache_size: int) -> tuple[_Field, ...]:
    plain = _compiled(schema).plain
    if plain.get("type") != "record":
        raise UnsupportedSchemaError("only record schemas are supported")
    named: Mapping[str, Any] = plain.get("__named_schemas", {})
    fields: list[_Field] = []
    for f in plain["fields"]:
        column = _column(f["type"], named, cache_size)
        default: bytes | None = None
        if "default" in f:
            value = _json_default(f["type"], named, f["default"])
            probe = _column(f["type"], named, cache_size)
            try:
                default = b"".join(probe.rows([value]))
            except _ColumnError as exc:
                raise UnsupportedSchemaError(
                    f"field {f['name']!r}: default {f['default']!r} does not fit: {exc}"
                ) from exc
        fields.append(_Field(str(f["name"]), column, default))
    return tuple(fields)


# ---------------------------------------------------------------------------- encoder
class BatchEncoder:
    """Confluent-framed Avro encoder of whole batches, byte-identical to ``Encoder``.

    ``encode_many(records)[i] == Encoder(schema, schema_id).encode(records[i])`` for
    every record that ``Encoder`` accepts. Not thread-safe.
    """

    def __init__(
        self, schema: ParsedSchema, schema_id: int, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be >= 1")
        self.schema = schema
        self.schema_id = schema_id
        self._header = struct.pack(">bI", MAGIC_BYTE, schema_id)
        self._encoder = Encoder(schema, schema_id)
        self._fields = _compile(schema, cache_size)
        self._names = frozenset(f.name for f in self._fields)
        # Encoder refuses present values of types its exact checks do not cover.
        self._encoder_complete = all(c[1] is not None for c in _compiled(schema).checks)

    def encode_many(self, records: Sequence[Mapping[str, Any]]) -> list[bytes]:
        """The messages of ``records``, in order.

        Raises the :class:`SchemaValidationError` of the first record that does not fit.
        """
        rows = records if isinstance(records, list) else list(records)
        if len(rows) <= _PER_RECORD and self._encoder_complete:
            return [self._encode_one(r) for r in rows]
        try:
            return self._columnar(rows)
        except _BatchRejectedError as rejected:
            out, errors = self._recover(rows, rejected)
        if errors:
            raise errors[0][1]
        return cast("list[bytes]", out)

    def encode_many_checked(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[bytes | None], list[tuple[int, SchemaValidationError]]]:
        """The messages of ``records`` (``None`` where a record does not fit) and the
        ``(index, error)`` of each record that does not fit, by index."""
        rows = records if isinstance(records, list) else list(records)
        try:
            return cast("list[bytes | None]", self._columnar(rows)), []
        except _BatchRejectedError as rejected:
            return self._recover(rows, rejected)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """One record (through the per-record path: prefer :meth:`encode_many`)."""
        return self._encode_one(record)

    # ------------------------------------------------------------------ internals
    def _recover(
        self, rows: list[Mapping[str, Any]], rejected: _BatchRejectedError
    ) -> tuple[list[bytes | None], list[tuple[int, SchemaValidationError]]]:
        """Encode a rejected batch: the located culprits record by record, the others
        column-wise again; halves of a group whose culprits could not be located."""
        out: list[bytes | None] = [None] * len(rows)
        errors: list[tuple[int, SchemaValidationError]] = []
        pending: list[tuple[list[int], _BatchRejectedError | None]] = [
            (list(range(len(rows))), rejected)
        ]
        while pending:
            indices, rejection = pending.pop()
            if rejection is None:
                if len(indices) <= _PER_RECORD:
                    self._one_by_one(rows, indices, out, errors)
                    continue
                try:
                    encoded = self._columnar([rows[i] for i in indices])
                except _BatchRejectedError as exc:
                    rejection = exc
                else:
                    for i, message in zip(indices, encoded, strict=True):
                        out[i] = message
                    continue
            if rejection.rows:
                culprits = set(rejection.rows)
                self._one_by_one(rows, [indices[j] for j in sorted(culprits)], out, errors)
                rest = [i for j, i in enumerate(indices) if j not in culprits]
                if rest:
                    pending.append((rest, None))
            else:
                half = len(indices) // 2
                pending.append((indices[half:], None))
                pending.append((indices[:half], None))
        errors.sort(key=lambda e: e[0])
        return out, errors

    def _one_by_one(
        self,
        rows: list[Mapping[str, Any]],
        indices: Iterable[int],
        out: list[bytes | None],
        errors: list[tuple[int, SchemaValidationError]],
    ) -> None:
        for i in indices:
            try:
                out[i] = self._encode_one(rows[i])
            except SchemaValidationError as exc:
                errors.append((i, exc))

    def _encode_one(self, record: Mapping[str, Any]) -> bytes:
        if not isinstance(record, Mapping):
            raise SchemaValidationError("<record>", f"{type(record).__name__} is not a mapping")
        if self._encoder_complete:
            return self._encoder.encode(record)
        try:
            return self._columnar([record])[0]
        except _BatchRejectedError as rejected:
            validate(record, self.schema)  # fastavro's verdict and message first
            raise SchemaValidationError(rejected.field, rejected.message) from None

    def _columnar(self, records: list[Mapping[str, Any]]) -> list[bytes]:
        """All messages, or :class:`_BatchRejectedError` locating the offending records."""
        n = len(records)
        if n == 0:
            return []
        fields = self._fields
        try:
            cols = [list(map(f.get, records)) for f in fields]
        except (KeyError, TypeError):
            return self._columnar_with_defaults(records)
        failures = _Failures()
        width = len(fields)
        if countOf(map(len, records), width) != n:
            rows = _offending(records, lambda r: len(r) == width)
            failures.add("<record>", f"{self._unknown(records, rows)}: not in the schema", rows)
        parts: list[Part] = [self._header]
        for f, col in zip(fields, cols, strict=True):
            try:
                parts.extend(f.column.encode(col))
            except _ColumnError as exc:
                failures.add(f.name, str(exc), exc.rows)
                if exc.rows is None:
                    break
        failures.raise_any()
        return _assemble(parts, n)

    def _columnar_with_defaults(self, records: list[Mapping[str, Any]]) -> list[bytes]:
        """Slow path of :meth:`_columnar`: some records lack a field (or are no mapping)."""
        n = len(records)
        failures = _Failures()
        strays = _offending(records, lambda r: isinstance(r, Mapping))
        if strays:
            failures.add("<record>", "not a mapping", strays)
            failures.raise_any()
        expected = np.full(n, len(self._fields), dtype=np.int64)
        parts: list[Part] = [self._header]
        for f in self._fields:
            try:
                col = [r.get(f.name, _MISSING) for r in records]
            except Exception:  # a mapping failing a lookup: left to the per-record path
                failures.add("<record>", "field lookup failed", None)
                break
            present = list(map(is_not, col, repeat(_MISSING)))
            absent = countOf(present, False)
            if absent and f.default is None:
                rows = _offending(present, bool)
                failures.add(f.name, "required field is missing", rows)
                continue
            try:
                if absent == 0:
                    parts.extend(f.column.encode(col))
                elif absent == n:
                    parts.append(f.default or b"")
                else:
                    where = list(compress(range(n), present))
                    try:
                        rows_bytes = f.column.rows(list(map(col.__getitem__, where)))
                    except _ColumnError as exc:
                        raise _ColumnError(str(exc), _within(where, exc.rows)) from None
                    parts.append(_spread(n, f.default or b"", where, rows_bytes))
            except _ColumnError as exc:
                failures.add(f.name, str(exc), exc.rows)
                if exc.rows is None:
                    break
            expected -= np.logical_not(present)
        lengths = np.fromiter(map(len, records), np.int64, n)
        if not np.array_equal(lengths, expected):
            rows = np.flatnonzero(lengths != expected).tolist()
            failures.add("<record>", f"{self._unknown(records, rows)}: not in the schema", rows)
        failures.raise_any()
        return _assemble(parts, n)

    def _unknown(self, records: list[Mapping[str, Any]], rows: list[int]) -> str:
        """The first field of these records that is not in the schema (for messages)."""
        keys = chain.from_iterable(records[i] for i in rows)
        return next((repr(k) for k in keys if k not in self._names), "a field")

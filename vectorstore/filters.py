"""Chroma's metadata `where` language, evaluated outside Chroma (keyword index, in-memory stores).

Supported: `{key: value}`, `{key: {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte"|"$in"|"$nin": value}}`, `$and`, `$or`.
`column_mask` evaluates a clause over whole metadata columns at once with numpy.
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Sequence

import numpy as np

_COMPARE = {
    "$eq": operator.eq,
    "$ne": operator.ne,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _check(op: str, value: Any, operand: Any) -> bool:
    if op == "$in":
        return value in operand
    if op == "$nin":
        return value not in operand
    try:
        return bool(_COMPARE[op](value, operand))
    except KeyError:
        raise ValueError(f"unsupported filter operator {op!r}") from None
    except TypeError:
        return False


def matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Whether one record's metadata satisfies a `where` clause (None matches everything)."""
    for key, cond in (where or {}).items():
        if key == "$and":
            if not all(matches(meta, c) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(meta, c) for c in cond):
                return False
        elif isinstance(cond, Mapping):
            value = meta.get(key)
            if value is None or not all(_check(op, value, operand) for op, operand in cond.items()):
                return False
        elif meta.get(key) != cond:
            return False
    return True


def column_mask(columns: Mapping[str, np.ndarray], size: int, where: Mapping[str, Any] | None) -> np.ndarray:
    """Boolean mask over `size` rows whose metadata is held column-wise (missing column: no row matches)."""
    mask = np.ones(size, dtype=bool)
    for key, cond in (where or {}).items():
        if key in ("$and", "$or"):
            parts = [column_mask(columns, size, c) for c in cond]
            combined = np.logical_and.reduce(parts) if key == "$and" else np.logical_or.reduce(parts)
            mask &= combined if parts else (key == "$and")
            continue
        column = columns.get(key)
        if column is None:
            return np.zeros(size, dtype=bool)
        ops: Mapping[str, Any] = cond if isinstance(cond, Mapping) else {"$eq": cond}
        for op, operand in ops.items():
            if op in ("$in", "$nin"):
                hit = np.isin(column, np.asarray(list(operand), dtype=column.dtype))
                mask &= hit if op == "$in" else ~hit
            elif op in _COMPARE:
                mask &= _COMPARE[op](column, operand)
            else:
                raise ValueError(f"unsupported filter operator {op!r}")
    return mask


def as_columns(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Metadata rows -> one numpy column per key (ints stay ints, everything else becomes str)."""
    columns: dict[str, np.ndarray] = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            columns[key] = np.asarray(values, dtype=np.int64)
        else:
            columns[key] = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
    return columns

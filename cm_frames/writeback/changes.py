"""``Changes``: a plan's changed cells, columnar (the store ``Plan`` and ``diff`` share).

A diff of 100k customers can hold 600k changed cells, so a plan keeps numpy codes per changed
cell plus one value column per attribute: counting, filtering and inverting stay vectorised,
and operation objects are built only when asked for (``materialise``). The kind codes and
their inverses come from the operation classes (``OPERATION_CLASSES``, ``INVERSE_CODES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cm_frames.errors import ValidationError
from cm_frames.schema import CustomType
from cm_frames.writeback.operations import (
    INVERSE_CODES,
    OPERATION_CLASSES,
    Operation,
    timestamp_from_micros,
)

__all__ = ["Changes", "IntArray", "ValueColumn"]

IntArray: TypeAlias = npt.NDArray[np.int64]
# One attribute's values in change order: an Arrow array (from a diff) or a list (from operations).
ValueColumn: TypeAlias = "pa.Array[Any] | list[Any]"


@dataclass(frozen=True, slots=True, eq=False)
class Changes:
    """Changed cells, columnar, in operation order: what a ``Plan`` holds.

    Build one with ``Changes.from_operations`` or field by field (``diff`` does, from Arrow
    arrays, without an object per cell), and make a plan of it with ``Plan.from_changes``.

    Parameters
    ----------
    customer_ids : numpy.ndarray of int64
        Per customer: the ids.
    uuids, emails : pyarrow.Array or list
        Per customer: the uuid and email the plan was made for.
    names : tuple of str
        Per attribute: the tag name or custom key.
    types : tuple of str or None
        Per attribute: the custom type, None for a tag.
    old, new : tuple of pyarrow.Array or list
        Per attribute: the values before and after, in change order (empty for tags).
    cust : numpy.ndarray of int64
        Per change: the position of its customer.
    kind : numpy.ndarray of int8
        Per change: the operation class's ``code`` (see ``OPERATION_CLASSES``).
    attr : numpy.ndarray of int64
        Per change: the position of its attribute.
    vidx : numpy.ndarray of int64
        Per change: the position in its attribute's ``old``/``new`` columns (unused for tags).

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
    >>> changes = Changes.from_operations(
    ...     [AddTags(1, "cus_1", None, "vip"), UpdateCustom(1, "cus_1", None, "n", "Integer", 1, 2)]
    ... )
    >>> len(changes), changes.kind.tolist(), changes.attribute(1)
    (2, [0, 3], 'custom.n')
    >>> changes.inverted().materialise()[1]
    UpdateCustom(customer_id=1, uuid='cus_1', email=None, key='n', type='Integer', old=2, new=1)
    """

    customer_ids: IntArray
    uuids: pa.Array[Any] | list[str]
    emails: pa.Array[Any] | list[str | None]
    names: tuple[str, ...]
    types: tuple[CustomType | None, ...]
    old: tuple[ValueColumn, ...]
    new: tuple[ValueColumn, ...]
    cust: IntArray
    kind: npt.NDArray[np.int8]
    attr: IntArray
    vidx: IntArray

    def __len__(self) -> int:
        return len(self.kind)

    def attribute(self, a: int) -> str:
        """Return the frame column of attribute ``a``: ``"tag.<name>"`` or ``"custom.<key>"``.

        Parameters
        ----------
        a : int
            The attribute's position (a value of ``attr``).

        Returns
        -------
        str
            The column's name.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
        >>> changes = Changes.from_operations(
        ...     [AddTags(1, "cus_1", None, "vip"), UpdateCustom(1, "cus_1", None, "n", "Integer", 1, 2)]
        ... )
        >>> changes.attribute(0), changes.attribute(1)
        ('tag.vip', 'custom.n')
        """
        return ("tag." if self.types[a] is None else "custom.") + self.names[a]

    def subset(self, mask: npt.NDArray[np.bool_]) -> Changes:
        """Return the changes where ``mask`` (one bool per change) is True, in order.

        Parameters
        ----------
        mask : numpy.ndarray of bool
            One flag per change.

        Returns
        -------
        Changes
            The selected changes (customers and attributes kept as they are).

        Examples
        --------
        >>> import numpy as np
        >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
        >>> changes = Changes.from_operations(
        ...     [AddTags(1, "cus_1", None, "vip"), UpdateCustom(1, "cus_1", None, "n", "Integer", 1, 2)]
        ... )
        >>> changes.subset(np.array([False, True])).materialise()
        [UpdateCustom(customer_id=1, uuid='cus_1', email=None, key='n', type='Integer', old=1, new=2)]
        """
        return _replace(
            self,
            cust=self.cust[mask],
            kind=self.kind[mask],
            attr=self.attr[mask],
            vidx=self.vidx[mask],
        )

    def inverted(self) -> Changes:
        """Return every change reversed: inverse kinds (each class's ``inverse_class``).

        Returns
        -------
        Changes
            The same cells, with inverse kinds and old and new swapped.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
        >>> changes = Changes.from_operations(
        ...     [AddTags(1, "cus_1", None, "vip"), UpdateCustom(1, "cus_1", None, "n", "Integer", 1, 2)]
        ... )
        >>> [op.kind for op in changes.inverted().materialise()]
        ['RemoveTags', 'UpdateCustom']
        """
        # Same cells, inverse kinds, old and new swapped: an AddCustom's value becomes the
        # RemoveCustom's old value, an UpdateCustom's new becomes the old to check against.
        return _replace(self, kind=INVERSE_CODES[self.kind], old=self.new, new=self.old)

    def materialise(self, indices: IntArray | None = None) -> list[Operation]:
        """Build the operation objects of all changes, or of those at ``indices``, in order.

        Parameters
        ----------
        indices : numpy.ndarray of int, optional
            Positions of the changes wanted (default: all).

        Returns
        -------
        list of Operation
            One operation per change.

        Examples
        --------
        >>> import numpy as np
        >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
        >>> changes = Changes.from_operations(
        ...     [AddTags(1, "cus_1", None, "vip"), UpdateCustom(1, "cus_1", None, "n", "Integer", 1, 2)]
        ... )
        >>> changes.materialise(np.array([0]))
        [AddTags(customer_id=1, uuid='cus_1', email=None, tag='vip')]
        """
        cust, kind, attr, vidx = self.cust, self.kind, self.attr, self.vidx
        if indices is not None:
            cust, kind, attr, vidx = cust[indices], kind[indices], attr[indices], vidx[indices]
        olds: list[Any] = [None] * len(kind)
        news: list[Any] = [None] * len(kind)
        for a in np.unique(attr).tolist():
            type_ = self.types[a]
            if type_ is None:
                continue
            positions = np.flatnonzero(attr == a)
            wanted = vidx[positions]
            for target, column in ((olds, self.old[a]), (news, self.new[a])):
                for p, value in zip(
                    positions.tolist(), _take_values(column, wanted, type_), strict=True
                ):
                    target[p] = value
        ids = self.customer_ids.tolist()
        uuids = _as_list(self.uuids)
        emails = _as_list(self.emails)
        names, types = self.names, self.types
        make = [cls.from_cell for cls in OPERATION_CLASSES]
        return [
            make[k](ids[c], uuids[c], emails[c], names[a], types[a], old, new)
            for c, k, a, old, new in zip(
                cust.tolist(), kind.tolist(), attr.tolist(), olds, news, strict=True
            )
        ]

    @classmethod
    def from_operations(cls, operations: Sequence[Operation]) -> Changes:
        """Build the columnar form of ``operations`` (each customer with one uuid and email).

        Parameters
        ----------
        operations : sequence of Operation
            The operations, in order.

        Returns
        -------
        Changes
            The same changes, columnar.

        Raises
        ------
        ValidationError
            An item is not an operation, or one customer appears with two uuids or emails.
        """
        customers: dict[int, int] = {}
        ids: list[int] = []
        uuids: list[str] = []
        emails: list[str | None] = []
        attributes: dict[tuple[str, CustomType | None], int] = {}
        names: list[str] = []
        types: list[CustomType | None] = []
        olds: list[list[Any]] = []
        news: list[list[Any]] = []
        n = len(operations)
        cust = np.empty(n, dtype=np.int64)
        kind = np.empty(n, dtype=np.int8)
        attr = np.empty(n, dtype=np.int64)
        vidx = np.zeros(n, dtype=np.int64)
        for i, op in enumerate(operations):
            if not isinstance(op, OPERATION_CLASSES):
                raise ValidationError(
                    f"operations[{i}]: expected AddTags, RemoveTags, AddCustom, UpdateCustom "
                    f"or RemoveCustom, got {type(op).__name__}"
                )
            c = customers.get(op.customer_id)
            if c is None:
                c = customers[op.customer_id] = len(ids)
                ids.append(op.customer_id)
                uuids.append(op.uuid)
                emails.append(op.email)
            elif (uuids[c], emails[c]) != (op.uuid, op.email):
                raise ValidationError(
                    f"operations[{i}]: customer {op.customer_id} appears with uuid/email "
                    f"{op.uuid!r}/{op.email!r} but earlier with {uuids[c]!r}/{emails[c]!r}; "
                    "one customer must have one uuid and email throughout a plan"
                )
            type_ = op.value_type
            name = op.name
            a = attributes.get((name, type_))
            if a is None:
                a = attributes[(name, type_)] = len(names)
                names.append(name)
                types.append(type_)
                olds.append([])
                news.append([])
            if type_ is not None:
                old, new = op.old_new()
                vidx[i] = len(olds[a])
                olds[a].append(old)
                news[a].append(new)
            cust[i], kind[i], attr[i] = c, op.code, a
        return cls(
            customer_ids=np.array(ids, dtype=np.int64),
            uuids=uuids,
            emails=emails,
            names=tuple(names),
            types=tuple(types),
            old=tuple(olds),
            new=tuple(news),
            cust=cust,
            kind=kind,
            attr=attr,
            vidx=vidx,
        )


def _replace(changes: Changes, **fields: Any) -> Changes:
    current = {name: getattr(changes, name) for name in Changes.__dataclass_fields__}
    return Changes(**{**current, **fields})


def _as_list(values: pa.Array[Any] | list[Any]) -> list[Any]:
    return values.to_pylist() if isinstance(values, pa.Array) else values


def _take_values(column: ValueColumn, wanted: IntArray, type_: CustomType) -> list[Any]:
    """Python values of ``column`` at ``wanted``: ints, bools, strs, UTC datetimes, or None."""
    if not isinstance(column, pa.Array):
        return [column[v] for v in wanted.tolist()]
    taken = column.take(cast(pa.Int64Array, pa.array(wanted)))
    if type_ != "Timestamp":
        return taken.to_pylist()
    # Via integer microseconds: exact, and always datetime.timezone.utc as the tzinfo.
    micros = taken.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    return [None if m is None else timestamp_from_micros(m) for m in micros]

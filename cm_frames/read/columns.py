"""Decoded columns gathered across pages, kept compact so the final table costs little extra.

A load of 100,000 customers decodes into about 500 small arrays per column. Kept as they are
until the end, they lie scattered across the allocator's pages, and concatenating them needs
the whole table twice at once. So each column keeps its pieces as
runs of one chunk type (the final type needs every page: ``_assemble.py`` decides it),
``ColumnSet.compact()`` concatenates each run's newest pieces every few thousand rows (the
small per-page arrays are freed together, and the next pages reuse their memory), and
``Column.build`` turns a column into one array and frees its pieces at once, before the next
column is built. The peak of a load is then about the table plus one column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa

from cm_frames.read.decoder import ColumnChunk
from cm_frames.schema import null_array

__all__ = ["Column", "ColumnSet", "Run", "release_unused_memory"]

#: How a run's arrays become the column's type: ``(array, target) -> array``.
Convert: TypeAlias = "Callable[[pa.Array[Any], pa.DataType], pa.Array[Any]]"


def release_unused_memory() -> None:
    """Hand the memory Arrow's pool holds but no longer uses back to the OS.

    mimalloc and jemalloc keep freed pages for reuse, and a column's pieces, freed as it is
    built, are too small to be reused for the next column's single large array: without this
    they stay in the process's RSS until the end of the load. Cheap when there is nothing to
    return.

    Examples
    --------
    >>> release_unused_memory()
    """
    pa.default_memory_pool().release_unused()


@dataclass(slots=True)
class Run:
    """Rows ``start .. start + rows`` of one column, all decoded with one chunk type.

    Attributes
    ----------
    start : int
        The run's first row.
    arrow_type : pyarrow.DataType
        The type of every array of the run.
    text : bool
        The strings are rendered from mixed JSON types (certainly String, never Timestamp).
    arrays : list of pyarrow.Array
        The run's pieces, in row order (null gaps filled in).
    rows : int
        How many rows the run spans.
    compacted : int, default 0
        How many leading ``arrays`` are already compacted.

    Examples
    --------
    >>> import pyarrow as pa
    >>> run = Run(0, pa.int64(), False, [pa.array([1]), pa.array([2, 3])], rows=3)
    >>> run.compact()
    >>> len(run.arrays), run.end
    (1, 3)
    """

    start: int
    arrow_type: pa.DataType
    #: strings rendered from mixed JSON types (certainly String, never Timestamp)
    text: bool
    arrays: list[pa.Array[Any]]
    rows: int
    #: how many leading ``arrays`` are already compacted
    compacted: int = 0

    @property
    def end(self) -> int:
        """The row after the run's last one."""
        return self.start + self.rows

    def compact(self) -> None:
        """Concatenate the arrays added since the last call into one."""
        if len(self.arrays) - self.compacted > 1:
            self.arrays[self.compacted :] = [pa.concat_arrays(self.arrays[self.compacted :])]
        self.compacted = len(self.arrays)


@dataclass(slots=True)
class Column:
    """One column's non-null pieces in row order, as runs; rows outside every run are null.

    A piece that is null everywhere is not kept: it is null whatever type the column gets,
    and it must not vote for a type (``_assemble.py``).

    Parameters
    ----------
    runs : list of Run, optional
        The pieces so far (default: none).

    Examples
    --------
    >>> import pyarrow as pa
    >>> column = Column()
    >>> column.add(0, pa.array([1, 2]))
    >>> column.add(3, pa.array([4]))
    >>> column.build(pa.int64(), rows=5).to_pylist()
    [1, 2, None, 4, None]
    """

    runs: list[Run] = field(default_factory=list)

    def add(self, start: int, array: pa.Array[Any], *, text: bool = False) -> None:
        """Add ``array`` as the column's rows from ``start`` (after every row added so far).

        Parameters
        ----------
        start : int
            The row of ``array``'s first value; rows skipped since the last piece are null.
        array : pyarrow.Array
            The values (kept only if some is not null).
        text : bool, default False
            The strings are rendered from mixed JSON types.
        """
        if array.null_count == len(array):
            return
        last = self.runs[-1] if self.runs else None
        if last is None or last.arrow_type != array.type or last.text != text:
            self.runs.append(Run(start, array.type, text, [array], len(array)))
            return
        if start > last.end:  # pieces without this column in between
            last.arrays.append(pa.nulls(start - last.end, array.type))
        last.arrays.append(array)
        last.rows = start + len(array) - last.start

    def build(
        self, target: pa.DataType, rows: int, convert: Convert | None = None
    ) -> pa.Array[Any]:
        """Build the column over ``rows`` rows as ``target``, in one array; empty the column.

        Runs of another type go through ``convert`` (required when there are such runs).
        The pieces are freed, and their memory handed back, before this returns.

        Parameters
        ----------
        target : pyarrow.DataType
            The column's type.
        rows : int
            The column's length (rows after the last run are null).
        convert : callable, optional
            ``(array, target) -> array`` for runs of another type.

        Returns
        -------
        pyarrow.Array
            The whole column.

        Raises
        ------
        TypeError
            When a run has another type and no ``convert`` is given.
        """
        arrays: list[pa.Array[Any]] = []
        position = 0
        for run in self.runs:
            if run.start > position:
                arrays.append(null_array(run.start - position, target))
            if run.arrow_type == target:
                arrays.extend(run.arrays)
            else:
                if convert is None:
                    raise TypeError(f"a run of {run.arrow_type} cannot become {target} as is")
                arrays.extend(convert(array, target) for array in run.arrays)
            position = run.end
            run.arrays.clear()
        self.runs.clear()
        if rows > position:
            arrays.append(null_array(rows - position, target))
        if len(arrays) == 1:
            return arrays[0]
        column = pa.concat_arrays(arrays) if arrays else pa.array([], type=target)
        del arrays
        release_unused_memory()
        return column


class ColumnSet:
    """The columns of one section (documented fields, custom, Stripe, Clearbit) of every page.

    Pieces arrive as column chunks of consecutive customers, in the API's order.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from cm_frames.read.decoder import ColumnChunk
    >>> columns = ColumnSet()
    >>> columns.add(ColumnChunk(2, {"seats": pa.array([3, None])}))
    >>> columns.add(ColumnChunk(1, {"plan": pa.array(["pro"])}))
    >>> columns.rows, columns.build("seats", pa.int64()).to_pylist()
    (3, [3, None, None])
    >>> [name for name, _ in columns.take()]
    ['plan']
    """

    def __init__(self) -> None:
        self.rows = 0
        self._columns: dict[str, Column] = {}

    def add(self, chunk: ColumnChunk) -> None:
        """Append the next ``chunk.size`` rows (a column missing from the chunk is null there).

        Parameters
        ----------
        chunk : ColumnChunk
            One section's columns for the next customers.
        """
        for name, array in chunk.columns.items():
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = Column()
            column.add(self.rows, array, text=name in chunk.text)
        self.rows += chunk.size

    def compact(self) -> None:
        """Concatenate every run's newest pieces (called every few thousand rows)."""
        for column in self._columns.values():
            for run in column.runs:
                run.compact()

    def build(self, name: str, target: pa.DataType) -> pa.Array[Any]:
        """Build column ``name`` as one array of ``target`` and remove it from the set.

        Parameters
        ----------
        name : str
            The column.
        target : pyarrow.DataType
            Its type.

        Returns
        -------
        pyarrow.Array
            The column over every row (nulls if it was never seen).
        """
        return self._columns.pop(name, Column()).build(target, self.rows)

    def take(self) -> Iterator[tuple[str, Column]]:
        """Remove and yield each column, sorted by name: build it before taking the next.

        Yields
        ------
        tuple of (str, Column)
            A column's name and its pieces.
        """
        for name in sorted(self._columns):
            yield name, self._columns.pop(name)

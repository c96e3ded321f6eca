"""Stream pages of customers into a Parquet dataset directory with bounded memory.

For accounts too large for memory (design.md, "Beyond one machine")::

    with ParquetStreamWriter("customers/") as writer:
        for body in client.iter_pages(raw=True):
            writer.add_page(body)
    summary = writer.summary            # or: summary = writer.close() without ``with``
    df = read_parquet("customers/")     # or pd.read_parquet / DuckDB / Spark on the directory

Every ``pages_per_part`` pages become one file ``part-00000.parquet``, ... decoded exactly as
``PageDecoder`` would. A column's type can only be known once every page is seen (a custom key
that is an int in part 1 and "A-12" in part 3 is a String; a tag first seen in part 3 must exist,
False, in parts 1 and 2), so ``close()`` computes the unified schema with the same rules as the
in-memory path (``_assemble``) and rewrites, one at a time, only the parts that differ. The
streamed dataset then reads back equal to the in-memory frame of the same pages.

Timestamps are the one conversion that cannot be undone (the original text is gone once
parsed), so a part keeps the original strings of its Timestamp columns in a ``_``-prefixed side
file until ``close()``; readers ignore ``_`` files and close() deletes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from cm_frames.errors import ChartMogulError, ValidationError
from cm_frames.read.assemble import beyond_double, resolve_custom, resolve_external
from cm_frames.read.decoder import render_text
from cm_frames.read.pages import PageDecoder
from cm_frames.read.snapshot import new_snapshot_id
from cm_frames.read.table import ATTRS_KEY, pandas_metadata, table_to_frame
from cm_frames.schema import (
    CUSTOM_ARROW_TYPES,
    CUSTOM_PREFIX,
    INDEX_NAME,
    TAG_PREFIX,
    CustomType,
    base_arrow_schema,
    column_group,
    null_array,
    sort_columns,
)

__all__ = [
    "METADATA_FILE",
    "ParquetStreamWriter",
    "StreamSummary",
    "merge_into_file",
    "read_parquet",
]

#: Written beside the parts; dataset readers skip files starting with "_".
METADATA_FILE: Final = "_cm_frames.json"
#: The provenance key naming the export a frame was read from (its baseline when no snapshot).
PARQUET_PATH_KEY: Final = "parquet_path"
#: The provenance key that tells one export from the next at the same path.
EXPORT_ID_KEY: Final = "export_id"
_PART_GLOB: Final = "part-*.parquet"
_FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What ``ParquetStreamWriter.close()`` wrote.

    Attributes
    ----------
    path : Path
        The dataset's directory.
    count : int
        How many customers it holds.
    parts : int
        How many ``part-*.parquet`` files (at least one, also for no customers).
    rewritten : int
        How many parts ``close()`` rewrote to the unified schema.
    custom_types : dict of str to CustomType
        The type of every custom key, over all parts (also in ``_cm_frames.json``).
    columns : tuple of str
        The dataset's columns, the ``id`` index left out.

    Examples
    --------
    >>> import json, tempfile
    >>> page = json.dumps({"entries": [
    ...     {"id": 1, "uuid": "cus_1", "attributes": {"tags": ["vip"], "custom": {"seats": 3}}},
    ...     {"id": 2, "uuid": "cus_2", "attributes": {"tags": [], "custom": {}}},
    ... ], "has_more": False})
    >>> with ParquetStreamWriter(tempfile.mkdtemp()) as writer:
    ...     _ = writer.add_page(page)
    >>> summary = writer.summary
    >>> summary.count, summary.parts, summary.custom_types
    (2, 1, {'seats': 'Integer'})
    """

    path: Path
    count: int
    parts: int
    #: parts rewritten at close() to the unified schema
    rewritten: int
    custom_types: dict[str, CustomType]
    columns: tuple[str, ...]


@dataclass(slots=True)
class _Part:
    path: Path
    rows: int
    schema: pa.Schema
    #: custom key -> its type in this part, for keys with at least one value
    custom_votes: dict[str, CustomType]
    #: stripe/clearbit column -> Arrow type, for columns with at least one value
    external_votes: dict[str, pa.DataType]
    #: int64 stripe/clearbit columns with a value a double cannot hold (|v| > 2**53)
    inexact_ints: frozenset[str]
    #: custom keys whose original text is in the side file
    timestamp_keys: tuple[str, ...] = ()
    side_file: Path | None = None


@dataclass(slots=True)
class _State:
    parts: list[_Part] = field(default_factory=list)
    pages_in_part: int = 0
    closed: bool = False


class ParquetStreamWriter:
    """Decode pages into a directory of Parquet parts; ``close()`` unifies their schemas.

    ``path`` is created if needed; it must not already hold a dataset unless ``overwrite=True``
    (which deletes only this writer's kind of files: ``part-*.parquet`` and ``_cm_frames.json``).
    Memory holds at most ``pages_per_part`` decoded pages, whatever the number of pages.
    Used as a context manager, leaving the block closes the writer (``summary`` is then set),
    or on an exception aborts it (its files are deleted).

    Parameters
    ----------
    path : str or os.PathLike
        The dataset's directory.
    pages_per_part : int, default 50
        Pages decoded into each part file.
    overwrite : bool, default False
        Replace a dataset already at ``path``.
    provenance : mapping, optional
        JSON-safe provenance of the load (base URL, account hash, dialect, load time; never
        credentials), kept in ``_cm_frames.json`` and given back by ``read_parquet`` in
        ``df.attrs["chartmogul"]``.

    Raises
    ------
    ValidationError
        When ``pages_per_part`` is below 1, or ``path`` holds a dataset and not ``overwrite``.

    See Also
    --------
    read_customers : With ``to=path``, streams an account's pages through this writer.
    read_parquet : Reads the dataset back into the frame.

    Examples
    --------
    >>> import json, tempfile
    >>> page = json.dumps({"entries": [
    ...     {"id": 1, "uuid": "cus_1", "attributes": {"tags": ["vip"], "custom": {"seats": 3}}},
    ...     {"id": 2, "uuid": "cus_2", "attributes": {"tags": [], "custom": {}}},
    ... ], "has_more": False})
    >>> writer = ParquetStreamWriter(tempfile.mkdtemp(), pages_per_part=1)
    >>> writer.add_page(page)
    2
    >>> writer.close().parts
    1
    >>> df = read_parquet(writer.path)
    >>> df["custom.seats"].tolist(), df["tag.vip"].tolist()
    ([3, <NA>], [True, False])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pages_per_part: int = 50,
        overwrite: bool = False,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        if pages_per_part < 1:
            raise ValidationError(f"pages_per_part must be at least 1, got {pages_per_part}")
        self.path = Path(path)
        self.provenance = dict(provenance or {})
        self.pages_per_part = pages_per_part
        self._prepare_directory(overwrite)
        self._decoder = PageDecoder(keep_timestamp_text=True)
        self._state = _State()
        self.summary: StreamSummary | None = None

    def _prepare_directory(self, overwrite: bool) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        existing = [*self.path.glob(_PART_GLOB), *self.path.glob(METADATA_FILE)]
        if existing and not overwrite:
            raise ValidationError(
                f"{self.path} already holds a dataset ({len(existing)} files such as "
                f"{existing[0].name}); choose an empty directory or pass overwrite=True"
            )
        for stale in existing:
            stale.unlink()

    # --- writing ---------------------------------------------------------------------------

    def add_page(self, body: bytes | bytearray | memoryview | str) -> int:
        """Decode one page body (a list page or a search result).

        Parameters
        ----------
        body : bytes, bytearray, memoryview or str
            The page's JSON, as the API sent it.

        Returns
        -------
        int
            How many customers the page held.

        Raises
        ------
        ChartMogulError
            When the writer is closed, or the page breaks the API's documented shape.

        Examples
        --------
        >>> import json, tempfile
        >>> page = json.dumps({"entries": [
        ...     {"id": 1, "uuid": "cus_1", "attributes": {"tags": ["vip"], "custom": {"seats": 3}}},
        ...     {"id": 2, "uuid": "cus_2", "attributes": {"tags": [], "custom": {}}},
        ... ], "has_more": False})
        >>> ParquetStreamWriter(tempfile.mkdtemp()).add_page(page)
        2
        """
        self._check_open()
        return self._added(self._decoder.add_page(body))

    def add_entries(self, entries: list[Any]) -> int:
        """Add one page's customers already decoded from JSON (today's cursor pages).

        Parameters
        ----------
        entries : list
            The page's customer objects.

        Returns
        -------
        int
            How many customers the page held.

        Raises
        ------
        ChartMogulError
            As ``add_page`` does.

        Examples
        --------
        >>> import tempfile
        >>> ParquetStreamWriter(tempfile.mkdtemp()).add_entries([{"id": 1, "uuid": "cus_1"}])
        1
        """
        self._check_open()
        return self._added(self._decoder.add_entries(entries))

    def _check_open(self) -> None:
        if self._state.closed:
            raise ChartMogulError(f"The writer of {self.path} is closed; start a new one")

    def _added(self, count: int) -> int:
        """Count a page into the current part; write the part once it is full."""
        self._state.pages_in_part += 1
        if self._state.pages_in_part >= self.pages_per_part:
            self._flush()
        return count

    def _flush(self) -> None:
        self._state.pages_in_part = 0
        decoded = self._decoder.finish()
        if decoded.count == 0:
            return
        index = len(self._state.parts)
        part_path = self.path / f"part-{index:05d}.parquet"
        table = decoded.table
        # pandas metadata in every part: plain pd.read_parquet restores the id index and dtypes.
        pq.write_table(_described(table), part_path)
        custom_votes: dict[str, CustomType] = {}
        external_votes: dict[str, pa.DataType] = {}
        inexact_ints: set[str] = set()
        for name, column in zip(table.column_names, table.columns, strict=True):
            if column.null_count == len(column):
                continue  # null everywhere in this part: no say in the column's type
            group = column_group(name)
            if group == CUSTOM_PREFIX:
                custom_votes[name[len(CUSTOM_PREFIX) :]] = decoded.custom_types[
                    name[len(CUSTOM_PREFIX) :]
                ]
            elif group != TAG_PREFIX:
                # Sections, today's fields, and undocumented fields (no group): typed from
                # the parts that hold values, as the in-memory frame types them.
                external_votes[name] = column.type
                if any(beyond_double(chunk) for chunk in column.chunks):
                    inexact_ints.add(name)
        part = _Part(
            part_path,
            table.num_rows,
            table.schema,
            custom_votes,
            external_votes,
            frozenset(inexact_ints),
        )
        if decoded.timestamp_text:
            part.side_file = self.path / f"_timestamps-part-{index:05d}.parquet"
            part.timestamp_keys = tuple(decoded.timestamp_text)
            pq.write_table(pa.table(dict(decoded.timestamp_text)), part.side_file)
        self._state.parts.append(part)

    # --- closing ---------------------------------------------------------------------------

    def close(self) -> StreamSummary:
        """Write the last part, unify every part's schema, write ``_cm_frames.json``.

        Calling it again returns the same summary.

        Returns
        -------
        StreamSummary
            What was written (also kept as ``self.summary``).

        Examples
        --------
        >>> import tempfile
        >>> writer = ParquetStreamWriter(tempfile.mkdtemp())
        >>> writer.close().count  # no pages: an empty, still readable dataset
        0
        >>> writer.close() is writer.summary
        True
        """
        if self.summary is not None:
            return self.summary
        if self._state.pages_in_part or self._decoder.count:
            self._flush()
        self._state.closed = True
        parts = self._state.parts
        if not parts:  # still a readable dataset: the fixed columns, no rows
            empty = base_arrow_schema().empty_table()
            pq.write_table(_described(empty), self.path / "part-00000.parquet")
        schema, custom_types = _unified_schema(parts)
        rewritten = 0
        for part in parts:
            if not part.schema.equals(schema):
                _rewrite(part, schema, custom_types)
                rewritten += 1
            if part.side_file is not None:
                part.side_file.unlink()
        count = sum(p.rows for p in parts)
        meta = {
            "format": _FORMAT_VERSION,
            "count": count,
            "parts": max(len(parts), 1),
            "custom_types": custom_types,
            # A new id per export: a frame read from an older export at this path is not
            # planned against this one (plan_frame compares them).
            "provenance": {**self.provenance, EXPORT_ID_KEY: new_snapshot_id()},
        }
        (self.path / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        self.summary = StreamSummary(
            path=self.path,
            count=count,
            parts=max(len(parts), 1),
            rewritten=rewritten,
            custom_types=custom_types,
            columns=tuple(name for name in schema.names if name != INDEX_NAME),
        )
        return self.summary

    def abort(self) -> None:
        """Stop and delete every file this writer created (also after a failed ``close()``).

        Examples
        --------
        >>> import json, tempfile
        >>> page = json.dumps({"entries": [
        ...     {"id": 1, "uuid": "cus_1", "attributes": {"tags": ["vip"], "custom": {"seats": 3}}},
        ...     {"id": 2, "uuid": "cus_2", "attributes": {"tags": [], "custom": {}}},
        ... ], "has_more": False})
        >>> writer = ParquetStreamWriter(tempfile.mkdtemp(), pages_per_part=1)
        >>> _ = writer.add_page(page)
        >>> writer.abort()
        >>> sorted(writer.path.iterdir())
        []
        """
        self._state.closed = True
        for part in self._state.parts:
            part.path.unlink(missing_ok=True)
            part.path.with_name(f"_rewriting-{part.path.name}").unlink(missing_ok=True)
            if part.side_file is not None:
                part.side_file.unlink(missing_ok=True)
        self._state.parts.clear()
        if self.summary is None:  # written last by a close() that got that far
            (self.path / METADATA_FILE).unlink(missing_ok=True)
        self._decoder = PageDecoder(keep_timestamp_text=True)

    def __enter__(self) -> ParquetStreamWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            # A close() that fails half-way (rewriting parts) must not leave a partial
            # dataset behind that passes for a whole one.
            self.abort()
            raise


def _unified_schema(parts: list[_Part]) -> tuple[pa.Schema, dict[str, CustomType]]:
    """The union of the parts' columns, each typed by the in-memory rules (``_assemble``)."""
    names: set[str] = set()
    custom_votes: dict[str, set[str]] = {}
    external_votes: dict[str, set[pa.DataType]] = {}
    inexact_ints: set[str] = set()
    for part in parts:
        inexact_ints.update(part.inexact_ints)
        names.update(part.schema.names)
        for key, vote in part.custom_votes.items():
            custom_votes.setdefault(key, set()).add(vote)
        for name, arrow_type in part.external_votes.items():
            external_votes.setdefault(name, set()).add(arrow_type)
    base = base_arrow_schema()
    types: dict[str, pa.DataType] = {f.name: f.type for f in base}
    custom_types: dict[str, CustomType] = {}
    # Sorted: undocumented fields come by name, as the in-memory frame orders them.
    for name in sorted(names - set(types)):
        group = column_group(name)
        if group == TAG_PREFIX:
            types[name] = pa.bool_()
        elif group == CUSTOM_PREFIX:
            key = name[len(CUSTOM_PREFIX) :]
            kind: CustomType = resolve_custom(custom_votes.get(key, ()))  # type: ignore[assignment]
            custom_types[key] = kind
            types[name] = CUSTOM_ARROW_TYPES[kind]
        else:
            types[name] = resolve_external(
                external_votes.get(name, ()), inexact_ints=name in inexact_ints
            )
    order = [INDEX_NAME, *sort_columns(n for n in types if n != INDEX_NAME)]
    schema = pa.schema([pa.field(n, types[n]) for n in order])
    return schema, dict(sorted(custom_types.items()))


def _rewrite(part: _Part, schema: pa.Schema, custom_types: dict[str, CustomType]) -> None:
    """Conform one part to the unified schema, replacing its file atomically."""
    table = pq.read_table(part.path)
    side = pq.read_table(part.side_file) if part.side_file is not None else None
    columns: list[pa.Array[Any]] = []
    for target in schema:
        name, arrow_type = target.name, target.type
        if name not in table.column_names:
            if column_group(name) == TAG_PREFIX:
                columns.append(pa.array(np.zeros(table.num_rows, dtype=bool)))
            else:
                columns.append(null_array(table.num_rows, arrow_type))
            continue
        column = table.column(name).combine_chunks()
        if column.type == arrow_type:
            columns.append(column)
        elif column.null_count == len(column):
            columns.append(null_array(len(column), arrow_type))
        elif pa.types.is_timestamp(column.type):
            # A Timestamp key in this part that is a String overall: its original text.
            key = name[len(CUSTOM_PREFIX) :]
            if side is None or key not in side.column_names:
                raise AssertionError(f"{part.path.name}: no original text kept for {name}")
            columns.append(side.column(key).combine_chunks())
        elif pa.types.is_string(arrow_type):
            columns.append(render_text(column))
        else:
            columns.append(column.cast(arrow_type))  # int64 -> double
    conformed = _described(pa.Table.from_arrays(columns, schema=schema))
    temporary = part.path.with_name(f"_rewriting-{part.path.name}")
    pq.write_table(conformed, temporary)
    os.replace(temporary, part.path)


def _described(table: pa.Table, attrs: dict[str, Any] | None = None) -> pa.Table:
    """The table with pandas metadata (and ``attrs``) in its schema, for any Parquet reader."""
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), **pandas_metadata(table.schema, attrs)}
    )


def merge_into_file(directory: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write a dataset of ``ParquetStreamWriter`` as one Parquet file, one part at a time.

    The file carries the dataset's provenance in its schema metadata (``df.attrs``, which
    ``cm.read_parquet`` and ``pd.read_parquet`` restore) and pandas metadata; memory holds one
    part. ``target`` is replaced atomically; ``directory`` is left as it is.

    Parameters
    ----------
    directory : str or os.PathLike
        A closed dataset.
    target : str or os.PathLike
        The ``.parquet`` file to write.

    Returns
    -------
    Path
        ``target``.

    Examples
    --------
    >>> import json, tempfile
    >>> page = json.dumps({"entries": [{"id": 1, "uuid": "cus_1"}], "has_more": False})
    >>> with ParquetStreamWriter(tempfile.mkdtemp()) as writer:
    ...     _ = writer.add_page(page)
    >>> path = merge_into_file(writer.path, writer.path.parent / "customers.parquet")
    >>> read_parquet(path).index.tolist()
    [1]
    """
    directory, target = Path(directory), Path(target)
    dataset = pads.dataset(directory, format="parquet")
    attrs = {ATTRS_KEY: _dataset_provenance(directory)}
    schema = _described(dataset.schema.empty_table(), attrs).schema
    partial = target.with_name(f".{target.name}.partial")
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for fragment in sorted(dataset.get_fragments(), key=lambda f: f.path):
                writer.write_table(fragment.to_table().replace_schema_metadata(schema.metadata))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _dataset_provenance(directory: Path) -> dict[str, Any]:
    meta_file = directory / METADATA_FILE
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    provenance = meta.get("provenance")
    info = dict(provenance) if isinstance(provenance, Mapping) else {}
    info["custom_types"] = meta.get("custom_types", {})
    if isinstance(meta.get("count"), int):
        info.setdefault("customers", meta["count"])
    return info


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an export back into the frame (exact dtypes, provenance): a dataset folder or a file.

    A folder written by ``ParquetStreamWriter`` (``cm.read_customers(client, to="folder/")``), or
    one ``.parquet`` file (``to="customers.parquet"``, ``cm-frames load --to``). The frame's
    ``df.attrs["chartmogul"]`` names the account it came from and the export itself
    (``parquet_path``), so ``df.chartmogul.plan()`` of an edited copy diffs against the load's
    snapshot while it exists, else against the export. Plain ``pd.read_parquet(path)`` reads
    the same values with the ``id`` index (``status`` as a Categorical, ``tags`` as arrays);
    DuckDB, Dask or Spark read the files as they are.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset's directory, or a Parquet file.

    Returns
    -------
    pandas.DataFrame
        The customers, as ``read_customers`` would return them (provenance and custom types in
        ``df.attrs["chartmogul"]``).

    Raises
    ------
    FileNotFoundError
        When there is no dataset or file at ``path``.

    Examples
    --------
    >>> import tempfile
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=20, seed=1) as emu:
    ...     path = cm.read_customers(emu.client(), to=tempfile.mkdtemp(), progress=False)
    >>> df = cm.read_parquet(path)
    >>> len(df), df.index.name, df.attrs["chartmogul"]["dialect"]
    (20, 'id', 'enrichment')
    """
    location = Path(path).absolute()
    if location.is_file():
        frame = table_to_frame(pq.read_table(location))
        info = dict(frame.attrs.get(ATTRS_KEY) or {})
    else:
        if not location.is_dir():
            raise FileNotFoundError(f"no Parquet dataset or file at {location}")
        frame = table_to_frame(pads.dataset(location, format="parquet").to_table())
        info = _dataset_provenance(location)
    info[PARQUET_PATH_KEY] = str(location)
    frame.attrs[ATTRS_KEY] = info
    return frame

"""A flat Arrow table of customers <-> the Arrow-backed DataFrame (index ``id``), losslessly."""

from __future__ import annotations

import json
from typing import Any, Final

import pandas as pd
import pyarrow as pa

from cm_frames.errors import ChartMogulError
from cm_frames.read.assemble import canonical_status
from cm_frames.schema import INDEX_NAME, STATUS, STRING, restore_index_advice

__all__ = ["ATTRS_KEY", "frame_to_table", "pandas_metadata", "table_to_frame"]

#: The key of ``df.attrs`` that cm_frames owns.
ATTRS_KEY: Final = "chartmogul"
#: Where ``frame_to_table`` keeps ``df.attrs`` in the Arrow schema metadata.
_ATTRS_METADATA: Final = b"cm_frames.attrs"
#: Where pandas (2.1 and later) keeps ``df.attrs`` in a Parquet file, restored by read_parquet.
_PANDAS_ATTRS: Final = b"PANDAS_ATTRS"


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """The DataFrame of a flat table: index ``id`` (numpy int64), every column ``pd.ArrowDtype``.

    Accepts tables read back from Parquet too: list fields named ``element`` become ``item`` and
    the status dictionary is re-encoded canonically (sorted), so a round trip through Parquet
    compares ``.equals`` with the original. Attributes stored by ``frame_to_table`` come back in
    ``df.attrs``.

    Parameters
    ----------
    table : pyarrow.Table
        A flat customer table with an ``id`` column.

    Returns
    -------
    pandas.DataFrame
        The customer frame (zero copy where Arrow allows).

    Raises
    ------
    ChartMogulError
        When the table has no ``id`` column, or nulls in it.

    Examples
    --------
    >>> import pyarrow as pa
    >>> df = table_to_frame(pa.table({"id": [7, 8], "email": ["a@example.com", None]}))
    >>> df.index.name, df["email"].tolist()
    ('id', ['a@example.com', <NA>])
    """
    if INDEX_NAME not in table.column_names:
        raise ChartMogulError(
            f"The table has no {INDEX_NAME!r} column (columns: {table.column_names[:8]}...); "
            "it must come from PageDecoder.finish() or frame_to_table()"
        )
    ids = table.column(INDEX_NAME)
    if ids.null_count:
        raise ChartMogulError(f"The {INDEX_NAME!r} column has {ids.null_count} null values")
    index = pd.Index(ids.to_numpy().astype("int64", copy=False), name=INDEX_NAME)
    data = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name == INDEX_NAME:
            continue
        data[name] = pd.arrays.ArrowExtensionArray(_normalise(name, column))
    frame = pd.DataFrame(data, index=index, copy=False)
    metadata = table.schema.metadata or {}
    if _ATTRS_METADATA in metadata:
        frame.attrs.update(json.loads(metadata[_ATTRS_METADATA]))
    return frame


def _type_of(name: str, column: pa.ChunkedArray[Any]) -> pa.DataType:
    arrow_type = column.type
    if name == "status":
        return STATUS.pyarrow_dtype
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return STRING.pyarrow_dtype
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(_type_of("", pa.chunked_array([], arrow_type.value_type)))
    result: pa.DataType = arrow_type
    return result


def _normalise(name: str, column: pa.ChunkedArray[Any]) -> pa.ChunkedArray[Any]:
    if name == "status":
        return pa.chunked_array([canonical_status(column)])
    target = _type_of(name, column)
    # str(): Arrow's type equality ignores list field names ("element" from Parquet, "item")
    return column if str(target) == str(column.type) else column.cast(target)


def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """The flat table of a frame (``id`` first, then the columns): the inverse of table_to_frame.

    ``df.attrs`` (JSON-safe by contract) travel in the schema metadata. No pandas metadata is
    written: pandas cannot rebuild dictionary or list ArrowDtypes from it (read_parquet raises),
    so readers should use ``table_to_frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        A customer frame (index ``id``).

    Returns
    -------
    pyarrow.Table
        ``id`` first, then the frame's columns, ``df.attrs`` in the schema metadata.

    Raises
    ------
    ChartMogulError
        When the frame's index is not named ``id``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"email": ["a@example.com"]}, index=pd.Index([7], name="id"))
    >>> frame_to_table(df).column_names
    ['id', 'email']
    """
    if frame.index.name != INDEX_NAME:
        raise ChartMogulError(
            f"The frame's index is {frame.index.name!r}, not {INDEX_NAME!r}; frames of customers "
            f"are indexed by the ChartMogul id: {restore_index_advice(frame.columns)}"
        )
    arrays = [pa.array(frame.index.to_numpy(dtype="int64"), type=pa.int64())]
    names = [INDEX_NAME]
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.ArrowDtype):
            arrays.append(column.array.__arrow_array__())  # zero copy
        else:
            arrays.append(pa.array(column, from_pandas=True))
        names.append(str(name))
    table = pa.Table.from_arrays(arrays, names=names)
    attrs = frame.attrs
    if attrs:
        table = table.replace_schema_metadata({_ATTRS_METADATA: json.dumps(attrs).encode()})
    return table


def pandas_metadata(schema: pa.Schema, attrs: dict[str, Any] | None = None) -> dict[bytes, bytes]:
    """The schema metadata that lets plain ``pd.read_parquet`` rebuild the frame of ``schema``.

    The ``pandas`` key (as ``pa.Table.from_pandas`` writes it) names ``id`` the index and records
    each column's ArrowDtype, so integers stay ``int64[pyarrow]`` instead of floats. pandas cannot
    parse the dtype names of dictionary and list columns back (``read_parquet`` raises on them),
    so those two (``status``, ``tags``) are recorded as ``object``: pandas reads them as a
    Categorical and arrays, ``cm.read_parquet`` as the frame's exact dtypes. With ``attrs``,
    ``df.attrs`` travel too (``PANDAS_ATTRS``, which pandas restores, and ``cm_frames.attrs``).

    Parameters
    ----------
    schema : pyarrow.Schema
        A flat customer schema (``id`` first).
    attrs : dict, optional
        JSON-safe ``df.attrs`` to keep.

    Returns
    -------
    dict of bytes to bytes
        The keys to add to the schema's metadata.

    Examples
    --------
    >>> import json
    >>> import pyarrow as pa
    >>> schema = pa.schema([("id", pa.int64()), ("seats", pa.int64())])
    >>> meta = json.loads(pandas_metadata(schema)[b"pandas"])
    >>> meta["index_columns"], [c["numpy_type"] for c in meta["columns"]]
    (['id'], ['int64[pyarrow]', 'int64'])
    """
    head = table_to_frame(schema.empty_table().replace_schema_metadata(None))
    described = pa.Table.from_pandas(head, preserve_index=True).schema.metadata or {}
    meta = json.loads(described[b"pandas"])
    for column in meta["columns"]:
        name = column.get("field_name")
        if name not in schema.names:
            continue  # the index, described as numpy int64
        arrow_type = schema.field(name).type
        if pa.types.is_dictionary(arrow_type) or pa.types.is_list(arrow_type):
            column["numpy_type"] = "object"
    result = {b"pandas": json.dumps(meta).encode()}
    if attrs:
        text = json.dumps(attrs).encode()
        result[_ATTRS_METADATA] = text
        result[_PANDAS_ATTRS] = text
    return result

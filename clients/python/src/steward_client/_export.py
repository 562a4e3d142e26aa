"""Turning ExportDonationData's batches into a DataFrame, Parquet or CSV.

Each batch carries up to 1,000 rows of one data type as JSON: one
newline-delimited text (`json_lines`), or one text a row (`json_rows`) from a
server that predates it, or Structs from one older still. Two ways to a
DataFrame give the same frame:

- with pyarrow, runs of batches are parsed by Arrow's JSON reader (one call a
  run, on a worker thread while the stream goes on) into Arrow tables; the
  tables are concatenated and typed column by column with Arrow compute, then
  converted once. This is the fast way (what the export bench measures).
- without it, each batch is one `json.loads` of the texts joined into an
  array, and `rows_to_frame` builds the frame.

Files are written batch by batch, so memory stays at a batch or two however
large the donation: Parquet through `pyarrow.parquet.ParquetWriter` (the
column types are fixed by the type's first batch), CSV through `csv.writer`
(values as the JSON has them: text, `true`/`false`, an empty field for null).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    import pandas

# Row keys every data type has (spec donation.md §4.3.3), in the order Steward stores them.
COMMON_KEYS = ("data_type", "device_id", "timestamp", "platform")
# How Steward writes a row's timestamps: RFC 3339 in UTC, e.g. 2024-01-15T10:00:00.000Z.
UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z")
# The same for Arrow's regex kernel (RE2).
_ARROW_UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
FORMATS = ("parquet", "csv")
# JSON text parsed per Arrow reader call (about 8 batches of 1,000 typical rows).
MERGE_BYTES = 4 << 20


def pandas_module(what: str = "donation_data") -> Any:
    """pandas, or an ImportError naming the extra that installs it for `what`."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            f'{what} returns a pandas DataFrame: install pandas (pip install "steward-client[pandas]")'
        ) from None
    return pandas


def pyarrow_module(what: str) -> Any:
    """pyarrow with the submodules the export uses, or an ImportError naming the extra."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401  (the submodules the export uses)
        import pyarrow.json  # noqa: F401
    except ImportError:
        raise ImportError(f'{what} needs pyarrow: install it (pip install "steward-client[parquet]")') from None
    return pyarrow


def optional_pyarrow() -> Any:
    """pyarrow when it is installed (the fast way to a DataFrame), else None."""
    try:
        return pyarrow_module("")
    except ImportError:
        return None


def batch_rows(batch: Any) -> List[Dict[str, Any]]:
    """A batch's (or a Query page's) rows as dicts, keys in their stored order."""
    lines = getattr(batch, "json_lines", b"")  # Query pages have no such field
    if lines:
        # Rows are compact JSON texts: a raw newline only ends one.
        parsed: List[Dict[str, Any]] = json.loads(b"[" + lines.rstrip(b"\n").replace(b"\n", b",") + b"]")
        return parsed
    if batch.json_rows:
        # One parse of the joined array is much cheaper than one per row.
        rows: List[Dict[str, Any]] = json.loads("[" + ",".join(batch.json_rows) + "]")
        return rows
    return [struct_row(row) for row in batch.rows]


def json_lines(batch: Any) -> bytes:
    """A batch's JSON rows as JSON Lines (each row followed by a newline), as
    the server sends them when asked; empty for Struct rows."""
    lines: bytes = batch.json_lines
    if lines or not batch.json_rows:
        return lines
    # A server that predates `json_lines` sends a text a row.
    return ("\n".join(batch.json_rows) + "\n").encode()


def struct_row(struct: Any) -> Dict[str, Any]:
    """A `google.protobuf.Struct` row as a dict of plain values.

    A Struct keeps no key order: the common keys come first, then the rest by
    name (JSON rows keep the stored order instead).
    """
    fields = struct.fields
    row: Dict[str, Any] = {}
    for key in [k for k in COMMON_KEYS if k in fields] + sorted(k for k in fields if k not in COMMON_KEYS):
        value = fields[key]
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            row[key] = value.string_value
        elif kind == "bool_value":
            row[key] = value.bool_value
        elif kind == "number_value":
            row[key] = value.number_value
        elif kind in ("struct_value", "list_value"):
            # Steward's rows are flat; keep anything nested as Python values all the same.
            row[key] = struct[key]
        else:
            row[key] = None
    return row


def rows_to_frame(rows: Sequence[Dict[str, Any]], pandas: Any = None) -> "pandas.DataFrame":
    """Rows (dicts of str, bool, float or None) as a typed DataFrame.

    One column per key, in the order the keys first appear; a column whose
    values are all timestamps becomes `datetime64[ns, UTC]`, all booleans
    pandas' nullable `boolean`, all other strings pandas' `string` (missing
    values are `pd.NA` in both); the rest keep their values (None where a
    row has none). No rows: an empty frame without columns.
    """
    pandas = pandas or pandas_module()
    strings = string_dtype(pandas)
    keys: Dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    data = {}
    for column in keys:
        values = [row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            data[column] = pandas.array(values, dtype="boolean")
        elif present and all(isinstance(v, str) and UTC_TIMESTAMP.match(v) for v in present):
            data[column] = pandas.to_datetime(pandas.Series(values, dtype=object), utc=True, format="ISO8601")
        elif present and all(isinstance(v, str) for v in present):
            data[column] = pandas.array(values, dtype=strings)
        else:
            data[column] = pandas.Series(values, dtype=object)
    return pandas.DataFrame(data, columns=list(keys))


class ArrowBatches:
    """Parses batches into Arrow tables with Arrow's JSON reader.

    The reader would turn strings such as "2024-01-15" into timestamps of its
    own; such columns are read again as strings (and remembered), so typing
    is decided once, on all the rows, by `frame()` or by a file's schema.
    """

    def __init__(self, pa: Any, pool: Any = None) -> None:
        import pyarrow.json

        self.pa = pa
        self._json = pyarrow.json
        self._pool = pool
        self._strings: Dict[str, Any] = {}  # column -> pa.string(), for the reader's explicit schema

    def tables(self, batches: Iterable[Any]) -> Iterator[Tuple[str, Any]]:
        """`(data_type, table)` for each run of batches of one type, up to
        MERGE_BYTES of JSON a run: one reader call per run is cheaper than one
        per batch, and a run is still small next to a whole donation.

        A run is parsed on a worker thread while the next one is received:
        Arrow's reader releases the GIL, so the stream does not wait for it."""
        with ThreadPoolExecutor(1, thread_name_prefix="steward-export") as worker:
            pending: Optional[Tuple[str, Any]] = None
            for kind, run in self._runs(batches):
                parse = self._parse if isinstance(run, bytes) else self.pa.Table.from_pylist
                parsing = worker.submit(parse, run)
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = kind, parsing
            if pending is not None:
                yield pending[0], pending[1].result()

    def _runs(self, batches: Iterable[Any]) -> Iterator[Tuple[str, Any]]:
        """`(data_type, text)` for each run of JSON batches (JSON Lines,
        UTF-8), `(data_type, rows)` for each batch of Structs."""
        parts: List[bytes] = []
        size = 0
        kind = ""
        for batch in batches:
            lines = json_lines(batch)
            if parts and (batch.data_type != kind or size >= MERGE_BYTES or not lines):
                yield kind, b"".join(parts)
                parts, size = [], 0
            kind = batch.data_type
            if not lines:
                if batch.rows:
                    yield kind, [struct_row(row) for row in batch.rows]
                continue
            parts.append(lines)
            size += len(lines)
        if parts:
            yield kind, b"".join(parts)

    def _parse(self, data: bytes) -> Any:
        pa = self.pa
        # Blocks of 1 MiB, parsed on Arrow's threads: a run's blocks in parallel.
        block = 1 << 20
        while True:
            try:
                table = self._json.read_json(
                    io.BytesIO(data),
                    read_options=self._json.ReadOptions(use_threads=True, block_size=block),
                    parse_options=self._json.ParseOptions(
                        explicit_schema=pa.schema(list(self._strings.items())), newlines_in_values=False
                    ),
                    memory_pool=self._pool,
                )
            except pa.ArrowInvalid as error:
                # A row longer than a block: read the run as one block.
                if "straddl" not in str(error) or block > len(data):
                    raise
                block = len(data) + 1
                continue
            guessed = [f.name for f in table.schema if f.name not in self._strings and _temporal(pa, f.type)]
            if not guessed:
                break
            for name in guessed:
                self._strings[name] = pa.string()
        if self._strings:
            # The reader puts the columns it was told about first: restore the
            # stored key order (every row of a type has the same keys).
            first = list(json.loads(data[: data.find(b"\n")] if b"\n" in data else data))
            order = [k for k in first if k in table.column_names]
            table = table.select(order + [k for k in table.column_names if k not in order])
        return table

    def frame(self, tables: List[Any], pandas: Any) -> "pandas.DataFrame":
        """The tables as one DataFrame typed as `rows_to_frame` types it."""
        pa = self.pa
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return pandas.DataFrame()
        table = pa.concat_tables(tables, promote_options="permissive")
        columns = []
        for name, column in zip(table.column_names, table.columns):
            if pa.types.is_string(column.type) and _all_timestamps(pa, column):
                column = column.cast(pa.timestamp("ns", tz="UTC"))
            columns.append(column)
        table = pa.table(columns, names=table.column_names)
        return table.to_pandas(types_mapper=pandas_types(pa, pandas))


def string_dtype(pandas: Any) -> Any:
    """pandas' `string` dtype, on pyarrow storage when pyarrow is installed
    (as the Arrow path makes it, so both paths give equal frames)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return pandas.StringDtype("python")
    return pandas.StringDtype("pyarrow")


def pandas_types(pa: Any, pandas: Any) -> Callable[[Any], Any]:
    """`to_pandas`'s `types_mapper` for a frame typed as `rows_to_frame` types
    one: nullable booleans, and strings kept in Arrow's buffers (pandas'
    `string` dtype on pyarrow storage, the default from pandas 3 on) rather
    than one Python object per value, which cost most of the frame's time."""
    strings = string_dtype(pandas)
    return {pa.bool_(): pandas.BooleanDtype(), pa.string(): strings, pa.large_string(): strings}.get


def _all_timestamps(pa: Any, column: Any) -> bool:
    """Whether a string column's values (nulls passed over) are all UTC
    timestamps, and it has at least one. A look at its first values settles
    most columns cheaply; only likely ones are matched in full."""
    if column.null_count == len(column):
        return False
    compute = _compute()
    head = column.slice(0, 64)
    if head.null_count < len(head) and not compute.all(compute.match_substring_regex(head, _ARROW_UTC_TIMESTAMP)).as_py():
        return False
    return bool(compute.all(compute.match_substring_regex(column, _ARROW_UTC_TIMESTAMP)).as_py())


def _compute() -> Any:
    import pyarrow.compute

    return pyarrow.compute


def _temporal(pa: Any, kind: Any) -> bool:
    return bool(pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind))


def file_format(path: "os.PathLike[str] | str", format: Optional[str]) -> str:
    """`format` checked, or told from the path's suffix: "parquet" or "csv"."""
    if format is None:
        suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        format = {"pq": "parquet", "parq": "parquet"}.get(suffix, suffix)
        if format not in FORMATS:
            raise ValueError(f"cannot tell the file format from {os.fspath(path)!r}: pass format='parquet' or 'csv'")
    if format not in FORMATS:
        raise ValueError(f"format must be 'parquet' or 'csv', got {format!r}")
    return format


class FileSink:
    """Writes batches to one file per data type, or to one file when one type was asked for.

    `target(data_type)` names the file of a type. Each file is opened at its
    type's first batch and closed when the next type starts (the stream sends
    the types one after the other) or at `close()`.
    """

    def __init__(self, format: str, target: Any, pa: Any) -> None:
        self.format = format
        self._target = target
        self._pa = pa
        # The C library's allocator: Arrow's default pool (mimalloc) keeps what
        # each run freed, and the process grew by a few MiB per 100,000 rows.
        self._pool = pa.system_memory_pool() if pa is not None else None
        self._arrow = ArrowBatches(pa, self._pool) if pa is not None else None
        self._writer: Any = None
        self._file: Optional[IO[str]] = None
        self._columns: List[str] = []
        self._schema: Any = None
        self._type: Optional[str] = None
        self.paths: List[str] = []

    def write_all(self, batches: Iterable[Any]) -> Iterator[int]:
        """Writes the batches; yields the rows written at each step (for a progress bar)."""
        if self.format == "csv":
            for batch in batches:
                self._start(batch.data_type)
                yield self._write_csv(batch)
        else:
            assert self._arrow is not None
            for data_type, table in self._arrow.tables(batches):
                self._start(data_type)
                yield self._write_parquet(table)

    def _start(self, data_type: str) -> None:
        if data_type != self._type:
            self._finish()
            self._type = data_type

    def _write_csv(self, batch: Any) -> int:
        rows = batch_rows(batch)
        if not rows:
            return 0
        if self._file is None:
            path = os.fspath(self._target(self._type))
            self._file = open(path, "w", newline="", encoding="utf-8")
            self.paths.append(path)
            self._writer = csv.writer(self._file)
            self._columns = list(rows[0])
            self._writer.writerow(self._columns)
        self._writer.writerows([_csv_value(row.get(c)) for c in self._columns] for row in rows)
        return len(rows)

    def _write_parquet(self, table: Any) -> int:
        pa = self._pa
        if not table.num_rows:
            return 0
        if self._writer is None:
            import pyarrow.parquet

            self._schema = _file_schema(pa, table)
            path = os.fspath(self._target(self._type))
            self._writer = pyarrow.parquet.ParquetWriter(path, self._schema, memory_pool=self._pool)
            self.paths.append(path)
        self._writer.write_table(_conform(pa, table, self._schema, self._type, self._pool))
        return int(table.num_rows)

    def _finish(self) -> None:
        if self._file is not None:
            self._file.close()
        elif self._writer is not None:
            self._writer.close()
        self._writer = None
        self._file = None

    def close(self) -> None:
        """Finishes the file being written (its footer, for Parquet)."""
        self._finish()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _file_schema(pa: Any, table: Any) -> Any:
    """A Parquet file's schema from its type's first batch: booleans stay
    booleans, all-timestamp columns become UTC timestamps, the rest strings."""
    fields = []
    for field, column in zip(table.schema, table.columns):
        kind = field.type
        if pa.types.is_null(kind):
            kind = pa.string()
        elif pa.types.is_string(kind) and _all_timestamps(pa, column):
            kind = pa.timestamp("ns", tz="UTC")
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def _conform(pa: Any, table: Any, schema: Any, data_type: Optional[str], pool: Any) -> Any:
    """A batch in its file's schema (columns in order, types cast)."""
    if set(table.column_names) - set(schema.names):
        extra = sorted(set(table.column_names) - set(schema.names))
        raise ValueError(f"rows of {data_type} gained columns {extra} mid-export; export to a DataFrame instead")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type, memory_pool=pool))
            continue
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = _compute().cast(column, field.type, memory_pool=pool)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise ValueError(
                    f"column {field.name!r} of {data_type} does not fit the file's {field.type} column "
                    f"fixed by the first rows ({error}); export to a DataFrame or CSV instead"
                ) from None
        columns.append(column)
    return pa.table(columns, schema=schema)


def count_rows(donation: Any, data_type: Optional[str]) -> Optional[int]:
    """How many rows an unfiltered export of the donation sends, from its per-type counts."""
    from .proto.steward.donation.v1 import donation_pb2

    available = {
        name: status.rows
        for name, status in donation.data_types.items()
        if status.state == donation_pb2.DATA_TYPE_STATE_AVAILABLE
    }
    if data_type is not None:
        return available.get(data_type, 0)
    return sum(available.values())

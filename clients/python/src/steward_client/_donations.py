"""The researcher's donation calls with plain Python arguments (a mixin of `Client`).

`create_donation`, `list_donations`, `get_donation`, `donation_data`,
`export_donation_data` and `delete_donation` wrap DonationService's typed RPCs:
they take dates, source names and ids as Python values, walk every page of the
paged RPCs, and return `Donation` messages, or for the rows a pandas DataFrame
(pandas is the optional extra `steward-client[pandas]`, imported only by those
calls) or Parquet/CSV files (`_export.py` turns the streamed batches into
either). Every unary call goes through `Client._unary` and the export stream
through `Client._stream`, so the token, retries on UNAVAILABLE and
`StewardError` exceptions are those of every other call.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Union, overload

from tqdm import tqdm

from ._export import (
    ArrowBatches,
    FileSink,
    batch_rows,
    count_rows,
    file_format,
    optional_pyarrow,
    pandas_module,
    pyarrow_module,
    rows_to_frame,
)
from .errors import InvalidArgument
from .proto.steward.donation.v1 import donation_pb2
from .proto.steward.donation.v1 import donation_service_pb2 as service_pb2

if TYPE_CHECKING:
    import pandas

DateLike = Union[str, _dt.date, None]
DonationRef = Union[int, donation_pb2.Donation]

# Compat spellings of the sources (what portability-server's `source_type` took).
_SOURCES = {
    "google_portability": donation_pb2.DONATION_SOURCE_GOOGLE_PORTABILITY,
    "tiktok_portability": donation_pb2.DONATION_SOURCE_TIKTOK_PORTABILITY,
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class DonationMethods:
    """DonationService for researchers; mixed into `steward_client.Client`."""

    _donation: Any  # the DonationService stub, set by Client.__init__
    _unary: Callable[..., Any]
    _stream: Callable[..., Any]

    def create_donation(
        self,
        source: Union[str, int] = "google_portability",
        data_start_date: DateLike = None,
        data_end_date: DateLike = None,
        requested_data_types: Optional[Iterable[str]] = None,
        dataset: Optional[str] = None,
        description: Optional[str] = None,
        *,
        request_id: Optional[str] = None,
    ) -> service_pb2.CreateDonationResponse:
        """Creates a donation and returns it with its donation link.

        Args:
            source: "google_portability" or "tiktok_portability" (or the enum's
                name, e.g. "DONATION_SOURCE_GOOGLE_PORTABILITY", or number).
            data_start_date: first day of the study window, a `datetime.date`
                or "YYYY-MM-DD"; None for no lower bound.
            data_end_date: last day of the window (inclusive); None for no upper bound.
            requested_data_types: the source's data types to ask for, e.g.
                ["youtube_history", "search"]; None asks for all of them.
            dataset: the dataset (study) to file it under; needs `edit` on it.
            description: plain text (at most 2,000 characters) shown to the participant.
            request_id: makes the call safe to repeat: the same id within 24
                hours returns the same donation (with a new link, while the
                link was not opened). A fresh one is made per call when None,
                so the client's own retries never create a second donation.

        Returns:
            The `CreateDonationResponse`: `.donation` (a `Donation`),
            `.donation_url` (the link to send to the participant) and `.token`.
            The link is shown only this once: Steward stores only its hash.

        Raises:
            InvalidArgument: an unknown data type, a malformed date, an end
                before the start, a description that is too long.
            PermissionDenied: no `researcher` role, or no `edit` on `dataset`.
            FailedPrecondition: the source is switched off on this server.
        """
        if isinstance(requested_data_types, str):
            requested_data_types = [requested_data_types]
        request = service_pb2.CreateDonationRequest(
            source=_source(source),
            data_start_date=_date(data_start_date, "data_start_date"),
            data_end_date=_date(data_end_date, "data_end_date"),
            requested_data_types=list(requested_data_types or ()),
            dataset=_optional_str(dataset, "dataset"),
            description=_optional_str(description, "description"),
            request_id=_optional_str(request_id, "request_id") or str(uuid.uuid4()),
        )
        return self._unary(self._donation.CreateDonation, request)

    def list_donations(self, dataset: Optional[str] = None, *, page_size: int = 1000) -> List[donation_pb2.Donation]:
        """Every donation the caller may view (of `dataset` only, when given), by id.

        Walks all pages of ListDonations, `page_size` donations per call (at
        most 1,000). Returns a list of `Donation` messages.
        """
        _page_size(page_size, 1000)
        request = service_pb2.ListDonationsRequest(page_size=page_size, dataset=_optional_str(dataset, "dataset"))
        donations: List[donation_pb2.Donation] = []
        while True:
            page = self._unary(self._donation.ListDonations, request)
            donations.extend(page.donations)
            if not page.next_page_token:
                return donations
            request.page_token = page.next_page_token

    def get_donation(self, id: DonationRef) -> donation_pb2.Donation:
        """One donation: `.status`, `.stage`, `.data_types` (each type's state and rows), `.error`, …

        Raises:
            NotFound: no such donation, or the caller may not view it.
        """
        request = service_pb2.GetDonationRequest(donation_id=_donation_id(id))
        return self._unary(self._donation.GetDonation, request).donation

    def delete_donation(self, id: DonationRef) -> None:
        """Deletes a donation: its rows become unreadable at once and are purged.

        Raises:
            NotFound: no such donation, or the caller may not view it.
            PermissionDenied: the caller may view it but not delete it.
        """
        self._unary(self._donation.DeleteDonation, service_pb2.DeleteDonationRequest(donation_id=_donation_id(id)))

    def donation_data(
        self,
        id: DonationRef,
        data_type: str,
        start_date: DateLike = None,
        end_date: DateLike = None,
        *,
        page_size: Optional[int] = None,
    ) -> "pandas.DataFrame":
        """The rows of one data type of a donation as a pandas DataFrame.

        Every row (oldest first, rows without a timestamp last), read with one
        ExportDonationData stream; with `page_size`, page by page through
        QueryDonationData instead, `page_size` rows per call. `start_date` and
        `end_date` (a `datetime.date` or "YYYY-MM-DD", UTC) keep rows from the
        start of the first through the end of the last day.

        One column per row key, in the order Steward stores them (the keys
        every type has, `data_type`, `device_id`, `timestamp`, `platform`,
        first). Columns whose values are all timestamps become
        `datetime64[ns, UTC]`, all booleans pandas' nullable `boolean`, other
        strings pandas' `string` (on pyarrow storage when pyarrow is
        installed; missing values are `pd.NA`), and the rest keep their
        values. A type with no rows (not available yet, unknown, or empty)
        gives an empty DataFrame without columns; `list_donation_data_types`
        says which types are available. `export_donation_data` reads every type at once, shows
        progress and writes Parquet or CSV files.

        Needs pandas (`pip install "steward-client[pandas]"`); with pyarrow
        installed as well the frame is built several times faster.

        Raises:
            InvalidArgument: no `data_type`, or a malformed date.
            NotFound: no such donation, or the caller may not view it.
        """
        pandas = _pandas()
        if not isinstance(data_type, str):
            raise TypeError(f"data_type must be a string, got {type(data_type).__name__}")
        if page_size is None and data_type:
            try:
                return self._export_frame(
                    self._export_request(id, data_type, start_date, end_date), pandas, progress=False, timeout=None
                )
            except InvalidArgument as error:
                # QueryDonationData's answer for a type the source does not
                # have is no rows (portability-server's behaviour); keep it.
                # (Steward names the field first: `data_type: "x" is not a data type of …`.)
                named = error.message.startswith("data_type:")
                if named or any(name == "data_type" for name, _ in error.field_violations):
                    return pandas.DataFrame()
                raise
        # An empty data_type goes to QueryDonationData too, which refuses it.
        request = service_pb2.QueryDonationDataRequest(
            donation_id=_donation_id(id),
            data_type=data_type,
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            row_format=donation_pb2.ROW_FORMAT_JSON,
        )
        if page_size is not None:
            request.page_size = _page_size(page_size, None)
        rows: List[Dict[str, Any]] = []
        while True:
            page = self._unary(self._donation.QueryDonationData, request)
            # JSON texts decode far faster than Structs; a server that
            # predates row_format sends Structs instead.
            rows.extend(batch_rows(page))
            if not page.next_page_token:
                return rows_to_frame(rows, pandas)
            request.page_token = page.next_page_token

    @overload
    def export_donation_data(
        self,
        id: DonationRef,
        data_type: Optional[str] = None,
        start_date: DateLike = None,
        end_date: DateLike = None,
        *,
        path: None = None,
        format: Optional[str] = None,
        progress: bool = True,
        timeout: Optional[float] = None,
    ) -> "pandas.DataFrame": ...

    @overload
    def export_donation_data(
        self,
        id: DonationRef,
        data_type: Optional[str] = None,
        start_date: DateLike = None,
        end_date: DateLike = None,
        *,
        path: Union[str, "os.PathLike[str]"],
        format: Optional[str] = None,
        progress: bool = True,
        timeout: Optional[float] = None,
    ) -> int: ...

    def export_donation_data(
        self,
        id: DonationRef,
        data_type: Optional[str] = None,
        start_date: DateLike = None,
        end_date: DateLike = None,
        *,
        path: Union[str, "os.PathLike[str]", None] = None,
        format: Optional[str] = None,
        progress: bool = True,
        timeout: Optional[float] = None,
    ) -> Union["pandas.DataFrame", int]:
        """Every row of a donation (or of one data type), streamed with ExportDonationData.

        The server sends the rows in batches of up to 1,000 as JSON texts, type
        after type in catalogue order, oldest row first within a type (rows
        without a timestamp last): the order `donation_data` and the Query
        pages have. `start_date` and `end_date` (a `datetime.date` or
        "YYYY-MM-DD", UTC) keep rows from the start of the first through the
        end of the last day.

        Without `path` the result is a pandas DataFrame typed as in
        `donation_data`: one column per row key in the stored order (with
        every type, the union of their keys, first seen first), timestamps
        `datetime64[ns, UTC]`, booleans nullable `boolean`, ids and the rest
        strings (None for a missing value). The whole donation is then in
        memory (as Arrow tables while it arrives, when pyarrow is installed).

        With `path` the rows go to a file as they arrive, so memory does not
        grow with the donation, and the number of rows written is returned.
        `format` is "parquet" or "csv" (by default from the file's suffix:
        `.parquet`/`.pq`, `.csv`). With one `data_type`, `path` is that file;
        without, `path` is a directory (made if missing) that gets one file per
        type, `<data_type>.parquet` (the default format) or `<data_type>.csv`,
        since each type has its own columns. Parquet columns are typed as the
        DataFrame's, fixed by each type's first rows; CSV keeps the values as
        the JSON has them (text, `true`/`false`, an empty field for null). A
        type without rows writes no file.

        Args:
            progress: show a tqdm progress bar on stderr (rows received; the
                total comes from the donation's per-type row counts when no
                dates are given). As tqdm does, it stays off when stderr is
                not a terminal; False turns it off everywhere.
            timeout: seconds the whole export may take; None (the default)
                sets no deadline (a lost connection still ends it).

        Needs pandas for a DataFrame (`pip install "steward-client[pandas]"`)
        and pyarrow for Parquet (`pip install "steward-client[parquet]"`);
        the DataFrame is built much faster when pyarrow is installed too.

        Raises:
            InvalidArgument: a data type the donation's source does not have,
                a malformed date, an end before the start.
            NotFound: no such donation, or the caller may not view it (also
                when it is deleted while the export runs).
            ValueError: an unknown `format`, or (Parquet) a later batch whose
                values do not fit the column types of the type's first batch.
        """
        if data_type is not None and not isinstance(data_type, str):
            raise TypeError(f"data_type must be a string or None, got {type(data_type).__name__}")
        request = self._export_request(id, data_type, start_date, end_date)
        if path is None:
            if format is not None:
                raise ValueError("format needs a path: export_donation_data(..., path='rows.parquet')")
            return self._export_frame(request, _pandas("export_donation_data"), progress=progress, timeout=timeout)
        kind = file_format(path, format) if data_type else file_format(path, format or "parquet")
        pa = pyarrow_module("export_donation_data to Parquet") if kind == "parquet" else None
        if data_type:
            target = path
        else:
            os.makedirs(path, exist_ok=True)
            target = None
        sink = FileSink(kind, (lambda t: target) if target is not None else (lambda t: os.path.join(path, f"{t}.{kind}")), pa)
        written = 0
        with self._export_progress(request, progress) as bar:
            try:
                for n in sink.write_all(self._stream(self._donation.ExportDonationData, request, timeout)):
                    written += n
                    bar.update(n)
            finally:
                sink.close()
        return written

    def _export_request(
        self, id: DonationRef, data_type: Optional[str], start_date: DateLike, end_date: DateLike
    ) -> service_pb2.ExportDonationDataRequest:
        return service_pb2.ExportDonationDataRequest(
            donation_id=_donation_id(id),
            data_type=data_type or "",
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            row_format=donation_pb2.ROW_FORMAT_JSON,
            json_lines=True,
        )

    def _export_frame(
        self, request: service_pb2.ExportDonationDataRequest, pandas: Any, *, progress: bool, timeout: Optional[float]
    ) -> "pandas.DataFrame":
        pa = optional_pyarrow()
        tables: List[Any] = []
        rows: List[Dict[str, Any]] = []
        arrow = ArrowBatches(pa) if pa is not None else None
        with self._export_progress(request, progress) as bar:
            batches = self._stream(self._donation.ExportDonationData, request, timeout)
            if arrow is not None:
                for _, table in arrow.tables(batches):
                    tables.append(table)
                    bar.update(table.num_rows)
            else:
                for batch in batches:
                    got = batch_rows(batch)
                    rows.extend(got)
                    bar.update(len(got))
        if arrow is not None:
            return arrow.frame(tables, pandas)
        return rows_to_frame(rows, pandas)

    def _export_progress(self, request: service_pb2.ExportDonationDataRequest, progress: bool) -> Any:
        bar = tqdm(
            total=None,
            unit=" rows",
            unit_scale=True,
            desc=f"donation {request.donation_id}" + (f" {request.data_type}" if request.data_type else ""),
            disable=None if progress else True,  # None: off when stderr is not a terminal
        )
        if not bar.disable and not request.start_date and not request.end_date:
            # Only worth a call when the bar is shown; dates make the counts an overestimate.
            got = self._unary(self._donation.GetDonation, service_pb2.GetDonationRequest(donation_id=request.donation_id))
            donation = got.donation
            bar.total = count_rows(donation, request.data_type or None)
            bar.refresh()
        return bar

    def list_donation_data_types(self, id: DonationRef) -> List[str]:
        """The donation's data types whose rows can be read now, in catalogue order."""
        request = service_pb2.ListDonationDataTypesRequest(donation_id=_donation_id(id))
        return list(self._unary(self._donation.ListDonationDataTypes, request).data_types)


def _pandas(what: str = "donation_data") -> Any:
    return pandas_module(what)


def _source(source: Union[str, int]) -> int:
    if isinstance(source, bool):
        raise TypeError("source must be a name such as 'google_portability', not a bool")
    if isinstance(source, int):
        if source not in _SOURCES.values():
            raise ValueError(f"unknown source number {source}")
        return source
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, got {type(source).__name__}")
    if source in _SOURCES:
        return _SOURCES[source]
    try:
        number = donation_pb2.DonationSource.Value(source)
    except ValueError:
        number = 0
    if number == 0:
        raise ValueError(f"unknown source {source!r}: use one of {', '.join(_SOURCES)}")
    return number


def _date(value: DateLike, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.datetime):
        raise TypeError(f"{name} must be a date (datetime.date or 'YYYY-MM-DD'), not a datetime")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a datetime.date or a 'YYYY-MM-DD' string, got {type(value).__name__}")
    if not _DATE.match(value):
        raise ValueError(f"{name} must be 'YYYY-MM-DD', got {value!r}")
    return value


def _optional_str(value: Optional[str], name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _donation_id(value: DonationRef) -> int:
    if isinstance(value, donation_pb2.Donation):
        return value.id
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a donation id is an int (or a Donation), got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"a donation id is positive, got {value}")
    return value


def _page_size(value: int, most: Optional[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or (most is not None and value > most):
        limit = f"1 to {most}" if most is not None else "a positive int"
        raise ValueError(f"page_size must be {limit}, got {value!r}")
    return value

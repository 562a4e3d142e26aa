"""The researcher's donation calls with plain Python arguments (a mixin of `Client`).

`create_donation`, `list_donations`, `get_donation`, `donation_data` and
`delete_donation` wrap DonationService's typed RPCs: they take dates, source
names and ids as Python values, walk every page of the paged RPCs, and return
`Donation` messages, or for `donation_data` a pandas DataFrame (pandas is the
optional extra `steward-client[pandas]`, imported only by that call). Every
call goes through `Client._unary`, so the token, deadline, retries on
UNAVAILABLE and `StewardError` exceptions are those of every other call.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

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
# Row keys every data type has (spec donation.md §4.3.3), in the order Steward documents them.
_COMMON_KEYS = ("data_type", "device_id", "timestamp", "platform")
# How Steward writes a row's timestamps: RFC 3339 in UTC, e.g. 2024-01-15T10:00:00.000Z.
_UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class DonationMethods:
    """DonationService for researchers; mixed into `steward_client.Client`."""

    _donation: Any  # the DonationService stub, set by Client.__init__
    _unary: Callable[..., Any]

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

        Walks every page of QueryDonationData (oldest row first, rows without
        a timestamp last), `page_size` rows per call (default: the server's, 1,000).
        `start_date` and `end_date` (a `datetime.date` or "YYYY-MM-DD", UTC)
        keep rows from the start of the first through the end of the last day.

        One column per row key: the keys every type has (`data_type`,
        `device_id`, `timestamp`, `platform`) first, then the type's own in
        name order. Columns whose values are all timestamps become
        `datetime64[ns, UTC]`, all booleans pandas' nullable `boolean`, and
        the rest keep strings (None where a row has no value). A type with no
        rows (not available yet, unknown, or empty) gives an empty DataFrame
        without columns; `list_donation_data_types` says which types are
        available.

        Needs pandas (`pip install "steward-client[pandas]"`).

        Raises:
            InvalidArgument: no `data_type`, or a malformed date.
            NotFound: no such donation, or the caller may not view it.
        """
        pandas = _pandas()
        if not isinstance(data_type, str):
            raise TypeError(f"data_type must be a string, got {type(data_type).__name__}")
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
            rows.extend(json.loads(text) for text in page.json_rows)
            rows.extend(_row(row) for row in page.rows)
            if not page.next_page_token:
                return rows_to_frame(rows, pandas)
            request.page_token = page.next_page_token

    def list_donation_data_types(self, id: DonationRef) -> List[str]:
        """The donation's data types whose rows can be read now, in catalogue order."""
        request = service_pb2.ListDonationDataTypesRequest(donation_id=_donation_id(id))
        return list(self._unary(self._donation.ListDonationDataTypes, request).data_types)


def rows_to_frame(rows: Sequence[Dict[str, Any]], pandas: Any = None) -> "pandas.DataFrame":
    """Rows (dicts of str, bool, float or None) as a DataFrame typed as `donation_data` documents."""
    pandas = pandas or _pandas()
    keys: Dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    columns = [k for k in _COMMON_KEYS if k in keys] + sorted(k for k in keys if k not in _COMMON_KEYS)
    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            data[column] = pandas.array(values, dtype="boolean")
        elif present and all(isinstance(v, str) and _UTC_TIMESTAMP.match(v) for v in present):
            data[column] = pandas.to_datetime(pandas.Series(values, dtype=object), utc=True, format="ISO8601")
        else:
            data[column] = pandas.Series(values, dtype=object)
    return pandas.DataFrame(data, columns=columns)


def _row(struct: Any) -> Dict[str, Any]:
    """A `google.protobuf.Struct` row as a dict of plain values."""
    row: Dict[str, Any] = {}
    for key, value in struct.fields.items():
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


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(
            'donation_data returns a pandas DataFrame: install pandas (pip install "steward-client[pandas]")'
        ) from None
    return pandas


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

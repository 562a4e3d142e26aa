"""`export_donation_data` against the live Steward: a participant donates through
the sandbox Google provider, Steward's workers process the donation, and the
researcher pulls it with ExportDonationData into a DataFrame, Parquet and CSV
files. What Export gives must be what QueryDonationData's pages give, row for
row (spec donation.md §2.7, §2.9)."""

from __future__ import annotations

import csv
import io
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pandas as pd
import pyarrow.parquet as pq
import pytest

import participant
import steward_client
from steward_client import _donations, _export
from steward_client.proto.steward.donation.v1 import donation_pb2

# More than one 1,000-row batch for search; two types of different columns.
RECORDS = {"search": 2300, "youtube_history": 1200}


@pytest.fixture(scope="module")
def researcher(steward_url: str) -> Iterator[steward_client.Client]:
    """A researcher of this module's own (made with the real CLI, as conftest's new_user)."""
    import os
    import subprocess

    email = f"py-export-{uuid.uuid4().hex[:10]}@example.org"
    made = subprocess.run(
        [os.environ["STEWARD_BIN"], "token", "create", "--email", email, "--role", "researcher"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    with steward_client.Client(steward_url, made.stdout.strip().splitlines()[-1]) as client:
        yield client


@pytest.fixture(scope="module")
def donation(researcher: steward_client.Client) -> donation_pb2.Donation:
    """A processed donation of two types, 3,500 rows, over three years."""
    created = researcher.create_donation(requested_data_types=["youtube_history", "search"])
    records = ",".join(f"{t}:{n}" for t, n in RECORDS.items())
    participant.donate(created.donation_url, {"persona": "tiny", "records": records})
    return participant.processed(researcher, created.donation.id)


def query_rows(client: steward_client.Client, donation_id: int, data_type: str, **dates: str) -> List[Dict[str, Any]]:
    """Every row of one type through QueryDonationData's pages, as the JSON objects Steward sends."""
    import json

    rows: List[Dict[str, Any]] = []
    token = ""
    while True:
        page = client.donation.query_donation_data(
            donation_id=donation_id,
            data_type=data_type,
            page_size=700,
            page_token=token,
            row_format="ROW_FORMAT_JSON",
            **dates,
        )
        rows.extend(json.loads(text) for text in page.json_rows)
        token = page.next_page_token
        if not token:
            return rows


def query_frame(client: steward_client.Client, donation_id: int, data_type: str, **dates: str) -> pd.DataFrame:
    return _donations.rows_to_frame(query_rows(client, donation_id, data_type, **dates))


def of_type(frame: pd.DataFrame, data_type: str) -> pd.DataFrame:
    """The rows of one type from an every-type frame, without the other types' columns."""
    part = frame[frame["data_type"] == data_type].reset_index(drop=True)
    return part.dropna(axis="columns", how="all")


def test_every_type_equals_the_query_pages_row_for_row(
    researcher: steward_client.Client, donation: donation_pb2.Donation
) -> None:
    counts = {name: status.rows for name, status in donation.data_types.items()}
    assert counts == RECORDS, "the sandbox made as many records as asked, all inside the (open) window"

    frame = researcher.export_donation_data(donation.id, progress=False)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == sum(counts.values())
    # Types one after the other in catalogue order, each oldest first.
    order = researcher.list_donation_data_types(donation.id)
    assert order == ["youtube_history", "search"]
    assert frame["data_type"].drop_duplicates().tolist() == order
    for data_type in order:
        expected = query_frame(researcher, donation.id, data_type)
        part = of_type(frame, data_type)
        # A column the type has but that is empty in every row is dropped by of_type alike.
        pd.testing.assert_frame_equal(part, expected.dropna(axis="columns", how="all"))
        assert part["timestamp"].is_monotonic_increasing
    # Columns in the stored key order: the common keys, then youtube_history's, then search's new ones.
    assert list(frame.columns[:5]) == ["data_type", "device_id", "timestamp", "platform", "time"]
    youtube_keys = list(query_rows(researcher, donation.id, "youtube_history")[0])
    assert list(frame.columns[: len(youtube_keys)]) == youtube_keys
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["is_ad"].dtype) == "boolean"
    # Strings stay in Arrow's buffers, not one Python object each.
    assert frame["title"].dtype == pd.StringDtype("pyarrow")
    # Ids stay strings.
    assert (frame["device_id"] == str(donation.id)).all()
    assert frame["video_id"].dropna().map(lambda v: isinstance(v, str) and len(v) == 11).all()


def test_without_pyarrow(
    researcher: steward_client.Client, donation: donation_pb2.Donation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frame = researcher.export_donation_data(donation.id, progress=False)
    # Only pandas installed (the `pandas` extra): the same frame, built from json.loads per batch
    # (its strings on pandas' own storage instead of pyarrow's).
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    pure = researcher.export_donation_data(donation.id, progress=False)
    assert {str(pure[c].dtype) for c in ("device_id", "title")} == {"string"}
    assert pure["title"].dtype.storage == "python" and frame["title"].dtype.storage == "pyarrow"
    pd.testing.assert_frame_equal(pure, frame, check_dtype=False)
    # CSV needs no pyarrow; Parquet names the extra to install, before anything is sent.
    assert researcher.export_donation_data(donation.id, "search", path=tmp_path / "s.csv") == RECORDS["search"]
    with pytest.raises(ImportError, match=r"steward-client\[parquet\]"):
        researcher.export_donation_data(donation.id, path=tmp_path / "all")
    assert not (tmp_path / "all").exists()


def test_one_type_and_donation_data(researcher: steward_client.Client, donation: donation_pb2.Donation) -> None:
    search = researcher.export_donation_data(donation, "search", progress=False)
    expected = query_frame(researcher, donation.id, "search")
    pd.testing.assert_frame_equal(search, expected)
    assert len(search) == RECORDS["search"]
    assert list(search.columns) == list(query_rows(researcher, donation.id, "search")[0])
    # donation_data reads the same stream; page by page (Query) it is the same frame.
    pd.testing.assert_frame_equal(researcher.donation_data(donation.id, "search"), search)
    pd.testing.assert_frame_equal(researcher.donation_data(donation.id, "search", page_size=999), search)


def test_date_filters(researcher: steward_client.Client, donation: donation_pb2.Donation) -> None:
    whole = researcher.export_donation_data(donation.id, "search", progress=False)
    days = sorted(set(whole["timestamp"].dt.date))
    start, end = days[len(days) // 3], days[2 * len(days) // 3]
    window = researcher.export_donation_data(donation.id, "search", start, end.isoformat(), progress=False)
    dates = whole["timestamp"].dt.date
    pd.testing.assert_frame_equal(window, whole[(dates >= start) & (dates <= end)].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        window, query_frame(researcher, donation.id, "search", start_date=start.isoformat(), end_date=end.isoformat())
    )
    assert 0 < len(window) < len(whole)
    # Every type within the dates: the same rows as each type's filtered pages.
    both = researcher.export_donation_data(donation.id, start_date=start, end_date=end, progress=False)
    assert len(both) == len(window) + len(
        query_rows(researcher, donation.id, "youtube_history", start_date=start.isoformat(), end_date=end.isoformat())
    )
    # A window without rows: an empty frame.
    assert researcher.export_donation_data(donation.id, start_date="1999-01-01", end_date="1999-12-31").empty


def test_parquet_and_csv_files(
    researcher: steward_client.Client, donation: donation_pb2.Donation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = researcher.export_donation_data(donation.id, "search", progress=False)

    parquet = tmp_path / "search.parquet"
    # Batches are parsed in runs of up to MERGE_BYTES of JSON; one batch a run here.
    monkeypatch.setattr(_export, "MERGE_BYTES", 1)
    assert researcher.export_donation_data(donation.id, "search", path=parquet, progress=False) == len(frame)
    table = pq.read_table(parquet)
    assert table.num_rows == len(frame) and table.column_names == list(frame.columns)
    # A row group per batch: written as the batches arrive, not as one table at the end.
    assert pq.ParquetFile(parquet).num_row_groups == 3
    monkeypatch.undo()
    back = table.to_pandas(types_mapper=_export.pandas_types(__import__("pyarrow"), pd))
    # A column without any value has no type in the frame; the file's schema says string.
    empty = {c: back[c].dtype for c in frame.columns if frame[c].isna().all()}
    pd.testing.assert_frame_equal(back, frame.astype(empty))

    written = tmp_path / "rows.csv"
    assert researcher.export_donation_data(donation.id, "search", path=str(written), progress=False) == len(frame)
    with open(written, newline="", encoding="utf-8") as f:
        lines = list(csv.reader(f))
    rows = query_rows(researcher, donation.id, "search")
    assert lines[0] == list(rows[0])
    text = lambda v: "" if v is None else ("true" if v is True else "false" if v is False else v)  # noqa: E731
    assert lines[1:] == [[text(v) for v in row.values()] for row in rows]
    # Back into pandas: the same values as the DataFrame (timestamps as their text).
    read = pd.read_csv(written, dtype=str, keep_default_na=False)
    assert read["timestamp"].tolist() == [r["timestamp"] for r in rows]

    # Every type: a directory with one file per type; format by argument.
    out = tmp_path / "all"
    total = researcher.export_donation_data(donation.id, path=out, format="csv", progress=False)
    assert total == sum(RECORDS.values())
    assert sorted(p.name for p in out.iterdir()) == ["search.csv", "youtube_history.csv"]
    with open(out / "youtube_history.csv", newline="", encoding="utf-8") as f:
        assert sum(1 for _ in csv.reader(f)) == RECORDS["youtube_history"] + 1
    assert researcher.export_donation_data(donation.id, path=tmp_path / "pq", progress=False) == total
    everything = researcher.export_donation_data(donation.id, progress=False)
    for data_type in RECORDS:
        part = pq.read_table(tmp_path / "pq" / f"{data_type}.parquet").to_pandas(
            types_mapper=_export.pandas_types(__import__("pyarrow"), pd)
        )
        pd.testing.assert_frame_equal(part.dropna(axis="columns", how="all"), of_type(everything, data_type))

    with pytest.raises(ValueError, match="format"):
        researcher.export_donation_data(donation.id, "search", path=tmp_path / "rows.xlsx")
    with pytest.raises(ValueError, match="format"):
        researcher.export_donation_data(donation.id, "search", format="csv")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar(
    researcher: steward_client.Client, donation: donation_pb2.Donation, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    researcher.export_donation_data(donation.id, "search")
    shown = terminal.getvalue()
    # The total is the type's row count from GetDonation; the bar ends full.
    assert f"donation {donation.id} search" in shown and "rows" in shown, shown
    assert "2.30k/2.30k" in shown, shown

    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    researcher.export_donation_data(donation.id, "search", progress=False)
    assert quiet.getvalue() == ""
    # Not a terminal (a log file, a notebook's captured stderr): off, as tqdm does.
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    researcher.export_donation_data(donation.id, progress=True)
    assert piped.getvalue() == ""


def test_refusals_are_client_errors(
    researcher: steward_client.Client, donation: donation_pb2.Donation, steward_url: str, token: str, tmp_path: Path
) -> None:
    # Another researcher: the donation does not exist for them.
    with steward_client.Client(steward_url, token) as other:
        with pytest.raises(steward_client.NotFound):
            other.export_donation_data(donation.id, progress=False)
        with pytest.raises(steward_client.NotFound):
            other.export_donation_data(donation.id, "search", path=tmp_path / "x.csv", progress=False)
    with pytest.raises(steward_client.NotFound):
        researcher.export_donation_data(2**62)
    with pytest.raises(steward_client.InvalidArgument, match="likes"):
        researcher.export_donation_data(donation.id, "likes")  # a TikTok type
    with pytest.raises(steward_client.InvalidArgument, match="start_date must not be after end_date"):
        researcher.export_donation_data(donation.id, start_date="2024-06-01", end_date="2024-01-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        researcher.export_donation_data(donation.id, start_date="1/2/2024")
    # donation_data keeps Query's answer for a type the source does not have: no rows.
    assert researcher.donation_data(donation.id, "likes").empty


def test_a_deleted_donation_is_not_found(researcher: steward_client.Client) -> None:
    created = researcher.create_donation(requested_data_types=["search"])
    participant.donate(created.donation_url)
    donation = participant.processed(researcher, created.donation.id)
    assert len(researcher.export_donation_data(donation.id, progress=False)) == donation.data_types["search"].rows
    researcher.delete_donation(donation.id)
    with pytest.raises(steward_client.NotFound):
        researcher.export_donation_data(donation.id, progress=False)

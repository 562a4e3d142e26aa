"""The researcher's donation calls (`create_donation`, `list_donations`,
`get_donation`, `donation_data`, `delete_donation`) against the live Steward,
as a study script uses them: create one donation per participant, send the
link, check status, read rows into pandas, delete (spec donation.md §2, §8)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any, Iterator, Tuple

import pandas as pd
import pytest
from google.protobuf import json_format, struct_pb2

import participant
import steward_client
from steward_client._export import rows_to_frame, struct_row
from steward_client.proto.steward.donation.v1 import donation_pb2, donation_service_pb2


@pytest.fixture
def researcher(steward_url: str, new_user: Tuple[str, str]) -> Iterator[steward_client.Client]:
    """A researcher of the test's own: list_donations sees only what this test made."""
    with steward_client.Client(steward_url, new_user[1]) as client:
        yield client


@pytest.fixture
def admin(steward_url: str, admin_token: str) -> Iterator[steward_client.Client]:
    with steward_client.Client(steward_url, admin_token) as client:
        yield client


def seen(client: steward_client.Client, dataset: str, permission: str) -> None:
    """Waits until `client` sees a grant just made: permission caches are evicted
    asynchronously, within one second everywhere (spec §8 scenario 20)."""
    deadline = time.monotonic() + 1.0
    while not client.check_access(dataset, permission)["allowed"]:
        assert time.monotonic() < deadline, f"{permission} on {dataset} not seen within a second"
        time.sleep(0.02)


def test_create_get_list_delete(researcher: steward_client.Client, steward_url: str) -> None:
    created = researcher.create_donation(
        "google_portability",
        data_start_date=dt.date(2024, 1, 1),
        data_end_date="2024-06-30",
        requested_data_types=["search", "youtube_history", "search"],
        description="Thank you for taking part.",
    )
    assert isinstance(created, donation_service_pb2.CreateDonationResponse)
    donation = created.donation
    assert donation.id > 0
    assert donation.source == donation_pb2.DONATION_SOURCE_GOOGLE_PORTABILITY
    assert donation.status == donation_pb2.DONATION_STATUS_PENDING
    assert donation.stage == donation_pb2.DONATION_STAGE_CREATED
    assert (donation.data_start_date, donation.data_end_date) == ("2024-01-01", "2024-06-30")
    assert sorted(donation.requested_data_types) == ["search", "youtube_history"], "duplicates are dropped"
    assert donation.description == "Thank you for taking part."
    assert created.token and created.donation_url == f"{steward_url}/donate/{created.token}/"

    got = researcher.get_donation(donation.id)
    assert isinstance(got, donation_pb2.Donation)
    assert got.id == donation.id
    assert got.requested_data_types == donation.requested_data_types
    assert set(got.data_types) == {"search", "youtube_history"}
    assert got.data_types["search"].state == donation_pb2.DATA_TYPE_STATE_REQUESTED
    assert researcher.get_donation(got) == got, "a Donation stands for its id"

    # Without dates and types: the whole history, every type of the source.
    everything = researcher.create_donation().donation
    assert (everything.data_start_date, everything.data_end_date) == ("", "")
    assert {"search", "youtube_history", "discover"} <= set(everything.requested_data_types)

    assert [d.id for d in researcher.list_donations()] == [donation.id, everything.id]

    researcher.delete_donation(donation.id)
    with pytest.raises(steward_client.NotFound):
        researcher.get_donation(donation.id)
    assert [d.id for d in researcher.list_donations()] == [everything.id]
    with pytest.raises(steward_client.NotFound):
        researcher.delete_donation(donation.id)


def test_list_donations_walks_every_page(researcher: steward_client.Client) -> None:
    made = [researcher.create_donation(requested_data_types=["search"]).donation.id for _ in range(5)]
    assert [d.id for d in researcher.list_donations(page_size=2)] == made
    assert [d.id for d in researcher.list_donations(page_size=1)] == made
    assert [d.id for d in researcher.list_donations(page_size=1000)] == made


def test_list_donations_of_one_dataset(
    researcher: steward_client.Client, admin: steward_client.Client, new_user: Tuple[str, str]
) -> None:
    dataset = f"py-{uuid.uuid4().hex[:12]}"
    admin.dataset.create_dataset(name=dataset, description="donations", access_mode="ACCESS_MODE_CLOSED")
    admin.dataset.create_grant(dataset=dataset, user_email=new_user[0], level="ACCESS_LEVEL_EDIT")
    seen(researcher, dataset, "edit")
    filed = researcher.create_donation(dataset=dataset, requested_data_types=["search"]).donation
    assert filed.dataset == dataset
    loose = researcher.create_donation(requested_data_types=["search"]).donation

    assert [d.id for d in researcher.list_donations(dataset=dataset)] == [filed.id]
    assert [d.id for d in researcher.list_donations()] == [filed.id, loose.id]
    # The admin sees the dataset's donation too, not the researcher's loose one.
    assert [d.id for d in admin.list_donations(dataset=dataset)] == [filed.id]


def test_a_repeated_request_id_returns_the_same_donation_with_a_new_link(researcher: steward_client.Client) -> None:
    request_id = str(uuid.uuid4())
    first = researcher.create_donation(requested_data_types=["search"], request_id=request_id)
    again = researcher.create_donation(requested_data_types=["search"], request_id=request_id)
    assert again.donation.id == first.donation.id
    assert again.donation_url != first.donation_url
    assert len(researcher.list_donations()) == 1
    # Without a request_id every call is a new donation.
    assert researcher.create_donation(requested_data_types=["search"]).donation.id != first.donation.id


def test_donation_data_of_a_donation_without_rows_is_an_empty_frame(researcher: steward_client.Client) -> None:
    donation = researcher.create_donation(requested_data_types=["search"]).donation
    assert researcher.list_donation_data_types(donation.id) == []
    frame = researcher.donation_data(donation.id, "search", start_date="2024-01-01", end_date=dt.date(2024, 12, 31))
    assert isinstance(frame, pd.DataFrame)
    assert frame.empty and list(frame.columns) == []
    assert researcher.donation_data(donation, "youtube_history", page_size=10).empty


def test_server_refusals_raise_the_matching_errors(
    researcher: steward_client.Client,
    admin: steward_client.Client,
    new_user: Tuple[str, str],
    steward_url: str,
    token: str,
) -> None:
    with pytest.raises(steward_client.InvalidArgument, match="no_such_type"):
        researcher.create_donation(requested_data_types=["no_such_type"])
    with pytest.raises(steward_client.InvalidArgument):
        researcher.create_donation(data_start_date="2024-06-01", data_end_date="2024-01-01")
    with pytest.raises(steward_client.InvalidArgument):
        researcher.create_donation(description="x" * 2001)
    with pytest.raises(steward_client.InvalidArgument, match="Unknown dataset"):
        researcher.create_donation(dataset=f"py-missing-{uuid.uuid4().hex[:8]}")
    # A dataset the researcher may only view: filing a donation under it needs edit.
    viewed = f"py-{uuid.uuid4().hex[:12]}"
    admin.dataset.create_dataset(name=viewed, access_mode="ACCESS_MODE_CLOSED")
    admin.dataset.create_grant(dataset=viewed, user_email=new_user[0], level="ACCESS_LEVEL_VIEW")
    seen(researcher, viewed, "view")
    with pytest.raises(steward_client.PermissionDenied):
        researcher.create_donation(dataset=viewed)

    donation = researcher.create_donation(requested_data_types=["search"]).donation
    with pytest.raises(steward_client.InvalidArgument, match="data_type"):
        researcher.donation_data(donation.id, "")
    with pytest.raises(steward_client.InvalidArgument):
        researcher.donation_data(donation.id, "search", start_date="2024-06-01", end_date="2024-01-01")

    # Another researcher's donation does not exist for the shared test user.
    with steward_client.Client(steward_url, token) as other:
        for call in (other.get_donation, other.delete_donation, other.list_donation_data_types):
            with pytest.raises(steward_client.NotFound):
                call(donation.id)
        with pytest.raises(steward_client.NotFound):
            other.donation_data(donation.id, "search")
        assert donation.id not in [d.id for d in other.list_donations()]
    with pytest.raises(steward_client.NotFound):
        researcher.get_donation(2**62)
    with steward_client.Client(steward_url) as anonymous:
        with pytest.raises(steward_client.Unauthenticated):
            anonymous.list_donations()
    researcher.get_donation(donation.id)  # untouched by all of the above


def test_bad_arguments_fail_before_anything_is_sent(researcher: steward_client.Client) -> None:
    with pytest.raises(ValueError, match="unknown source 'facebook'"):
        researcher.create_donation("facebook")
    with pytest.raises(TypeError, match="not a datetime"):
        researcher.create_donation(data_start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        researcher.create_donation(data_end_date="1/2/2024")
    with pytest.raises(TypeError, match="donation id"):
        not_an_id: Any = "12"
        researcher.get_donation(not_an_id)
    with pytest.raises(ValueError, match="positive"):
        researcher.delete_donation(0)
    with pytest.raises(ValueError, match="page_size"):
        researcher.list_donations(page_size=1001)
    # The enum's own names work as well as the compat spelling.
    tiktok = researcher.create_donation("DONATION_SOURCE_TIKTOK_PORTABILITY", requested_data_types=["likes"])
    assert tiktok.donation.source == donation_pb2.DONATION_SOURCE_TIKTOK_PORTABILITY
    assert researcher.create_donation("tiktok_portability").donation.source == tiktok.donation.source


def _struct(row: dict) -> struct_pb2.Struct:
    return json_format.ParseDict(row, struct_pb2.Struct())


def test_rows_become_typed_columns() -> None:
    """The frame donation_data builds from QueryDonationData's rows (the spec's row shapes, §4.3.3)."""
    rows = [
        {"data_type": "youtube_history", "device_id": "42", "timestamp": "2024-01-15T10:00:00.000Z",
         "platform": "YouTube", "time": "2024-01-15T10:00:00.000Z", "title": "Watched Test Video Alpha",
         "is_ad": False, "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
        {"data_type": "youtube_history", "device_id": "42", "timestamp": "2024-01-16T23:59:59.999Z",
         "platform": "YouTube", "time": None, "title": None, "is_ad": True, "url": None},
        {"data_type": "youtube_history", "device_id": "42", "timestamp": None,
         "platform": "YouTube", "time": None, "title": "Watched https://www.youtube.com/watch?v=x", "is_ad": None,
         "url": None},
    ]
    response = donation_service_pb2.QueryDonationDataResponse(rows=[_struct(r) for r in rows], total_count=3)
    frame = rows_to_frame([struct_row(r) for r in response.rows])

    # A Struct keeps no key order: the common keys first, then the rest by name.
    assert list(frame.columns) == ["data_type", "device_id", "timestamp", "platform", "is_ad", "time", "title", "url"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["timestamp"][0] == pd.Timestamp("2024-01-15T10:00:00", tz="UTC")
    assert frame["timestamp"][1] == pd.Timestamp("2024-01-16T23:59:59.999", tz="UTC")
    assert pd.isna(frame["timestamp"][2])
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["is_ad"].dtype) == "boolean"
    assert frame["is_ad"].tolist() == [False, True, pd.NA]
    # Strings stay strings (device_id too: it is an id, not a number), pandas' `string`; a missing value is NA.
    assert str(frame["device_id"].dtype) == "string"
    assert frame["device_id"].tolist() == ["42", "42", "42"]
    assert frame["title"].tolist() == ["Watched Test Video Alpha", pd.NA, "Watched https://www.youtube.com/watch?v=x"]
    assert frame["url"][1] is pd.NA
    # A column that is not all timestamps keeps its strings.
    mixed = rows_to_frame([{"when": "2024-01-15T10:00:00.000Z"}, {"when": "yesterday"}])
    assert mixed["when"].tolist() == ["2024-01-15T10:00:00.000Z", "yesterday"]
    # JSON rows keep their stored key order.
    assert list(rows_to_frame([{"z": "1", "a": "2"}, {"z": "3", "b": True}]).columns) == ["z", "a", "b"]


def _rows_of(frame: pd.DataFrame, mask: "pd.Series[bool]") -> pd.DataFrame:
    """The frame donation_data gives for a filter keeping `mask`'s rows of
    `frame`: a column with no value left in them has no type to infer, so it
    holds None as `object`, whatever its type in the whole frame."""
    rows = frame[mask].reset_index(drop=True)
    for column in rows.columns[rows.isna().all()]:
        rows[column] = pd.Series([None] * len(rows), dtype=object)
    return rows


def test_donation_data_reads_every_row_of_a_processed_donation(researcher: steward_client.Client) -> None:
    """A participant donates through the sandbox Google provider (5 records per
    type); Steward's workers process it; the researcher reads the rows."""
    created = researcher.create_donation(requested_data_types=["youtube_history", "search"])
    participant.donate(created.donation_url, {"persona": "tiny"})
    donation = participant.processed(researcher, created.donation.id)
    counts = {name: status.rows for name, status in donation.data_types.items()}
    assert set(counts) == {"youtube_history", "search"} and all(n > 0 for n in counts.values())
    assert all(s.state == donation_pb2.DATA_TYPE_STATE_AVAILABLE for s in donation.data_types.values())
    assert researcher.list_donation_data_types(donation.id) == ["youtube_history", "search"]

    frame = researcher.donation_data(donation.id, "search")
    assert len(frame) == counts["search"] >= 3
    assert list(frame.columns[:4]) == ["data_type", "device_id", "timestamp", "platform"]
    assert (frame["data_type"] == "search").all()
    assert (frame["device_id"] == str(donation.id)).all()
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["timestamp"].notna().all() and frame["timestamp"].is_monotonic_increasing
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert (frame["time"] == frame["timestamp"]).all()
    assert frame["title"].map(lambda t: isinstance(t, str) and t != "").all()

    # Page by page (2 rows a call) the same frame comes back.
    pd.testing.assert_frame_equal(researcher.donation_data(donation.id, "search", page_size=2), frame)
    # The whole days from start_date through end_date: the rows of the later days.
    days = sorted(set(frame["timestamp"].dt.date))
    since = researcher.donation_data(donation.id, "search", start_date=days[-1])
    pd.testing.assert_frame_equal(since, _rows_of(frame, frame["timestamp"].dt.date >= days[-1]))
    until = researcher.donation_data(donation.id, "search", end_date=days[0].isoformat(), page_size=1)
    pd.testing.assert_frame_equal(until, _rows_of(frame, frame["timestamp"].dt.date <= days[0]))

    youtube = researcher.donation_data(donation, "youtube_history")
    assert len(youtube) == counts["youtube_history"] and (youtube["platform"] == "YouTube").all()

    researcher.delete_donation(donation.id)
    with pytest.raises(steward_client.NotFound):
        researcher.donation_data(donation.id, "search")

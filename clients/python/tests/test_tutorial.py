"""TUTORIAL.md, run as written: its ```python blocks in order, in one namespace,
against the live Steward (STEWARD_URL and a researcher's token) and three
secret-share parties of the binary under test. The environment is set the way
the tutorial tells a reader to set it; where the tutorial says the participant
opens the link (an HTML comment marks the spot), participant.py donates as a
browser would. Any drift between the tutorial and the client fails here."""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from local_party import LocalParty
from participant import donate

TUTORIAL = pathlib.Path(__file__).resolve().parent.parent / "TUTORIAL.md"
PARTICIPANT = "<!-- tutorial: the participant donates -->"
STEP = re.compile(r"^```python\n(.*?)^```$|^" + re.escape(PARTICIPANT) + "$", re.DOTALL | re.MULTILINE)


def steps() -> List[Tuple[str, str]]:
    """("python", code) per block and ("participant", "") at the marker, in document order."""
    found = [
        ("python", match.group(1)) if match.group(1) is not None else ("participant", "")
        for match in STEP.finditer(TUTORIAL.read_text())
    ]
    assert [kind for kind, _ in found].count("participant") == 1, "the participant's step is marked once"
    return found


@pytest.fixture(scope="module")
def parties() -> Iterator[List[LocalParty]]:
    binary = os.environ.get("STEWARD_BIN")
    if not binary:
        pytest.fail("STEWARD_BIN is not set: run these tests with `tests/e2e/run python`", pytrace=False)
    started = [LocalParty(binary, index, 3, name=f"tutorial party {index}") for index in range(3)]
    try:
        for party in started:
            party.wait_healthy()
        yield started
    finally:
        for party in started:
            party.stop()


def test_the_tutorial_runs_as_written(
    steward_url: str,
    token: str,
    parties: List[LocalParty],
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The researcher holds the developer and the scientist role on every party.
    researcher = []
    for party in parties:
        party.token("tutor@example.org", "developer")
        researcher.append(party.token("tutor@example.org", "scientist"))
    contributors = [
        " ".join(party.token(f"tutorial-c{number}@example.org", "contributor") for party in parties)
        for number in range(3)
    ]
    monkeypatch.setenv("STEWARD_URL", steward_url)
    monkeypatch.setenv("STEWARD_TOKEN", token)
    monkeypatch.setenv("STEWARD_PARTY_URLS", " ".join(party.url for party in parties))
    monkeypatch.setenv("STEWARD_PARTY_TOKENS", " ".join(researcher))
    monkeypatch.setenv("STEWARD_CONTRIBUTOR_TOKENS", "\n".join(contributors))
    monkeypatch.chdir(tmp_path)

    namespace: Dict[str, Any] = {"__name__": "tutorial"}
    ran = 0
    for kind, code in steps():
        if kind == "participant":
            donate(namespace["link"].donation_url)
            continue
        ran += 1
        exec(compile(code, f"TUTORIAL.md block {ran}", "exec"), namespace)

    assert ran >= 10
    assert (tmp_path / "received.parquet").read_bytes() == (tmp_path / "search.parquet").read_bytes()
    assert len(namespace["searches"]) > 0
    assert namespace["client"].closed

"""Export bench: ExportDonationData over loopback gRPC into the Python client.

    $STEWARD_VENV/bin/python clients/python/tools/bench_export.py [--rows 1000000] [--bin PATH]

Starts `steward serve` (by default the release build,
$CARGO_TARGET_DIR/release/steward) on an empty data dir (its embedded
PostgreSQL), makes a researcher token with the CLI, creates a Google donation
of the seven My Activity types and donates it as a participant does, through
the sandbox provider with a scenario of `--rows` records spread as the Rust
bench spreads them (benches/donation.rs: 40 % youtube_history, 30 % search,
6 % each of five more). Steward's own workers download, parse and seal it.
Then it times, on the installed client (or the source tree's, with
STEWARD_BENCH_SOURCE_TREE=1):

- the stream's messages alone, JSON Lines as the client asks for them, without
  parsing the rows (the ceiling here),
- `export_donation_data(id)` into one pandas DataFrame (target: at least
  100,000 rows/s),
- `export_donation_data(id, path=dir)`: one Parquet file per type, written
  batch by batch, with the process's peak RSS after exporting a donation of a
  tenth the size and after the large one (memory must not grow with it),
- the same into CSV files,

each the best of `--repeat` runs, and prints rows/s with the CPU time a row
costs the client (all its threads) and the server (steward and its
PostgreSQL): on a busy machine the two compete for the cores. Needs pandas and pyarrow
(`pip install "./clients/python[export]"`). Figures, not pass/fail: it fails
only when a count is wrong.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

HERE = Path(__file__).resolve().parent
WORK = ""  # the bench's temporary dir, set by main()
sys.path.insert(0, str(HERE.parent / "tests"))  # participant.py plays the participant
if os.environ.get("STEWARD_BENCH_SOURCE_TREE"):
    sys.path.insert(0, str(HERE.parent / "src"))

import participant  # noqa: E402
import steward_client  # noqa: E402
from steward_client.proto.steward.donation.v1 import donation_pb2  # noqa: E402

# The Rust bench's mix (benches/donation.rs MIX): type and percent of the entries.
MIX = [
    ("youtube_history", 40),
    ("search", 30),
    ("image_search", 6),
    ("video_search", 6),
    ("google_lens", 6),
    ("google_play_games", 6),
    ("google_play_store", 6),
]


def records(total: int) -> str:
    counts = {name: total * share // 100 for name, share in MIX}
    counts[MIX[0][0]] += total - sum(counts.values())
    return ",".join(f"{name}:{n}" for name, n in counts.items())


def free_port(start: int) -> int:
    port = start
    while port < 32000:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                port += 1
    raise SystemExit("no free port below 32000")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def server_cpu() -> float:
    """CPU seconds so far of the steward server and its PostgreSQL: the
    processes whose command line names the bench's work dir (the server's
    environment does, PostgreSQL's data dir does), and their children."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        mine = WORK.encode() in cmdline or f"STEWARD_DATA_DIR={WORK}/".encode() in environ
        procs[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, mine)
    ours = {pid for pid, (_, _, mine) in procs.items() if mine}
    grown = True
    while grown:
        children = {pid for pid, (parent, _, _) in procs.items() if parent in ours} - ours
        ours |= children
        grown = bool(children)
    return sum(procs[pid][1] for pid in ours)


def best(repeat: int, run: Callable[[], int]) -> Tuple[float, int, float, float]:
    """The shortest wall time of `repeat` runs, the rows the last one gave, and
    the client's CPU seconds (all its threads) and the server's in that
    fastest run."""
    times: List[Tuple[float, float, float]] = []
    rows = 0
    for _ in range(repeat):
        started, cpu, server = time.perf_counter(), time.process_time(), server_cpu()
        rows = run()
        times.append((time.perf_counter() - started, time.process_time() - cpu, server_cpu() - server))
    wall, cpu, server = min(times)
    return wall, rows, cpu, server


def cpu_note(rows: int, cpu: float, server: float) -> str:
    return f"CPU a row: client {cpu / rows * 1e6:.1f} µs, server {server / rows * 1e6:.1f} µs"


def main() -> None:
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/steward/target"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="sandbox records in the donation")
    parser.add_argument("--bin", default=f"{target}/release/steward", help="the steward binary to serve")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (the best is shown)")
    args = parser.parse_args()

    # Under /tmp and world-traversable: as root the embedded PostgreSQL runs as `postgres`.
    global WORK
    work = Path(tempfile.mkdtemp(prefix="steward-bench-export."))
    work.chmod(0o755)
    WORK = str(work)
    port = free_port(18500)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STEWARD_DATA_DIR": str(work / "var"),
        "STEWARD_LISTEN": f"127.0.0.1:{port}",
        "STEWARD_PUBLIC_URL": url,
    }
    log = open(work / "steward.log", "w")
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"steward serve did not start; see {work / 'steward.log'}")
                time.sleep(0.2)
        made = subprocess.run(
            [args.bin, "token", "create", "--email", "bench@example.org", "--role", "researcher"],
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )
        token = made.stdout.strip().splitlines()[-1]
        with steward_client.Client(url, token, timeout=120) as client:
            run(client, args, work)
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work)


def seed(client: steward_client.Client, rows: int) -> donation_pb2.Donation:
    """A processed donation of `rows` sandbox records, through the participant's flow."""
    created = client.create_donation(requested_data_types=[name for name, _ in MIX])
    started = time.perf_counter()
    participant.donate(created.donation_url, {"persona": "tiny", "records": records(rows), "seed": "2026"})
    donation = participant.processed(client, created.donation.id, within=3600)
    total = sum(status.rows for status in donation.data_types.values())
    print(f"seeded: {total:,} rows in {len(donation.data_types)} types, "
          f"processed by the server in {time.perf_counter() - started:.1f} s", flush=True)
    assert total == rows, f"{total} rows, not {rows}"
    return donation


def settle(limit: float = 300.0) -> None:
    """Waits until the server and its PostgreSQL are idle: after an ingest,
    autovacuum and the workers' last jobs would otherwise run during the
    first measures, competing for the cores and counted as the export's CPU."""
    started = time.perf_counter()
    last = server_cpu()
    while time.perf_counter() - started < limit:
        time.sleep(2)
        now = server_cpu()
        if now - last < 0.1:  # under 5 % of one core
            break
        last = now
    print(f"server idle after {time.perf_counter() - started:.0f} s", flush=True)


def run(client: steward_client.Client, args: argparse.Namespace, work: Path) -> None:
    small = seed(client, args.rows // 10)
    donation = seed(client, args.rows)
    settle()
    total = args.rows
    print(f"client: steward_client {steward_client.__version__} from {Path(steward_client.__file__).parent}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    # The ceiling on this machine: the stream's messages alone, nothing decoded.
    from steward_client.proto.steward.donation.v1 import donation_service_pb2

    request = donation_service_pb2.ExportDonationDataRequest(
        donation_id=donation.id, row_format=donation_pb2.ROW_FORMAT_JSON, json_lines=True
    )

    def stream_only() -> int:
        batches = client._stream(client._donation.ExportDonationData, request, None)
        return sum(b.json_lines.count(b"\n") or len(b.json_rows) for b in batches)

    seconds, rows, cpu, server = best(args.repeat, stream_only)
    assert rows == total, rows
    print(f"ExportDonationData messages alone (JSON rows not parsed): {rows / seconds:,.0f} rows/s "
          f"({seconds:.2f} s, {cpu_note(rows, cpu, server)})")

    # Parquet first, so the DataFrame's memory does not hide the files' peak
    # RSS: the small donation's export (which also loads pyarrow), then the
    # large one's; their difference is what the size of the donation costs.
    out = work / "out"
    client.export_donation_data(small.id, path=out, progress=False)
    shutil.rmtree(out)
    before = peak_rss_mib()
    seconds, rows, cpu, server = best(args.repeat, lambda: client.export_donation_data(donation.id, path=out, progress=False))
    assert rows == total, rows
    size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    print(f"export to Parquet files ({size:.0f} MiB): {rows / seconds:,.0f} rows/s ({seconds:.2f} s, "
          f"{cpu_note(rows, cpu, server)}); peak RSS after {args.rows // 10:,} rows "
          f"{before:.0f} MiB, after {total:,} rows {peak_rss_mib():.0f} MiB")
    shutil.rmtree(out)

    seconds, rows, cpu, server = best(
        args.repeat, lambda: client.export_donation_data(donation.id, path=out, format="csv", progress=False)
    )
    assert rows == total, rows
    print(f"export to CSV files: {rows / seconds:,.0f} rows/s ({seconds:.2f} s, {cpu_note(rows, cpu, server)})")
    shutil.rmtree(out)

    def frame() -> int:
        return len(client.export_donation_data(donation.id, progress=False))

    seconds, rows, cpu, server = best(args.repeat, frame)
    assert rows == total, rows
    print(f"export to a DataFrame: {rows / seconds:,.0f} rows/s ({seconds:.2f} s, {cpu_note(rows, cpu, server)}); "
          f"peak RSS {peak_rss_mib():.0f} MiB")

    largest = MIX[0][0]
    seconds, rows, cpu, server = best(args.repeat, lambda: len(client.donation_data(donation.id, largest, page_size=1000)))
    print(f"for comparison, donation_data({largest!r}, page_size=1000) through QueryDonationData pages: "
          f"{rows / seconds:,.0f} rows/s ({seconds:.2f} s, {cpu_note(rows, cpu, server)})")


if __name__ == "__main__":
    main()

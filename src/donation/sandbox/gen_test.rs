//! Test support shared by the archive generators' unit tests: reading a
//! generated zip back, a sink that only counts, and the fresh-process
//! memory measurement the streaming tests use.

use std::io::{self, Cursor, Read as _, Write};

/// Every entry of a zip, by name, in archive order.
pub(super) fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            f.read_to_end(&mut content).unwrap();
            (f.name().unwrap().to_string(), content)
        })
        .collect()
}

/// A sink that only counts bytes and writes.
#[derive(Debug, Default)]
pub(super) struct CountingSink {
    pub bytes: u64,
    pub writes: u64,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.writes += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `VmRSS` or `VmHWM` (peak) of this process in bytes, from `/proc/self/status`.
pub(super) fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs the test `self_test` (its full path) again in a fresh process of
/// this test binary with `var=value`, so its peak resident memory is its own
/// and not that of tests running alongside; fails unless it passed.
pub(super) fn in_fresh_process(self_test: &str, var: &str, value: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", self_test, "--test-threads=1", "--nocapture"])
        .env(var, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

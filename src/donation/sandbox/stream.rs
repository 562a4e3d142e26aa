//! Streaming a generated archive to a download client: the generator writes
//! on a blocking thread into a bounded channel, so the client's pace bounds
//! the memory. Shared by the sandbox Cloud Storage (Google parts) and the
//! sandbox TikTok download.

use std::io::{self, Write};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::mpsc;

/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 << 10;
/// Chunks buffered ahead of the client.
pub(super) const CHUNKS_AHEAD: usize = 8;
/// `truncated_download`: how long the first half stands before the break.
pub(super) const CUT_PAUSE: Duration = Duration::from_millis(200);

/// Forwards bytes `from..from + take` of what is written, in chunks; stops
/// the writer (an error) once `take` is served or the client went away.
pub(super) struct ChannelWriter {
    pub(super) tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    from: u64,
    take: Option<u64>,
    /// Everything asked for was sent.
    pub(super) done: bool,
}

impl ChannelWriter {
    /// A writer forwarding bytes `from..from + take` into `tx`.
    pub(super) fn new(tx: mpsc::Sender<io::Result<Bytes>>, from: u64, take: Option<u64>) -> Self {
        Self { tx, buf: Vec::with_capacity(CHUNK), from, take, done: false }
    }

    /// Sends what is buffered.
    pub(super) fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("the requested range was served"));
        }
        let written = data.len();
        let dropped = usize::try_from(self.from).unwrap_or(usize::MAX).min(data.len());
        self.from -= dropped as u64;
        let mut data = &data[dropped..];
        if let Some(left) = self.take {
            let kept = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
            data = &data[..kept];
            self.take = Some(left - kept as u64);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        if self.take == Some(0) {
            self.send()?;
            self.done = true;
            return Err(io::Error::other("the requested range was served"));
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_forwards_only_the_asked_range() {
        let (tx, mut rx) = mpsc::channel(64);
        let mut out = ChannelWriter::new(tx, 3, Some(4));
        assert_eq!(out.write(b"abcde").unwrap(), 5);
        assert!(out.write(b"fghij").is_err(), "stops once the range is served");
        assert!(out.done && out.write(b"k").is_err());
        drop(out);
        let mut sent = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            sent.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(sent, b"defg");
    }
}

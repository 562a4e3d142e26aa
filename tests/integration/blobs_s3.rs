//! Sealed blobs in an S3-compatible bucket: the `object_store` backend of
//! `BlobStore` against a real S3 server on loopback (moto's server mode, from
//! PyPI, installed into the test venv when missing), selected the way an
//! operator selects it (`STEWARD_OBJECT_STORE` and the `STEWARD_S3_*` settings).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt as _};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use steward::blobs::{BlobError, BlobStore, SEAL_OVERHEAD, SEGMENT_SIZE, StoreConfig};
use steward::config::Config;
use steward::donation::keys::DataKey;

use crate::common::moto::BUCKET;

const MIB: usize = SEGMENT_SIZE;
const HEADER_LEN: usize = 16;
const AAD: &[u8] = b"donation 7 part 3";
const KEY: &str = "donations/7/parts/0a1b2c";

pub(crate) use crate::common::moto::{moto, s3_vars};

/// The store as `serve` builds it from these settings.
fn s3_store(endpoint: &str) -> BlobStore {
    let vars = s3_vars(endpoint);
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    assert!(matches!(&config.blob_store, StoreConfig::S3(s) if s.bucket == BUCKET && s.prefix == "steward/blobs"));
    BlobStore::from_config(&config).unwrap()
}

fn key() -> DataKey {
    DataKey::from_bytes(&[7; 32])
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// The data as a stream of uneven chunks (segment and part edges fall mid-chunk).
fn chunks(data: &[u8]) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + use<> {
    let pieces: Vec<_> = data.chunks(700_001).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(pieces)
}

/// Reads a whole blob through the (blocking) reader, as donation parsing does.
async fn read_all(store: &BlobStore, key: &str, aad: &[u8]) -> Result<Vec<u8>, BlobError> {
    let (store, key, aad) = (store.clone(), key.to_owned(), aad.to_vec());
    tokio::task::spawn_blocking(move || {
        let mut reader = store.open_reader(&key, &self::key(), &aad)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blobs_round_trip_with_ranged_reads_listing_and_delete() {
    let moto = moto().await;
    let store = s3_store(&moto.endpoint);
    // Two and a bit parts of sealed segments, one small blob, one empty.
    let big = random_bytes(11 * MIB + 12_345, 1);
    let info = store.put_stream(KEY, &key(), AAD, chunks(&big)).await.unwrap();
    assert_eq!(info.bytes, big.len() as u64);
    assert_eq!(info.sha256.as_slice(), ring::digest::digest(&ring::digest::SHA256, &big).as_ref());
    store.put_stream("donations/7/parts/small", &key(), AAD, chunks(b"participant data")).await.unwrap();
    store.put_stream("donations/8/parts/empty", &key(), AAD, chunks(b"")).await.unwrap();

    // Stored sealed, under the configured prefix: the plaintext does not appear.
    let raw = moto.raw();
    let stored = raw.get(KEY).await.unwrap();
    assert_eq!(stored.len(), HEADER_LEN + 12 * SEAL_OVERHEAD + big.len());
    assert_eq!(&stored[..8], b"STWDBLOB");
    assert!(!stored.windows(32).any(|w| w == &big[..32]));
    let small = raw.get("donations/7/parts/small").await.unwrap();
    assert!(!small.windows(11).any(|w| w == b"participant"));

    assert_eq!(read_all(&store, KEY, AAD).await.unwrap(), big);
    assert_eq!(read_all(&store, "donations/7/parts/small", AAD).await.unwrap(), b"participant data");
    assert_eq!(read_all(&store, "donations/8/parts/empty", AAD).await.unwrap(), b"");

    // Byte ranges anywhere, across segment edges, by each kind of seek.
    let (reader_store, data) = (store.clone(), big.clone());
    tokio::task::spawn_blocking(move || {
        let mut reader = reader_store.open_reader(KEY, &key(), AAD).unwrap();
        assert_eq!(reader.len(), data.len() as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for round in 0..40 {
            let at = match round {
                0 => MIB - 3,
                1 => data.len() - 10,
                _ => (rng.next_u64() % data.len() as u64) as usize,
            };
            let want = (rng.next_u32() % (2 * MIB as u32)) as usize;
            let got_pos = match round % 3 {
                0 => reader.seek(SeekFrom::Start(at as u64)).unwrap(),
                1 => reader.seek(SeekFrom::End(at as i64 - data.len() as i64)).unwrap(),
                _ => {
                    let current = reader.stream_position().unwrap() as i64;
                    reader.seek(SeekFrom::Current(at as i64 - current)).unwrap()
                }
            };
            assert_eq!(got_pos, at as u64);
            let mut buf = Vec::new();
            reader.by_ref().take(want as u64).read_to_end(&mut buf).unwrap();
            let end = (at + want).min(data.len());
            assert!(buf == data[at..end], "{want} bytes at {at}");
        }
        reader.seek(SeekFrom::End(5)).unwrap();
        assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
    })
    .await
    .unwrap();

    // Listing by prefix and age, as the sweeper and the purge job list.
    let all = store.list_older_than("donations/", Duration::ZERO).await.unwrap();
    assert_eq!(all, [KEY, "donations/7/parts/small", "donations/8/parts/empty"]);
    assert_eq!(store.list_older_than("donations/7", Duration::ZERO).await.unwrap().len(), 2);
    assert_eq!(store.list_older_than(KEY, Duration::ZERO).await.unwrap(), [KEY]);
    assert!(store.list_older_than("donations/", Duration::from_secs(3600)).await.unwrap().is_empty());
    assert!(store.list_older_than("donations/9", Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(store.purge_temp_older_than(Duration::ZERO).await.unwrap(), 0);

    // A replacement is what reads back.
    let replacement = random_bytes(MIB + 1, 3);
    store.put_stream(KEY, &key(), AAD, chunks(&replacement)).await.unwrap();
    assert_eq!(read_all(&store, KEY, AAD).await.unwrap(), replacement);

    // Delete: true once, then false; the blob is gone for readers and listings.
    assert!(store.delete(KEY).await.unwrap());
    assert!(!store.delete(KEY).await.unwrap());
    assert!(matches!(read_all(&store, KEY, AAD).await, Err(BlobError::NotFound(k)) if k == KEY));
    let left = store.list_older_than("donations", Duration::ZERO).await.unwrap();
    assert_eq!(left, ["donations/7/parts/small", "donations/8/parts/empty"]);
    assert!(matches!(store.delete("a/../b").await, Err(BlobError::InvalidKey(_))));
    assert_eq!(moto.pending_uploads().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_failed_or_dropped_writes_leave_no_object_and_no_upload() {
    let moto = moto().await;
    let store = s3_store(&moto.endpoint);
    let first = random_bytes(2 * MIB + 7, 4);
    store.put_stream(KEY, &key(), AAD, chunks(&first)).await.unwrap();

    // Fails after two parts were uploaded: the upload is aborted, the
    // committed blob stays, and a new key gets no object at all.
    let failing =
        || {
            futures_util::stream::iter(
                (0..12).map(|i| {
                    if i < 11 { Ok(vec![i as u8; MIB]) } else { Err(std::io::Error::other("connection reset")) }
                }),
            )
        };
    let err = store.put_stream(KEY, &key(), AAD, failing()).await.unwrap_err();
    assert!(matches!(err, BlobError::Source(_)), "{err:?}");
    assert_eq!(read_all(&store, KEY, AAD).await.unwrap(), first);
    let err = store.put_stream("donations/7/parts/other", &key(), AAD, failing()).await.unwrap_err();
    assert!(matches!(err, BlobError::Source(_)), "{err:?}");
    assert!(matches!(read_all(&store, "donations/7/parts/other", AAD).await, Err(BlobError::NotFound(_))));
    assert_eq!(moto.raw().get("donations/7/parts/other").await, None);
    assert_eq!(store.list_older_than("donations", Duration::ZERO).await.unwrap(), [KEY]);
    assert_eq!(moto.pending_uploads().await, 0, "the failed uploads were aborted");

    // A write abandoned mid-stream (its future dropped, as when a job is
    // cancelled) leaves no object, and its upload is aborted in the background.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let pending = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let writer = store.clone();
    let write = tokio::spawn(async move { writer.put_stream("donations/7/parts/dropped", &key(), AAD, pending).await });
    // Eight segments in: the upload has started and a part is on its way.
    for i in 0..8u8 {
        tx.send(Ok(vec![i; MIB])).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while moto.pending_uploads().await == 0 {
        assert!(Instant::now() < deadline, "the write never started its upload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    write.abort();
    assert!(write.await.unwrap_err().is_cancelled());
    drop(tx);
    assert_eq!(moto.raw().get("donations/7/parts/dropped").await, None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while moto.pending_uploads().await > 0 {
        assert!(Instant::now() < deadline, "the dropped write's upload was not aborted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.list_older_than("donations", Duration::ZERO).await.unwrap(), [KEY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_tampering_truncation_and_replacement_mid_read_are_detected() {
    let moto = moto().await;
    let store = s3_store(&moto.endpoint);
    let data = random_bytes(3 * MIB + 100, 5);
    store.put_stream(KEY, &key(), AAD, chunks(&data)).await.unwrap();
    let raw = moto.raw();
    let original = raw.get(KEY).await.unwrap();
    let sealed = MIB + SEAL_OVERHEAD;
    let segment = |i: usize| HEADER_LEN + i * sealed..HEADER_LEN + (i + 1) * sealed;
    let corrupt = |r: Result<Vec<u8>, BlobError>| matches!(r, Err(BlobError::Corrupt { .. }));

    // One flipped bit: header, a middle segment, the final tag.
    for at in [9, segment(1).start + 500, original.len() - 1] {
        let mut flipped = original.clone();
        flipped[at] ^= 0x10;
        raw.put(KEY, flipped).await;
        assert!(corrupt(read_all(&store, KEY, AAD).await), "bit flip at {at}");
    }
    // The last segment dropped, a cut inside a segment, two segments swapped.
    raw.put(KEY, original[..HEADER_LEN + 3 * sealed].to_vec()).await;
    assert!(corrupt(read_all(&store, KEY, AAD).await));
    raw.put(KEY, original[..original.len() - 1].to_vec()).await;
    assert!(corrupt(read_all(&store, KEY, AAD).await));
    let mut swapped = original.clone();
    swapped[segment(0)].copy_from_slice(&original[segment(1)]);
    swapped[segment(1)].copy_from_slice(&original[segment(0)]);
    raw.put(KEY, swapped).await;
    assert!(corrupt(read_all(&store, KEY, AAD).await));
    // Copied under another donation's key, or read with another data key.
    raw.put("donations/8/parts/0a1b2c", original.clone()).await;
    assert!(corrupt(read_all(&store, "donations/8/parts/0a1b2c", b"donation 8 part 3").await));
    raw.put(KEY, original.clone()).await;
    assert_eq!(read_all(&store, KEY, AAD).await.unwrap(), data);
    let other_key = DataKey::from_bytes(&[8; 32]);
    let reader_store = store.clone();
    let wrong = tokio::task::spawn_blocking(move || reader_store.open_reader(KEY, &other_key, AAD).map(|_| ()));
    assert!(matches!(wrong.await.unwrap(), Err(BlobError::Corrupt { .. })));

    // Replaced while a reader is open: the reader fails rather than mixing
    // segments of two versions (both would open: same key and context).
    let reader_store = store.clone();
    let mut reader =
        tokio::task::spawn_blocking(move || reader_store.open_reader(KEY, &key(), AAD).unwrap()).await.unwrap();
    let newer = random_bytes(3 * MIB + 100, 6);
    store.put_stream(KEY, &key(), AAD, chunks(&newer)).await.unwrap();
    let err = tokio::task::spawn_blocking(move || {
        let mut first = [0u8; 16];
        reader.read_exact(&mut first).map(|()| first)
    })
    .await
    .unwrap()
    .unwrap_err();
    let err = BlobError::from(err);
    assert!(matches!(&err, BlobError::Io(e) if e.to_string().contains("replaced while being read")), "{err:?}");
    assert_eq!(read_all(&store, KEY, AAD).await.unwrap(), newer);
}

/// The measured half of [`s3_streaming_memory_stays_flat`], run alone in a
/// child process (against the parent's moto) so its peak memory is its own.
async fn memory_child(endpoint: &str) {
    let store = s3_store(endpoint);
    let before = peak_rss_kib();
    // 96 MiB generated lazily in 256 KiB chunks; each chunk counts while alive.
    let live = Arc::new(AtomicUsize::new(0));
    let max_live = Arc::new(AtomicUsize::new(0));
    let (l, m) = (live.clone(), max_live.clone());
    let stream = futures_util::stream::iter(0..384u32).map(move |i| {
        let now = l.fetch_add(256 << 10, Ordering::SeqCst) + (256 << 10);
        m.fetch_max(now, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Tracked(vec![i as u8; 256 << 10], l.clone()))
    });
    let info = store.put_stream(KEY, &key(), AAD, stream).await.unwrap();
    assert_eq!(info.bytes, 96 * MIB as u64);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    // Input chunks are not held; the process holds a few parts, not the blob.
    assert!(max_live.load(Ordering::SeqCst) <= 256 << 10);
    assert!(grown_mib < 32, "peak resident memory grew by {grown_mib} MiB writing 96 MiB");
    let store_for_read = store.clone();
    let n = tokio::task::spawn_blocking(move || {
        let mut reader = store_for_read.open_reader(KEY, &key(), AAD).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(n, 96 * MIB as u64);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 32, "peak resident memory grew by {grown_mib} MiB after reading 96 MiB back");
    println!("blob-s3-memory-child-ok (peak grew {grown_mib} MiB)");
}

struct Tracked(Vec<u8>, Arc<AtomicUsize>);

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_sub(self.0.len(), Ordering::SeqCst);
    }
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs itself again in a fresh process of this test binary (marked by an
/// environment variable naming moto's endpoint), where the measurement runs alone.
#[test]
#[cfg(target_os = "linux")]
fn s3_streaming_memory_stays_flat() {
    if let Some(endpoint) = std::env::var_os("STEWARD_BLOB_S3_MEMORY_CHILD") {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(memory_child(endpoint.to_str().unwrap()));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let moto = runtime.block_on(moto());
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["blobs_s3::s3_streaming_memory_stays_flat", "--exact", "--nocapture", "--test-threads=1"])
        .env("STEWARD_BLOB_S3_MEMORY_CHILD", &moto.endpoint)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("blob-s3-memory-child-ok"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{}", stdout.lines().find(|l| l.contains("blob-s3-memory-child-ok")).unwrap_or_default());
    let uploads = runtime.block_on(moto.pending_uploads());
    assert_eq!(uploads, 0);
    drop(moto);
    drop(runtime);
}

use std::io::{Read, Seek, SeekFrom, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};

use super::*;
use crate::donation::keys::DataKey;

const MIB: usize = SEGMENT_SIZE;
const AAD: &[u8] = b"donation 7 part 3";
const KEY: &str = "donations/7/parts/0a1b2c";

fn key() -> DataKey {
    DataKey::from_bytes(&[7; 32])
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// The data as a stream of uneven chunks (so segment edges fall mid-chunk).
fn chunks(data: &[u8]) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + use<> {
    let pieces: Vec<_> = data.chunks(100_003).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(pieces)
}

async fn put(store: &BlobStore, data: &[u8]) -> BlobInfo {
    store.put_stream(KEY, &key(), AAD, chunks(data)).await.unwrap()
}

fn read_all(store: &BlobStore) -> Result<Vec<u8>, BlobError> {
    let mut reader = store.open_reader(KEY, &key(), AAD)?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

fn corrupt(result: Result<Vec<u8>, BlobError>) -> bool {
    matches!(result, Err(BlobError::Corrupt { .. }))
}

fn blob_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join(KEY)
}

#[tokio::test]
async fn round_trips_sizes_around_segment_edges() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    for len in [0, 1, MIB, MIB + 1] {
        let data = random_bytes(len, len as u64);
        let info = put(&store, &data).await;
        assert_eq!(info.bytes, len as u64);
        assert_eq!(info.sha256.as_slice(), ring::digest::digest(&ring::digest::SHA256, &data).as_ref());
        assert_eq!(read_all(&store).unwrap(), data, "length {len}");
        assert_eq!(store.open_reader(KEY, &key(), AAD).unwrap().len(), len as u64);
        // Sealed on disk: the plaintext does not appear.
        let stored = std::fs::read(blob_path(&dir)).unwrap();
        if len >= 16 {
            assert!(!stored.windows(16).any(|w| w == &data[..16]));
        }
    }
    // SHA-256 of the empty input, as any tool prints it.
    let info = put(&store, b"").await;
    let hex: String = info.sha256.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // Nothing is left behind in the temporary directory.
    assert_eq!(std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
}

#[tokio::test]
async fn random_seeks_read_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let data = random_bytes(5 * MIB + 12_345, 1);
    put(&store, &data).await;
    let mut reader = store.open_reader(KEY, &key(), AAD).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..200 {
        let at = (rng.next_u64() % data.len() as u64) as usize;
        let want = (rng.next_u32() % (3 * MIB as u32)) as usize;
        let got_pos = match rng.next_u32() % 3 {
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
    // Past the end reads nothing; before the start is refused.
    reader.seek(SeekFrom::End(10)).unwrap();
    assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
    assert!(reader.seek(SeekFrom::End(-(data.len() as i64) - 1)).is_err());
}

#[tokio::test]
async fn truncation_reordering_and_bit_flips_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let data = random_bytes(3 * MIB + 100, 3);
    put(&store, &data).await;
    let path = blob_path(&dir);
    let original = std::fs::read(&path).unwrap();
    let sealed = MIB + SEAL_OVERHEAD;
    let segment = |i: usize| HEADER_LEN + i * sealed..HEADER_LEN + (i + 1) * sealed;

    // The last segment dropped: the new last one was not sealed as final.
    std::fs::write(&path, &original[..HEADER_LEN + 3 * sealed]).unwrap();
    assert!(matches!(store.open_reader(KEY, &key(), AAD), Err(BlobError::Corrupt { .. })));
    // Cut inside a segment.
    std::fs::write(&path, &original[..original.len() - 1]).unwrap();
    assert!(corrupt(read_all(&store)));
    // Header only, and shorter than a header.
    std::fs::write(&path, &original[..HEADER_LEN]).unwrap();
    assert!(corrupt(read_all(&store)));
    std::fs::write(&path, &original[..5]).unwrap();
    assert!(corrupt(read_all(&store)));

    // Two full segments swapped: the reader opens the end fine but not the start.
    let mut swapped = original.clone();
    swapped[segment(0)].copy_from_slice(&original[segment(1)]);
    swapped[segment(1)].copy_from_slice(&original[segment(0)]);
    std::fs::write(&path, &swapped).unwrap();
    assert!(corrupt(read_all(&store)));

    // One flipped bit anywhere: header, a middle segment, the final tag.
    for at in [9, 13, segment(1).start + 500, original.len() - 1] {
        let mut flipped = original.clone();
        flipped[at] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        assert!(corrupt(read_all(&store)), "bit flip at {at}");
    }

    std::fs::write(&path, &original).unwrap();
    assert_eq!(read_all(&store).unwrap(), data);
}

#[tokio::test]
async fn wrong_key_or_context_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    put(&store, b"participant data").await;
    let other_key = DataKey::from_bytes(&[8; 32]);
    assert!(matches!(store.open_reader(KEY, &other_key, AAD), Err(BlobError::Corrupt { .. })));
    assert!(matches!(store.open_reader(KEY, &key(), b"donation 8 part 3"), Err(BlobError::Corrupt { .. })));
    // A blob copied under another key still opens only with its own context.
    std::fs::create_dir_all(dir.path().join("donations/8/parts")).unwrap();
    std::fs::copy(blob_path(&dir), dir.path().join("donations/8/parts/0a1b2c")).unwrap();
    assert!(store.open_reader("donations/8/parts/0a1b2c", &key(), b"donation 8 part 3").is_err());
    assert!(matches!(store.open_reader("donations/9/x", &key(), AAD), Err(BlobError::NotFound(_))));
}

#[tokio::test]
async fn a_failed_stream_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let first = random_bytes(2 * MIB + 7, 4);
    put(&store, &first).await;
    // A failing replacement keeps the committed blob; a failing new blob leaves none.
    let failing = || {
        futures_util::stream::iter(vec![
            Ok(vec![1u8; MIB]),
            Ok(vec![2u8; MIB]),
            Err(std::io::Error::other("connection reset")),
        ])
    };
    let err = store.put_stream(KEY, &key(), AAD, failing()).await.unwrap_err();
    assert!(matches!(err, BlobError::Source(_)));
    assert_eq!(read_all(&store).unwrap(), first);
    let err = store.put_stream("donations/7/parts/other", &key(), AAD, failing()).await.unwrap_err();
    assert!(matches!(err, BlobError::Source(_)));
    assert!(!dir.path().join("donations/7/parts/other").exists());
    assert_eq!(std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);

    // A write abandoned mid-stream (its future dropped) leaves nothing either.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let pending = tokio_stream_of(rx);
    let data_key = key();
    let write = store.put_stream("donations/7/parts/dropped", &data_key, AAD, pending);
    tx.send(Ok(vec![3u8; 3 * MIB])).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(200), write).await.is_err());
    assert!(!dir.path().join("donations/7/parts/dropped").exists());
    assert_eq!(std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(), 0);
}

/// A stream over a channel receiver (no extra crate needed).
fn tokio_stream_of<T>(rx: tokio::sync::mpsc::Receiver<T>) -> impl Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

#[tokio::test]
async fn a_zip_reads_back_through_the_sealed_reader() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let big = random_bytes(3 * MIB, 5);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("Takeout/My Activity/Search/MyActivity.json", deflated).unwrap();
    zip.write_all(br#"[{"header":"Search","title":"Searched for rust"}]"#).unwrap();
    zip.start_file("Takeout/big.bin", stored).unwrap();
    zip.write_all(&big).unwrap();
    zip.start_file("Takeout/after.txt", deflated).unwrap();
    zip.write_all(b"after the big member").unwrap();
    let archive = zip.finish().unwrap().into_inner();
    put(&store, &archive).await;

    let reader = store.open_reader(KEY, &key(), AAD).unwrap();
    let mut zip = tokio::task::spawn_blocking(move || zip::ZipArchive::new(reader).unwrap()).await.unwrap();
    assert_eq!(zip.len(), 3);
    let mut text = String::new();
    zip.by_name("Takeout/after.txt").unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "after the big member");
    let mut json = String::new();
    zip.by_name("Takeout/My Activity/Search/MyActivity.json").unwrap().read_to_string(&mut json).unwrap();
    assert!(json.contains("Searched for rust"));
    let mut out = Vec::new();
    zip.by_name("Takeout/big.bin").unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(out, big);
}

#[tokio::test]
async fn keys_are_validated_and_listed_by_prefix_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    for bad in ["", "/abs", "a/../b", "..", "a//b", "a/./b", ".tmp/x", "a\\b", "a/b/", "sp ace"] {
        assert!(matches!(store.delete(bad).await, Err(BlobError::InvalidKey(_))), "{bad:?}");
        let err = store.put_stream(bad, &key(), AAD, chunks(b"x")).await.unwrap_err();
        assert!(matches!(err, BlobError::InvalidKey(_)), "{bad:?}");
    }
    assert!(!dir.path().join("abs").exists());

    for k in ["donations/1/parts/a", "donations/1/parts/b", "donations/2/parts/c", "uploads/9/f"] {
        store.put_stream(k, &key(), AAD, chunks(b"x")).await.unwrap();
    }
    let all = store.list_older_than("donations/", Duration::ZERO).await.unwrap();
    assert_eq!(all, ["donations/1/parts/a", "donations/1/parts/b", "donations/2/parts/c"]);
    assert_eq!(store.list_older_than("donations/1", Duration::ZERO).await.unwrap().len(), 2);
    assert_eq!(store.list_older_than("donations/1/parts/a", Duration::ZERO).await.unwrap(), ["donations/1/parts/a"]);
    assert!(store.list_older_than("donations/", Duration::from_secs(3600)).await.unwrap().is_empty());
    assert!(store.list_older_than("nothing/here", Duration::ZERO).await.unwrap().is_empty());

    assert!(store.delete("donations/2/parts/c").await.unwrap());
    assert!(!store.delete("donations/2/parts/c").await.unwrap());
    // Emptied directories go with the last blob; the root stays.
    assert!(!dir.path().join("donations/2").exists());
    assert!(dir.path().join("donations/1/parts").exists());
    // A new blob under a pruned directory is fine.
    store.put_stream("donations/2/parts/d", &key(), AAD, chunks(b"y")).await.unwrap();
    assert_eq!(store.purge_temp_older_than(Duration::ZERO).await.unwrap(), 0);
}

/// The measured half of [`writing_memory_stays_bounded`], run alone in a
/// child process so its peak resident memory is its own.
async fn memory_child() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let before = peak_rss_kib();
    // 64 MiB generated lazily in 256 KiB chunks; each chunk counts while alive.
    let live = Arc::new(AtomicUsize::new(0));
    let max_live = Arc::new(AtomicUsize::new(0));
    let (l, m) = (live.clone(), max_live.clone());
    let stream = futures_util::stream::iter(0..256u32).map(move |i| {
        let now = l.fetch_add(256 << 10, Ordering::SeqCst) + (256 << 10);
        m.fetch_max(now, Ordering::SeqCst);
        Ok::<_, std::io::Error>(Tracked(vec![i as u8; 256 << 10], l.clone()))
    });
    let info = store.put_stream(KEY, &key(), AAD, stream).await.unwrap();
    assert_eq!(info.bytes, 64 * MIB as u64);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    // Input chunks are not held, and the process grew by a few segments at most.
    assert!(max_live.load(Ordering::SeqCst) <= 256 << 10);
    assert!(grown_mib < 24, "peak resident memory grew by {grown_mib} MiB");
    // Reading it back through the reader stays bounded too.
    let mut reader = store.open_reader(KEY, &key(), AAD).unwrap();
    let n = std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
    assert_eq!(n, 64 * MIB as u64);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 24, "peak resident memory grew by {grown_mib} MiB");
    println!("blob-memory-child-ok (peak grew {grown_mib} MiB)");
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
/// environment variable), where the measurement runs alone.
#[test]
#[cfg(target_os = "linux")]
fn writing_memory_stays_bounded() {
    if std::env::var_os("STEWARD_BLOB_MEMORY_CHILD").is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(memory_child());
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["blobs::tests::writing_memory_stays_bounded", "--exact", "--nocapture", "--test-threads=1"])
        .env("STEWARD_BLOB_MEMORY_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("blob-memory-child-ok"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn store_config(
    env: crate::config::Environment,
    vars: &[(&str, &str)],
) -> Result<StoreConfig, crate::config::ConfigError> {
    StoreConfig::from_lookup(&|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()), env)
}

#[test]
fn object_store_settings_are_checked_with_messages_naming_the_variable() {
    use crate::config::Environment::{Development, Production};
    assert_eq!(store_config(Development, &[]).unwrap(), StoreConfig::Local);
    let settings = |vars: &[(&str, &str)]| match store_config(Development, vars).unwrap() {
        StoreConfig::S3(s) => s,
        StoreConfig::Local => panic!("expected S3"),
    };
    let s = settings(&[("STEWARD_OBJECT_STORE", "s3://steward-blobs")]);
    assert_eq!(
        (s.bucket.as_str(), s.prefix.as_str(), s.endpoint, s.region, s.allow_http),
        ("steward-blobs", "", None, None, false)
    );
    let s = settings(&[
        ("STEWARD_OBJECT_STORE", "s3://steward-blobs/prod/blobs/"),
        ("STEWARD_S3_ENDPOINT", "http://127.0.0.1:9000/"),
        ("STEWARD_S3_ALLOW_HTTP", "true"),
        ("STEWARD_S3_REGION", "eu-central-1"),
        ("STEWARD_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("STEWARD_S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
    ]);
    assert_eq!(s.prefix, "prod/blobs");
    assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(s.region.as_deref(), Some("eu-central-1"));
    // The secret key never shows in the settings' Debug (which a startup log may print).
    let shown = format!("{s:?}");
    assert!(shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI"), "{shown}");
    // Building the client contacts nothing.
    assert!(BlobStore::s3(&s).is_ok());

    let err = |env, vars: &[(&str, &str)]| store_config(env, vars).unwrap_err();
    let e = err(Development, &[("STEWARD_OBJECT_STORE", "https://steward-blobs.example.org")]);
    assert_eq!(e.var, "STEWARD_OBJECT_STORE");
    assert!(e.message.contains("s3://bucket/prefix"), "{}", e.message);
    let e = err(Development, &[("STEWARD_OBJECT_STORE", "s3://Steward_Blobs/x")]);
    assert!(e.message.contains("is not a bucket name"), "{}", e.message);
    let e = err(Development, &[("STEWARD_OBJECT_STORE", "s3://steward-blobs/a/../b")]);
    assert!(e.message.contains("prefix 'a/../b'"), "{}", e.message);
    let e = err(Development, &[("STEWARD_S3_REGION", "eu-central-1")]);
    assert_eq!(e.var, "STEWARD_S3_REGION");
    assert!(e.message.contains("STEWARD_OBJECT_STORE=s3://"), "{}", e.message);
    let s3 = ("STEWARD_OBJECT_STORE", "s3://steward-blobs");
    let e = err(Development, &[s3, ("STEWARD_S3_ENDPOINT", "http://minio.internal:9000")]);
    assert_eq!(e.var, "STEWARD_S3_ENDPOINT");
    assert!(e.message.contains("STEWARD_S3_ALLOW_HTTP=true"), "{}", e.message);
    let e = err(Development, &[s3, ("STEWARD_S3_ENDPOINT", "minio.internal:9000")]);
    assert!(e.message.contains("is not a URL"), "{}", e.message);
    let e = err(Development, &[s3, ("STEWARD_S3_ALLOW_HTTP", "yes")]);
    assert_eq!(e.var, "STEWARD_S3_ALLOW_HTTP");
    let e = err(Development, &[s3, ("STEWARD_S3_ACCESS_KEY_ID", "AKIDEXAMPLE")]);
    assert_eq!(e.var, "STEWARD_S3_SECRET_ACCESS_KEY");
    // Production: plain http to loopback only.
    let http = |endpoint| [s3, ("STEWARD_S3_ENDPOINT", endpoint), ("STEWARD_S3_ALLOW_HTTP", "true")];
    let e = err(Production, &http("http://minio.internal:9000"));
    assert!(e.message.contains("only to loopback"), "{}", e.message);
    for loopback in ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000/"] {
        assert!(store_config(Production, &http(loopback)).is_ok(), "{loopback}");
    }
    assert!(store_config(Development, &http("http://minio.internal:9000")).is_ok());
}

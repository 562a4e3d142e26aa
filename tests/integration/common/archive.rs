//! Reading what a sandbox provider served: a download's body through
//! Steward's provider client, and the entries of a zip. Shared by the Google
//! and TikTok sandbox tests.

use std::io::{Cursor, Read as _};

use futures_util::StreamExt as _;
use steward::donation::provider::{Download, ProviderError};

/// The whole body, or what arrived before it broke and the error.
pub async fn read_all(mut download: Download) -> (Vec<u8>, Option<ProviderError>) {
    let mut bytes = Vec::new();
    while let Some(chunk) = download.body.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(e) => return (bytes, Some(e)),
        }
    }
    (bytes, None)
}

/// The entry names of a zip, in archive order.
pub fn zip_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    archive.file_names().map(|name| name.expect("a UTF-8 entry name").into_owned()).collect()
}

/// Every entry of a zip (name and content), in archive order.
pub fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            f.read_to_end(&mut content).unwrap();
            (f.name().unwrap().to_string(), content)
        })
        .collect()
}

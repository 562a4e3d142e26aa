//! Compiles every proto under `proto/` into Rust (prost + tonic) and writes one
//! descriptor set (`steward_descriptor.bin` in `OUT_DIR`) used by reflection,
//! `/api/docs/` and `steward descriptor` (Envoy's transcoder).
//!
//! protoc comes from the `protoc-bin-vendored` crate so a fresh machine needs no
//! system protobuf compiler.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut protos = steward_protos(Path::new("proto/steward"))?;
    // The standard error details (ErrorInfo, BadRequest, RetryInfo) ride in
    // the descriptor set so Envoy's transcoder can print them in JSON error
    // bodies; their Rust types come from tonic-types.
    protos.push(PathBuf::from("proto/google/rpc/error_details.proto"));
    let wkt = protoc_bin_vendored::include_path()?;
    let includes = [PathBuf::from("proto"), wkt.clone()];
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Upload chunks decode as `Bytes` sharing the received buffer, not as a
    // 4 MiB copy into a Vec.
    config.bytes([".steward.upload.v1.WriteChunkRequest.data", ".steward.upload.v1.UploadFileRequest.data"]);
    tonic_prost_build::configure()
        .codec_path("crate::codec::StewardCodec")
        .file_descriptor_set_path(out_dir.join("steward_descriptor.bin"))
        // Vendored googleapis messages (HttpBody) live in `crate::proto::google`,
        // generated once below, whatever module depth a Steward package has.
        .extern_path(".google.api", "crate::proto::google::api")
        .extern_path(".google.rpc", "::tonic_types::pb")
        .compile_with_config(config, &protos, &includes)?;
    // google.api's messages themselves (HttpBody for the compat routes);
    // annotations/http carry only options, which prost needs no code for.
    let mut google = prost_build::Config::new();
    google.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    google.compile_protos(&[PathBuf::from("proto/google/api/httpbody.proto")], &includes)?;
    // tusd's hook service (spec upload.md §4.5), vendored unchanged as
    // proto/tusd/hook.proto (package `proto`): kept out of the descriptor set
    // above (Envoy, `steward descriptor`, the R client) in one of its own,
    // which only reflection serves. buf and the Python and web generators
    // leave proto/tusd out too.
    let mut tusd = prost_build::Config::new();
    tusd.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().file_descriptor_set_path(out_dir.join("tusd_descriptor.bin")).compile_with_config(
        tusd,
        &[PathBuf::from("proto/tusd/hook.proto")],
        &[PathBuf::from("proto"), wkt],
    )?;
    Ok(())
}

/// Every `.proto` below `dir`, sorted so the descriptor set is reproducible.
fn steward_protos(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

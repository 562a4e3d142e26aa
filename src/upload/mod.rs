//! UploadService (spec upload.md, issue 7): drop-offs through which people
//! send files to a project, replacing the VRE data drop-off. An owner creates
//! a drop-off and gets a link plus an upload code; uploaders send files with
//! the chunk RPCs (grpc-web) or tus 1.0 on `/files/`; files are hashed,
//! sealed at rest and listed for owners, and recipients are e-mailed.
//!
//! - [`config`]: the settings; [`error`]: reasons and codes.
//! - [`code`]: upload codes: generation, normalisation, peppered hash (§2.3).
//! - [`names`]: file-name, folder-path and content-type hygiene and allowed types (§2.11).
//! - [`metadata`]: the tus `Upload-Metadata` header and the keys Steward interprets (§3.6).
//! - [`ops`]: the rules of every operation and the one write path (writer
//!   lease, staging, commits); [`store`]: the tables.
//! - [`space`]: the staging disk's free space, checked before bytes are taken (§2.7).
//! - [`staging`]: sealed chunks of unfinished uploads; [`seal`]: a finished
//!   upload re-sealed into the blob store; [`jobs`]: finalize and cleanup.
//! - [`notify`] and [`mail`]: the e-mail outbox.
//! - [`grpc`]: the handlers; [`http`]: the owner's download route; [`tus`]:
//!   tus 1.0 on `/files/`; [`hooks`]: tusd's hooks (§4).

pub mod code;
pub mod config;
pub mod error;
pub mod grpc;
pub mod hooks;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metadata;
pub mod names;
pub mod notify;
pub mod ops;
pub mod seal;
pub mod space;
pub mod staging;
pub mod store;
pub mod tus;

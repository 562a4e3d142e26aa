//! The sandbox providers (spec §6): fake Google and TikTok portability
//! providers that speak the real wire formats, so the whole donation flow
//! runs offline, in tests and in the embedded default.
//!
//! This module owns the parts without HTTP:
//! - [`scenario`]: what a test or demo asks the fake account to hold and
//!   which failures to stage ([`Scenario`], parsed from and rendered to the
//!   query syntax of the consent form and `STEWARD_SANDBOX_DEFAULT_SCENARIO`).
//! - [`generate`]: Google archives, generated deterministically and streamed
//!   while written ([`write_google_part`], [`google_part_count`],
//!   [`google_manifest`]), and TikTok archives the same way
//!   ([`write_tiktok_archive`], [`tiktok_manifest`]).
//!
//! Helpers private to the generator: `gen_rng` (seeded ChaCha20 streams),
//! `gen_time` (time zones and the bursty daily time line), `gen_vocab`
//! (synthetic word lists), `gen_google` (record shapes and renderers),
//! `gen_tiktok` (the TikTok export's JSON document) and
//! `gen_zip` (zip writers, the zip bomb, central-directory truncation).

mod consent;
pub mod generate;
pub mod google;
pub mod http;
pub mod pages;
pub mod scenario;
pub mod storage;
pub mod store;
pub mod tiktok;

mod gen_google;
mod gen_rng;
#[cfg(test)]
mod gen_test;
mod gen_tiktok;
mod gen_time;
mod gen_vocab;
mod gen_zip;
mod stream;

pub use generate::{
    BAD_RECORDS, BadRecordCounts, DiscoverSplit, GOOGLE_RESOURCES, GoogleExport, ManifestEntry, NESTED_ARCHIVE_NAME,
    PATH_TRAVERSAL_NAMES, TOO_MANY_ENTRIES, ZIP_BOMB_BYTES, discover_split, google_manifest, google_part_count,
    write_google_part,
};
pub use generate::{
    FavoritesSplit, TIKTOK_FILE_2025, TIKTOK_FILE_LEGACY, TIKTOK_NESTED_ARCHIVE_NAME, TIKTOK_TYPES, TikTokManifest,
    favorites_split, tiktok_manifest, write_tiktok_archive,
};
pub use scenario::{
    AccessType, Failure, Grant, Persona, Scenario, ScenarioError, Span, TikTokLayout, TokenShape, Zone,
};

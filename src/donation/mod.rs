//! DonationService (spec `donation.md`, design §4): researchers create
//! donations, participants consent and sign in at a portability provider,
//! Steward fetches the archive, keeps only the requested types inside the
//! study window and stores the rows sealed.
//!
//! - [`archive`]: parsing Google and TikTok archive parts into normalized rows, with the zip safety rules.
//! - [`catalogue`]: sources, data types and the provider resources they need.
//! - [`config`]: provider modes, endpoints, sandbox and processing limits.
//! - [`provider`]: the `PortabilityProvider` boundary, its error classes and
//!   HTTP rules; [`google`]: the Google Data Portability client; [`tiktok`]:
//!   the TikTok Data Portability client.
//! - researcher API: [`grpc`] (handlers), [`convert`] (native messages),
//!   [`legacy`] (portability-server's REST surface), [`ops`] (operations and
//!   who may call them), [`export`] (ExportDonationData), [`retry`]
//!   (RetryDonation), [`model`] (status model, validation), [`store`],
//!   [`error`]; storage: [`keys`] (per-donation data keys), [`rows`] (sealed
//!   rows), [`purge`] (the job reclaiming a deleted donation's rows and
//!   blobs), [`release`] (the job giving provider access back after a
//!   deletion or a completion).
//! - [`participant`]: visits, the donation pages, provider sign-in,
//!   participant identity and the participant RPCs (spec §3).
//! - [`processing`]: the jobs from export request to finalize (spec §5).
//! - [`http`]: portability-server's plain routes `GET /api/` and `GET /health/`.
//! - [`sandbox`]: the fake Google and TikTok providers, their scenarios and archive generators.

pub mod archive;
pub mod catalogue;
pub mod config;
pub mod convert;
pub mod error;
pub mod export;
pub mod google;
pub mod grpc;
pub mod http;
pub mod keys;
pub mod legacy;
pub mod model;
pub mod ops;
pub mod participant;
pub mod processing;
pub mod provider;
pub mod purge;
pub mod release;
pub mod retry;
pub mod rows;
pub mod sandbox;
pub mod store;
pub mod tiktok;

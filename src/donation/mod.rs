//! DonationService (spec `donation.md`, design §4): researchers create
//! donations, participants consent and sign in at a portability provider,
//! Steward fetches the archive, keeps only the requested types inside the
//! study window and stores the rows sealed.
//!
//! - [`catalogue`]: sources, data types and the provider resources they need.
//! - [`config`]: provider modes, endpoints, sandbox and processing limits.

pub mod catalogue;
pub mod config;

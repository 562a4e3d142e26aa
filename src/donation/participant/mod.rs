//! The participant side (spec §3): visits, the donation pages, provider
//! sign-in, participant identity, and the participant RPCs.

pub mod data;
pub mod grpc;
pub mod identity;
pub mod oauth;
pub mod pages;
pub mod revoke;
pub mod templates;
pub mod view;
pub mod visit;
pub mod watch;

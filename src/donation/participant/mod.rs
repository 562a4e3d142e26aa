//! The participant side (spec §3): visits, the donation pages, provider
//! sign-in, participant identity, and the participant RPCs.

pub mod grpc;
pub mod identity;
pub mod templates;
pub mod visit;
pub mod watch;

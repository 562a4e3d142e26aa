//! Code generated from `proto/` by `build.rs`, and the descriptor set that
//! reflection, `/api/docs/` and Envoy's transcoder read.

/// `steward.authorization.v1`: who-am-I, tokens, access checks.
pub mod authorization {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("steward.authorization.v1");
    }
}

/// `steward.dataset.v1`: dataset admin (datasets, grants, groups, service accounts, TOS, audit log).
pub mod dataset {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("steward.dataset.v1");
    }
}

/// `steward.donation.v1`: data donations from portability exports (researcher API and compat routes).
pub mod donation {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("steward.donation.v1");
    }
}

/// `steward.secretshare.v1`: one party of a private aggregation by additive secret sharing.
pub mod secretshare {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("steward.secretshare.v1");
    }
}

/// `steward.upload.v1`: drop-offs, resumable uploads and sealed files.
pub mod upload {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("steward.upload.v1");
    }
}

/// Vendored `google.api` messages used by Steward's protos (`HttpBody`).
pub mod google {
    /// `google.api`.
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

/// The serialized `FileDescriptorSet` of every Steward proto and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("steward_descriptor");

/// A point in time as a protobuf `Timestamp`.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0) }
}

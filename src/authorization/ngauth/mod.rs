//! Neuroglancer ngauth (spec authorization_dataset.md §3.6): the popup
//! handshake `GET /login?origin=`, `POST /token` (the signed-in browser's
//! cookie → a short-lived HMAC token), `POST /gcs_token` (that token and a
//! bucket → a read-only Cloud Storage token downscoped by STS, authorised by
//! Steward's grants and TOS on the datasets listing the bucket), and
//! `POST /activate` (TOS acceptance; never touches bucket IAM).
//!
//! - [`config`]: `NgauthConfig`, the variables.
//! - [`origin`]: syntactic origin check and the allowlist.
//! - [`token`]: the HMAC token, keyed from the keyring.
//! - [`bucket`]: who may read a bucket.
//! - [`gcs`]: source credential and the STS exchange, with their caches.
//! - [`sandbox`]: the in-repo STS and metadata server (not in production).
//! - `http`: the routes.

pub mod bucket;
pub mod config;
pub mod gcs;
mod http;
pub mod origin;
pub mod sandbox;
pub mod token;

use std::sync::Arc;

use axum::Router;

use crate::app::AppState;
use config::GcsMode;

pub use config::NgauthConfig;

/// What the ngauth routes share: the app and the STS client with its caches.
#[derive(Clone)]
pub struct Ngauth {
    app: AppState,
    minter: Arc<gcs::Minter>,
}

/// The ngauth routes (and, in sandbox mode, the sandbox STS), for
/// `crate::http::router` to merge.
pub fn routes(state: &AppState) -> Router<AppState> {
    let config = &state.config.ngauth;
    let ngauth = Ngauth { app: state.clone(), minter: Arc::new(gcs::Minter::new(config)) };
    let mut router = Router::new().merge(http::routes(ngauth));
    if config.mode == GcsMode::Sandbox {
        router = router.merge(sandbox::routes());
    }
    router.with_state(())
}

/// Paths that answer CORS themselves (spec §3.6: exact headers, readable
/// 403s), so the server-wide gRPC-web CORS layer must let them through.
pub fn answers_own_cors(path: &str) -> bool {
    path == "/token" || path == "/gcs_token"
}

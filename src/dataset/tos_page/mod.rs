//! The TOS pages (spec §3.5 "TOS acceptance"), all accepting through
//! [`tos::accept`] as the `AcceptTos` RPC does:
//!
//! | route | page |
//! |---|---|
//! | `GET\|POST /web/tos/{invite_token}/` | one document by invite link ([`invite`]) |
//! | `GET\|POST /api/v1/tos/{tos_id}/accept?redirect=` (also `/web/tos/{tos_id}/accept`) | one document by id ([`by_id`]) |
//! | `GET\|POST /web/tos/service-check/?dataset=&service=&version=&next=` | every pending document of a dataset ([`service_check`]) |
//!
//! Documents are rendered Markdown ([`markdown`]) and nothing is cached. A
//! POST carries the `dsg_token` cookie (`SameSite=None`, §4.2), so it must
//! come from Steward's own origin.

mod by_id;
mod invite;
mod markdown;
mod service_check;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::admin::AdminCaller;
use super::tos::{self, Standing, TosKey, TosView};
use crate::app::AppState;
use crate::auth::principal::{Caller, PrincipalKind};
use crate::authorization::signin::redirect::RedirectPolicy;
use crate::error::Error;
use crate::http::html_escape;

/// Prefixes under which DSG clients call `/api/v1/…` routes (spec §3.0).
const API_PREFIXES: [&str; 3] = ["/api/v1", "/auth/api/v1", "/sticky_auth/api/v1"];

/// The routes, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    let by_id = || get(by_id::page).post(by_id::accept);
    let mut router = Router::new()
        .route("/web/tos/{invite_token}/", get(invite::page).post(invite::accept))
        .route("/web/tos/service-check/", get(service_check::page).post(service_check::accept))
        .route("/web/tos/{tos_id}/accept", by_id());
    for prefix in API_PREFIXES {
        router = router.route(&format!("{prefix}/tos/{{tos_id}}/accept"), by_id());
    }
    router
}

/// The user behind the request's credential; `None` for anyone else
/// (anonymous, refused, or a service account, which never accepts).
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<AdminCaller> {
    match state.resolver.resolve(headers).await {
        Caller::Principal(p) if p.kind == PrincipalKind::User => {
            Some(AdminCaller { user_id: p.id, admin: p.is_admin(), sc: p.groups.iter().any(|g| g == "sc") })
        }
        _ => None,
    }
}

/// Where these pages may send the browser afterwards (spec §4.5), as sign-in does.
fn redirect_policy(state: &AppState) -> RedirectPolicy {
    RedirectPolicy::new(&state.config.signin.public_url, &state.config.signin.redirect_hosts)
}

/// `/auth/login?next=<path>`: sign in, then back to `path`.
fn sign_in_url(path: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    format!("/auth/login?next={next}")
}

/// A one-document page: the document, then a sign-in link, "already
/// accepted", a note that it is not in force, or an "I accept" form posting
/// to `here` (this page's path and query). A closed dataset without grant
/// gets the "Access Restricted" page.
async fn document_page(state: &AppState, headers: &HeaderMap, key: &TosKey, here: &str) -> Response {
    let caller = signed_in(state, headers).await;
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(e) => return failure(&Error::from(e)),
    };
    let document = match tos::shown(&mut conn, key).await {
        Ok(document) => document,
        Err(e) => return failure(&e),
    };
    let action = match caller {
        None => format!(r#"<p><a id="sign-in" href="{}">Sign in to accept</a></p>"#, html_escape(&sign_in_url(here))),
        Some(caller) => match tos::standing(&mut conn, caller, &document.row).await {
            Ok(Standing::Restricted) => return restricted(),
            Ok(Standing::Accepted) => {
                r#"<p role="status" id="accepted" class="ok">You have already accepted these terms.</p>"#.to_owned()
            }
            Ok(Standing::NotInForce) => {
                r#"<p role="status" id="not-in-force">This document is not in force.</p>"#.to_owned()
            }
            Ok(Standing::Open) => format!(
                r#"<form method="post" action="{}"><button type="submit" id="accept">I accept</button></form>"#,
                html_escape(here)
            ),
            Err(e) => return failure(&e),
        },
    };
    let main = format!(
        "<main>\n<h1 id=\"heading\">{name}</h1>\n{document}\n<section>{action}</section>\n</main>",
        name = html_escape(&document.row.name),
        document = document_html(&document, "heading", "document"),
    );
    tos_page(StatusCode::OK, &document.row.name, &main)
}

/// What a document is for and its rendered text in a section `id`, labelled
/// by the heading `labelled_by`.
fn document_html(document: &TosView, labelled_by: &str, id: &str) -> String {
    let mut scope = Vec::new();
    if let Some(d) = &document.dataset {
        scope.push(format!(r#"the dataset <strong class="dataset">{}</strong>"#, html_escape(d)));
    }
    if let Some(v) = &document.version {
        scope.push(format!(r#"its version <strong class="version">{}</strong>"#, html_escape(v)));
    }
    if let Some(s) = &document.service {
        scope.push(format!(r#"the service <strong class="service">{}</strong>"#, html_escape(s)));
    }
    let scope =
        if scope.is_empty() { String::new() } else { format!("<p>Terms of service of {}.</p>\n", scope.join(", ")) };
    format!(
        r#"{scope}<section aria-labelledby="{labelled_by}" class="document" id="{id}">{}</section>"#,
        markdown::render(&document.row.text)
    )
}

/// A POST accepting one document: from Steward's origin, by a signed-in user
/// (else to sign-in and back to `here`), then to `then`.
async fn accept_document(state: &AppState, headers: &HeaderMap, key: &TosKey, here: &str, then: &str) -> Response {
    if !same_origin(headers, &state.config.public_url) {
        return cross_site();
    }
    let Some(caller) = signed_in(state, headers).await else { return found(&sign_in_url(here)) };
    let accepted = match state.pool.get().await {
        Ok(mut conn) => tos::accept(&mut conn, caller, key, user_agent(headers)).await.map(drop),
        Err(e) => Err(Error::from(e)),
    };
    accepted_then(state, caller, accepted, then)
}

/// After accepting: the redirect, or the error's page.
fn accepted_then(state: &AppState, caller: AdminCaller, accepted: Result<(), Error>, then: &str) -> Response {
    match accepted {
        Ok(()) => {
            // The user's permission cache (§4.4) learns of it by NOTIFY; this
            // process drops its copy now so the next request sees the grant.
            state.resolver.evict(&format!("user:{}", caller.user_id));
            found(then)
        }
        Err(e) => failure(&e),
    }
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// Whether a cookie-carrying POST came from Steward's own pages: its `Origin`
/// (or, without one, its `Referer`) is the public URL's origin.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let own = origin(public_url);
    let header_origin = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(origin);
    match header_origin(header::ORIGIN).or_else(|| header_origin(header::REFERER)) {
        Some(sent) => !own.is_empty() && sent == own,
        None => false,
    }
}

/// `scheme://host[:port]` of a URL in lower case, as origins compare ("null"
/// and other non-URLs give themselves).
fn origin(url: &str) -> String {
    let origin = match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split(['/', '?', '#']).next().unwrap_or(rest)),
        None => url.to_owned(),
    };
    origin.to_ascii_lowercase()
}

fn cross_site() -> Response {
    message(StatusCode::FORBIDDEN, "Refused", "This form was not sent from this server's own page.")
}

fn restricted() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Access Restricted",
        "This dataset is closed. Ask the dataset administrator for access, then open this link again.",
    )
}

/// The page for an error: 404 for an unknown document, 403 for a closed
/// dataset, 400 with the error's own words, else "try again later".
fn failure(e: &Error) -> Response {
    match e {
        Error::NotFound(_) => message(
            StatusCode::NOT_FOUND,
            "Terms not found",
            "This link does not name terms of service. Check that you copied the whole link.",
        ),
        Error::PermissionDenied(_) => restricted(),
        Error::FailedPrecondition(m) | Error::InvalidArgument(m) => {
            message(StatusCode::BAD_REQUEST, "Cannot accept", m)
        }
        e => {
            tracing::warn!(error = %e, "TOS page failed");
            message(StatusCode::SERVICE_UNAVAILABLE, "Try again later", "The server cannot show these terms right now.")
        }
    }
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let main = format!(
        r#"<main>
<h1 id="heading">{}</h1>
<p role="status" id="message">{}</p>
</main>"#,
        html_escape(title),
        html_escape(text)
    );
    tos_page(status, title, &main)
}

/// 302 to `location` (checked by the caller), kept byte for byte: a value
/// no header can carry sends the browser home instead.
fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let value = HeaderValue::from_bytes(location.as_bytes()).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, value);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page with the shared shell; forms may post only to this server, and
/// nothing is cached (spec §3.5).
fn tos_page(status: StatusCode, title: &str, main: &str) -> Response {
    let csp = crate::web::CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'");
    let mut response = crate::web::page(&csp, &crate::web::shell(&html_escape(title), main));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Under `no-referrer` a browser's form POST says `Origin: null`, which
    // [`same_origin`] refuses; `same-origin` still sends nothing to other sites.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_origin_may_post() {
        let public = "https://steward.example.org/base";
        let with = |name: header::HeaderName, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(same_origin(&with(header::ORIGIN, "https://steward.example.org"), public));
        assert!(same_origin(&with(header::ORIGIN, "https://Steward.Example.org"), public));
        assert!(same_origin(&with(header::REFERER, "https://steward.example.org/web/tos/x/"), public));
        for bad in
            ["https://evil.example", "null", "https://steward.example.org.evil.example", "http://steward.example.org"]
        {
            assert!(!same_origin(&with(header::ORIGIN, bad), public), "{bad}");
        }
        assert!(!same_origin(&HeaderMap::new(), public));
    }

    #[test]
    fn redirects_keep_the_location_byte_for_byte() {
        let to = "https://svc.janelia.org/x?dataset=hemibrain:v1.2.1&a=%2F+b";
        let response = found(to);
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers()[header::LOCATION].as_bytes(), to.as_bytes());
        assert_eq!(found("/x\ny").headers()[header::LOCATION], "/");
    }
}

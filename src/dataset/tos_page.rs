//! The TOS invite page (spec §3.5, `GET|POST /web/tos/{invite_token}/`): the
//! document for anyone holding the link, a sign-in link for anonymous
//! visitors, "Access Restricted" for a closed dataset without grant, else an
//! "I accept" form or "already accepted". Accepting is [`tos::accept`], the
//! same as the `AcceptTos` RPC. A POST carries the `dsg_token` cookie
//! (`SameSite=None`, §4.2), so it must come from Steward's own origin.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::admin::AdminCaller;
use super::tos::{self, Standing, TosKey};
use crate::app::AppState;
use crate::auth::principal::{Caller, PrincipalKind};
use crate::error::Error;
use crate::http::html_escape;

/// The route, for `crate::http::router` to merge.
pub fn routes() -> Router<AppState> {
    Router::new().route("/web/tos/{invite_token}/", get(invite_page).post(accept))
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

/// `GET /web/tos/{invite_token}/`.
async fn invite_page(State(state): State<AppState>, headers: HeaderMap, Path(invite): Path<String>) -> Response {
    let caller = signed_in(&state, &headers).await;
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(e) => return failure(&Error::from(e)),
    };
    let document = match tos::get(&mut conn, None, &TosKey::InviteToken(invite.clone())).await {
        Ok(document) => document,
        Err(e) => return failure(&e),
    };
    let here = format!("/web/tos/{invite}/");
    let action = match caller {
        None => {
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            format!(r#"<p><a id="sign-in" href="/auth/login?next={}">Sign in to accept</a></p>"#, html_escape(&next))
        }
        Some(caller) => match tos::standing(&mut conn, caller, &document.row).await {
            Ok(Standing::Restricted) => return restricted(),
            Ok(Standing::Accepted) => {
                r#"<p role="status" id="accepted" class="ok">You have already accepted these terms.</p>"#.to_owned()
            }
            Ok(Standing::Open) => format!(
                r#"<form method="post" action="{}"><button type="submit" id="accept">I accept</button></form>"#,
                html_escape(&here)
            ),
            Err(e) => return failure(&e),
        },
    };
    let dataset = document.dataset.as_deref().map_or(String::new(), |d| {
        format!(r#"<p>Terms of service of the dataset <strong id="dataset">{}</strong>.</p>"#, html_escape(d))
    });
    let main = format!(
        r#"<main>
<h1 id="heading">{name}</h1>
{dataset}
<section aria-labelledby="heading" class="document" id="document">{text}</section>
<section>{action}</section>
</main>"#,
        name = html_escape(&document.row.name),
        text = document_html(&document.row.text),
    );
    tos_page(StatusCode::OK, &document.row.name, &main)
}

/// `POST /web/tos/{invite_token}/`: accept, then home (spec §3.5).
async fn accept(State(state): State<AppState>, headers: HeaderMap, Path(invite): Path<String>) -> Response {
    if !same_origin(&headers, &state.config.public_url) {
        return message(StatusCode::FORBIDDEN, "Refused", "This form was not sent from this server's own page.");
    }
    let Some(caller) = signed_in(&state, &headers).await else {
        let next: String = form_urlencoded::byte_serialize(format!("/web/tos/{invite}/").as_bytes()).collect();
        return see_other(&format!("/auth/login?next={next}"));
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let accepted = match state.pool.get().await {
        Ok(mut conn) => tos::accept(&mut conn, caller, &TosKey::InviteToken(invite), user_agent).await,
        Err(e) => Err(Error::from(e)),
    };
    match accepted {
        Ok(_) => {
            // The user's permission cache (§4.4) learns of it by NOTIFY; this
            // process drops its copy now so the next request sees the grant.
            state.resolver.evict(&format!("user:{}", caller.user_id));
            see_other("/")
        }
        Err(Error::PermissionDenied(_)) => restricted(),
        Err(e) => failure(&e),
    }
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

/// The document's text, raw HTML escaped, one paragraph per blank-line-separated
/// block (line breaks kept by the stylesheet).
fn document_html(text: &str) -> String {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", html_escape(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn restricted() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Access Restricted",
        "This dataset is closed. Ask the dataset administrator for access, then open this link again.",
    )
}

/// The page for an error: 404 for an unknown link, else the error's own words.
fn failure(e: &Error) -> Response {
    match e {
        Error::NotFound(_) => message(
            StatusCode::NOT_FOUND,
            "Terms not found",
            "This link does not name terms of service. Check that you copied the whole link.",
        ),
        Error::FailedPrecondition(m) => message(StatusCode::BAD_REQUEST, "Cannot accept", m),
        e => {
            tracing::warn!(error = %e, "TOS invite page failed");
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

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page with the shared stylesheet; forms may post only to this server,
/// and nothing is cached (spec §3.5).
fn tos_page(status: StatusCode, title: &str, main: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Steward</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{}">
</head>
<body>
{main}
</body>
</html>
"#,
        html_escape(title),
        crate::web::asset_url("steward.css"),
    );
    let csp = crate::web::CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'");
    let mut response = crate::web::page(&csp, &html);
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
    fn the_document_is_escaped_text() {
        assert_eq!(document_html("a <b>\r\n\r\n\n  c & d "), "<p>a &lt;b&gt;</p>\n<p>c &amp; d</p>");
    }
}

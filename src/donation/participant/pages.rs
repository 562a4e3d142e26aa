//! The participant pages (spec §3.1–§3.3, §3.5, §3.7): plain HTTP routes,
//! rendered on the server from [`super::templates`], every action a plain
//! HTML form, so everything works without JavaScript.
//!
//! Rules every page follows (§3.1): entry routes take the token and redirect
//! at once to a token-free path; no page, link, form or log line holds a raw
//! token or a token hash; every answer carries `Referrer-Policy: no-referrer`,
//! `Cache-Control: no-store`, the participant CSP (plus the sandbox origin in
//! sandbox mode) and `nosniff`; every POST carries the visit's CSRF token;
//! anything the visit may not see is a friendly 404 page, never a 403.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use minijinja::context;
use serde::Serialize;
use serde_json::json;

use super::templates::{STYLESHEET, Templates};
use super::view::{self, DonationView};
use super::visit::{self, Visit};
use super::{data, identity, oauth, revoke};
use crate::app::AppState;
use crate::auth::token::hex;
use crate::config::{Config, Environment};
use crate::db::schema::{donation_types, donations};
use crate::donation::catalogue::Source;
use crate::donation::model::{Donation, Stage, Status, TypeStatus};
use crate::donation::processing::export::REGION_DETAIL;
use crate::donation::store;

/// What the pages share: templates, headers, cookie flags.
pub struct Pages {
    pub templates: Templates,
    csp: String,
    secure_cookie: bool,
    css_href: String,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").field("csp", &self.csp).finish_non_exhaustive()
    }
}

impl Pages {
    pub fn new(config: &Config) -> Pages {
        let dir = config.donation.template_dir.as_deref();
        let templates = Templates::load(dir).unwrap_or_else(|e| {
            // The configuration check already refused unreadable directories in
            // production; elsewhere a broken override falls back to the shipped set.
            tracing::error!(error = %e, "participant templates: using the shipped ones");
            Templates::load(None).expect("the shipped templates load")
        });
        let mut form_action = "'self' https://accounts.google.com https://www.tiktok.com".to_owned();
        if config.donation.sandbox_active() {
            form_action.push(' ');
            form_action.push_str(&origin(&config.donation.sandbox.public_url));
        }
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action {form_action}"
        );
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLESHEET.as_bytes());
        let version: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
        Pages {
            templates,
            csp,
            secure_cookie: visit::cookie_secure(&config.public_url, config.env == Environment::Production),
            css_href: format!("/donate/style.css?v={version}"),
        }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => url.to_owned(),
    }
}

/// The participant routes, for `crate::http::router` to merge.
pub fn routes(state: &AppState) -> Router<AppState> {
    let pages = Arc::new(Pages::new(&state.config));
    Router::new()
        .route("/donate/", get(status_page))
        .route("/donate/style.css", get(stylesheet))
        .route("/donate/{token}/", get(open_donation_link))
        .route("/donate/terms/", get(terms_form).post(accept_terms))
        .route("/donate/authorize/", get(oauth::authorize_get).post(oauth::authorize_post))
        .route("/oauth/google/callback/", get(oauth::google_callback))
        .route("/oauth/tiktok/callback/", get(oauth::tiktok_callback))
        .route("/donate/data/", get(data::data_page))
        .route("/donate/revoke/", get(revoke::revoke_form).post(revoke::revoke))
        .route("/donate/generate-participant/", post(generate_participant).get(method_not_allowed))
        .route("/donate/participant-link-saved/", post(participant_link_saved))
        .route("/donate/link-participant/", post(link_participant))
        .route("/donate/switch-to-participant/", get(switch_to_participant))
        .route("/participant/", get(participant_home))
        .route("/participant/{token}/", get(open_participant_link))
        .route("/participant/select/{id}/", get(select_donation))
        .route("/participant/logout/", post(logout))
        .route("/donate/language/", post(choose_language))
        .route("/terms/", get(terms_of_service))
        .route("/privacy/", get(privacy_notice))
        .layer(Extension(pages))
}

/// Whether `path` is under the participant's pages, whose unknown addresses
/// get [`Fail::NotFound`]'s page rather than the API's JSON 404.
pub fn is_page_path(path: &str) -> bool {
    path.starts_with("/donate/") || path.starts_with("/participant/")
}

/// Why a page cannot be shown; each becomes a friendly page.
#[derive(Debug)]
pub enum Fail {
    /// The donation link is unknown (mistyped or deleted).
    InvalidLink,
    /// The participant link is unknown.
    InvalidParticipantLink,
    /// The visit has no donation (or none it may see).
    NoDonation,
    /// The sign-in's state is unknown, used, expired, or another browser's.
    SignInExpired,
    /// Anything else the visit may not see.
    NotFound,
    /// A form without this visit's CSRF token.
    StaleForm,
    /// The method is not allowed here (GET of a POST-only action).
    MethodNotAllowed,
    Internal(anyhow::Error),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Fail::Internal(e.into())
    }
}

impl From<crate::db::PoolError> for Fail {
    fn from(e: crate::db::PoolError) -> Self {
        Fail::Internal(e.into())
    }
}

impl From<crate::crypto::KeyringError> for Fail {
    fn from(e: crate::crypto::KeyringError) -> Self {
        Fail::Internal(e.into())
    }
}

pub type PageResult = Result<Response, Fail>;

/// Everything a participant handler needs, taken from the request.
pub struct Ctx {
    pub state: AppState,
    pub pages: Arc<Pages>,
    pub headers: HeaderMap,
    /// The request's path, when it holds no credential (else `/donate/`).
    path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let pages = match parts.extensions.get::<Arc<Pages>>() {
            Some(pages) => pages.clone(),
            None => Arc::new(Pages::new(&state.config)),
        };
        Ok(Ctx { state: state.clone(), pages, headers: parts.headers.clone(), path: safe_path(parts.uri.path()) })
    }
}

/// `path` when it is a page's own path, else `/donate/`: a path holding a
/// token (an invalid link's 404 page) never reaches a form.
fn safe_path(path: &str) -> String {
    let plain = path.starts_with('/') && !path.starts_with("//") && crate::observe::loggable_path(path) == path;
    if plain { path.to_owned() } else { "/donate/".to_owned() }
}

/// A language offered in the footer.
#[derive(Debug, Serialize)]
struct LanguageOption {
    code: String,
    name: &'static str,
    selected: bool,
}

/// The name of a language in itself.
fn language_name(code: &str) -> &'static str {
    match code.split('-').next().unwrap_or(code) {
        "en" => "English",
        "fi" => "Suomi",
        "sv" => "Svenska",
        "de" => "Deutsch",
        "fr" => "Français",
        "es" => "Español",
        "it" => "Italiano",
        "nl" => "Nederlands",
        "pt" => "Português",
        "da" => "Dansk",
        "nb" | "no" => "Norsk",
        "et" => "Eesti",
        "pl" => "Polski",
        _ => "Other language",
    }
}

/// The shared parts of every page's context.
#[derive(Debug, Serialize)]
struct Base<'a> {
    lang: String,
    languages: Vec<LanguageOption>,
    path: &'a str,
    title: &'a str,
    institution: InstitutionView<'a>,
    contact: EmailView<'a>,
    dpo: EmailView<'a>,
    min_age: Option<u32>,
    hosting_region: Option<&'a str>,
    css_href: &'a str,
    csrf: String,
    participant_known: bool,
}

#[derive(Debug, Serialize)]
struct InstitutionView<'a> {
    name: Option<&'a str>,
    url: Option<&'a str>,
    logo: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct EmailView<'a> {
    email: Option<&'a str>,
}

impl Ctx {
    pub async fn conn(&self) -> Result<crate::db::PooledConn, Fail> {
        Ok(self.state.pool.get().await?)
    }

    /// The live visit of the request's cookie, if any.
    pub async fn visit(&self, conn: &mut AsyncPgConnection) -> Result<Option<Visit>, Fail> {
        match visit::cookie_value(&self.headers) {
            Some(value) => Ok(visit::find(conn, &value).await?),
            None => Ok(None),
        }
    }

    /// The visit, or a new one and the cookie to set.
    pub async fn visit_or_open(&self, conn: &mut AsyncPgConnection) -> Result<(Visit, Option<String>), Fail> {
        if let Some(visit) = self.visit(conn).await? {
            return Ok((visit, None));
        }
        let config = &self.state.config.donation;
        let (visit, value) = visit::open(conn, config.visit_idle_ttl, config.visit_max_ttl).await?;
        Ok((visit, Some(value)))
    }

    /// The visit and its current donation (which it must hold), else [`Fail::NoDonation`].
    pub async fn current(&self, conn: &mut AsyncPgConnection) -> Result<(Visit, Donation), Fail> {
        let visit = self.visit(conn).await?.ok_or(Fail::NoDonation)?;
        let id = visit.current_donation.ok_or(Fail::NoDonation)?;
        if !visit::holds(conn, &visit, id).await? {
            return Err(Fail::NoDonation);
        }
        let donation = store::find(conn, id, false).await?.ok_or(Fail::NoDonation)?;
        Ok((visit, donation))
    }

    /// Refuses a form whose CSRF token is not the visit's.
    pub fn check_csrf(&self, visit: &Visit, form: &[(String, String)]) -> Result<(), Fail> {
        match field(form, "csrf") {
            Some(token) if visit.csrf_ok(token) => Ok(()),
            _ => Err(Fail::StaleForm),
        }
    }

    /// The page language: the visit's choice, else the first of
    /// `Accept-Language` that has templates, else English (spec §3.8).
    pub fn lang(&self, visit: Option<&Visit>) -> String {
        let offered = self.pages.templates.languages();
        let has = |code: &str| offered.iter().find(|l| l.eq_ignore_ascii_case(code)).cloned();
        if let Some(chosen) = visit.and_then(|v| v.language.as_deref()).and_then(has) {
            return chosen;
        }
        let accepted = self.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        for range in accepted.split(',') {
            let tag = range.split(';').next().unwrap_or("").trim();
            if let Some(code) = has(tag).or_else(|| has(tag.split('-').next().unwrap_or(tag))) {
                return code;
            }
        }
        "en".to_owned()
    }

    fn base<'a>(&'a self, title: &'a str, visit: Option<&Visit>) -> Base<'a> {
        let i = &self.state.config.donation.institution;
        let lang = self.lang(visit);
        let languages = self
            .pages
            .templates
            .languages()
            .iter()
            .map(|code| LanguageOption { code: code.clone(), name: language_name(code), selected: *code == lang })
            .collect();
        Base {
            lang,
            languages,
            path: &self.path,
            title,
            institution: InstitutionView { name: i.name.as_deref(), url: i.url.as_deref(), logo: i.logo.as_deref() },
            contact: EmailView { email: i.contact_email.as_deref() },
            dpo: EmailView { email: i.dpo_email.as_deref() },
            min_age: i.min_age,
            hosting_region: i.hosting_region.as_deref(),
            css_href: &self.pages.css_href,
            csrf: visit.map(Visit::csrf_token).unwrap_or_default(),
            participant_known: visit.is_some_and(|v| v.participant_id.is_some()),
        }
    }

    /// Renders `template` with the shared context plus `extra`.
    pub fn render(
        &self,
        status: StatusCode,
        template: &str,
        title: &str,
        visit: Option<&Visit>,
        extra: minijinja::Value,
    ) -> Response {
        let lang = self.lang(visit);
        let base = minijinja::Value::from_serialize(self.base(title, visit));
        let ctx = context! { ..extra, ..base };
        match self.pages.templates.render(template, &lang, ctx) {
            Ok(html) => {
                self.secure((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
            }
            Err(e) => {
                tracing::error!(template, error = %e, "rendering a participant page failed");
                self.internal_error()
            }
        }
    }

    /// Renders a template to a string with the shared context (for the consent text).
    pub fn render_string(
        &self,
        template: &str,
        visit: Option<&Visit>,
        extra: minijinja::Value,
    ) -> Result<String, Fail> {
        let lang = self.lang(visit);
        let base = minijinja::Value::from_serialize(self.base("", visit));
        let ctx = context! { ..extra, ..base };
        self.pages.templates.render(template, &lang, ctx).map_err(|e| Fail::Internal(e.into()))
    }

    /// A redirect (`302`, or `303` after a POST) carrying the page headers.
    pub fn redirect(&self, status: StatusCode, to: &str) -> Response {
        let mut response = self.secure(status.into_response());
        if let Ok(location) = HeaderValue::from_str(to) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }

    /// Adds `Set-Cookie` for a new visit.
    pub fn with_cookie(&self, mut response: Response, cookie: Option<String>) -> Response {
        if let Some(value) = cookie
            && let Ok(v) = HeaderValue::from_str(&visit::set_cookie(&value, self.pages.secure_cookie))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }

    /// The participant headers (spec §3.1).
    pub fn secure(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Ok(csp) = HeaderValue::from_str(&self.pages.csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }

    fn internal_error(&self) -> Response {
        let reference = self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\"><title>Something went wrong</title></head><body><main>\
             <h1>Something went wrong</h1><p>Sorry, something went wrong on our side. Please try again later.</p>\
             <p>Reference: <code>{}</code></p></main></body></html>",
            html_escape(&reference)
        );
        self.secure(
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
                .into_response(),
        )
    }

    /// The friendly page for a failure.
    pub fn fail(&self, fail: Fail) -> Response {
        let (status, heading, paragraphs): (StatusCode, &str, Vec<&str>) = match &fail {
            Fail::InvalidLink => (
                StatusCode::NOT_FOUND,
                "This donation link is not valid",
                vec!["This donation link is not valid. It may have been mistyped or the donation was deleted."],
            ),
            Fail::InvalidParticipantLink => (
                StatusCode::NOT_FOUND,
                "This participant link is not valid",
                vec![
                    "We could not find this participant link. It may have been mistyped, or a newer link replaced it.",
                ],
            ),
            Fail::NoDonation => (
                StatusCode::NOT_FOUND,
                "We could not find your donation",
                vec![
                    "Open the link you received again. Links work in the browser they were opened in for up to a week.",
                ],
            ),
            Fail::SignInExpired => (
                StatusCode::NOT_FOUND,
                "This sign-in link has expired or was already used",
                vec!["This sign-in link has expired or was already used. Open your donation link and try again."],
            ),
            Fail::NotFound => {
                (StatusCode::NOT_FOUND, "Page not found", vec!["There is nothing to see at this address."])
            }
            Fail::StaleForm => (
                StatusCode::BAD_REQUEST,
                "This form has expired",
                vec![
                    "The form you sent was too old or came from another page. Go back, reload the page and try again.",
                ],
            ),
            Fail::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "This page cannot be opened directly",
                vec!["Use the button on the donation page instead."],
            ),
            Fail::Internal(e) => {
                tracing::error!(error = %e, "participant page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    vec!["Sorry, something went wrong on our side. Please try again later."],
                )
            }
        };
        let reference = match fail {
            Fail::Internal(_) => self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
            _ => None,
        };
        let back = matches!(status, StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED);
        let mut response = self.render(
            status,
            "error.html",
            heading,
            None,
            context! {
                heading,
                paragraphs,
                reference,
                back_href => back.then_some("/donate/"),
                back_label => "Back to the donation",
            },
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }

    /// The page for `result`, or its failure page.
    pub fn finish(&self, result: PageResult) -> Response {
        result.unwrap_or_else(|fail| self.fail(fail))
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.state.config.public_url.trim_end_matches('/')
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The first value of form field `name`.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A form body's pairs.
pub fn form(body: &Bytes) -> Vec<(String, String)> {
    crate::http::form_pairs(&String::from_utf8_lossy(body))
}

/// SHA-256 of a token's text, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn method_not_allowed(ctx: Ctx) -> Response {
    ctx.fail(Fail::MethodNotAllowed)
}

/// The donation's types' states, in request order.
pub async fn donation_view(
    conn: &mut AsyncPgConnection,
    donation: &Donation,
) -> Result<(DonationView, Vec<TypeStatus>), Fail> {
    let types = store::types(conn, donation.id, &donation.requested_data_types).await?;
    Ok((DonationView::new(donation, &types), types))
}

/// `GET /donate/<token>/` (spec §3.2): adds the donation to the visit (opening
/// one), records `link_opened` once, and redirects to `/donate/`.
async fn open_donation_link(ctx: Ctx, Path(token): Path<String>) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let hash = token_hash(&token);
        let id: Option<i32> = donations::table
            .filter(donations::token_hash.eq(&hash))
            .select(donations::id)
            .first(&mut conn)
            .await
            .optional()?;
        let id = id.ok_or(Fail::InvalidLink)?;
        let (visit, cookie) = ctx.visit_or_open(&mut conn).await?;
        conn.transaction(async |conn| -> Result<(), Fail> {
            visit::add_donation(conn, &visit, id).await?;
            visit::mark_donation_link(conn, &visit).await?;
            let opened = diesel::update(donations::table.find(id).filter(donations::stage.eq(Stage::Created.as_str())))
                .set(donations::stage.eq(Stage::LinkOpened.as_str()))
                .execute(conn)
                .await?;
            if opened == 1 {
                store::add_event(conn, id, "link_opened", None, json!({})).await?;
            }
            Ok(())
        })
        .await?;
        Ok(ctx.with_cookie(ctx.redirect(StatusCode::FOUND, "/donate/"), cookie))
    }
    .await;
    ctx.finish(result)
}

/// The SHA-256 of the consent text as rendered for `donation` now, and the text.
pub async fn consent(ctx: &Ctx, visit: &Visit, view: &DonationView) -> Result<(Vec<u8>, String), Fail> {
    let html = ctx.render_string("consent.html", Some(visit), context! { donation => view })?;
    Ok((token_hash(&html), html))
}

/// Whether the accepted terms are the consent text shown now.
pub async fn terms_current(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    visit: &Visit,
    donation: &Donation,
    view: &DonationView,
) -> Result<bool, Fail> {
    if donation.terms_accepted_at.is_none() {
        return Ok(false);
    }
    let accepted: Option<Vec<u8>> =
        donations::table.find(donation.id).select(donations::terms_version).first(conn).await.optional()?.flatten();
    let (version, _) = consent(ctx, visit, view).await?;
    Ok(accepted.as_deref() == Some(&version[..]))
}

/// Whether TikTok refused the donation's export because the account is
/// outside the EEA and the UK (spec §4.4.3).
async fn region_refused(conn: &mut AsyncPgConnection, donation_id: i32) -> Result<bool, Fail> {
    let n: i64 = donation_types::table
        .filter(donation_types::donation_id.eq(donation_id))
        .filter(donation_types::reason_detail.eq(REGION_DETAIL))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}

/// `GET /donate/`: the status page (spec §3.3).
async fn status_page(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        let (view, _) = donation_view(&mut conn, &donation).await?;
        let query = crate::http::form_pairs(query.as_deref().unwrap_or(""));
        let notice = field(&query, "signin").and_then(signin_notice).or_else(|| {
            field(&query, "linked")
                .map(|_| Notice { kind: "info", text: "This donation is now linked to your participant link." })
        });
        let terms_current = terms_current(&ctx, &mut conn, &visit, &donation, &view).await?;
        let action = view::action(&donation, terms_current);
        let (steps, current_step) = view::steps(donation.source, donation.stage);
        let failure = match donation.error_code.as_deref() {
            Some("export_failed")
                if donation.source == Source::TikTok && region_refused(&mut conn, donation.id).await? =>
            {
                Some(view::REGION_TEXT.to_owned())
            }
            code => code.map(|code| view::failure_text(donation.source, code)),
        };
        let link_box = match &visit.participant_token_sealed {
            Some(sealed) => {
                let token = ctx.state.keyring.open(sealed, &visit::token_aad(visit.id))?;
                let token = String::from_utf8(token).map_err(|e| Fail::Internal(e.into()))?;
                Some(json!({ "url": identity::participant_url(ctx.public_url(), &token) }))
            }
            None => None,
        };
        let participant: Option<i64> =
            donations::table.find(donation.id).select(donations::participant_id).first(&mut conn).await?;
        let can_create_link = participant.is_some() || donation.authorized_at.is_some();
        let user_agent = ctx.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let title = format!("Donate your {} data", donation.source.provider_name());
        Ok(ctx.render(
            StatusCode::OK,
            "status.html",
            &title,
            Some(&visit),
            context! {
                donation => view,
                notice,
                action,
                steps,
                current_step,
                failure,
                link_box,
                can_create_link,
                paste_error => field(&query, "paste").is_some(),
                in_app_browser => view::in_app_browser(user_agent),
            },
        ))
    }
    .await;
    ctx.finish(result)
}

#[derive(Debug, Serialize)]
struct Notice {
    kind: &'static str,
    text: &'static str,
}

/// The message after a sign-in that stored nothing (spec §3.4 steps 4–7).
fn signin_notice(outcome: &str) -> Option<Notice> {
    let text = match outcome {
        "declined" => "You did not allow access. Nothing was shared. You can try again.",
        "incomplete" => "Sign-in did not complete. Nothing was shared. You can try again.",
        "failed" => "We could not finish signing you in. Please try again.",
        "nothing" => "You did not allow access to any of the requested data. Nothing was shared. You can try again.",
        _ => return None,
    };
    Some(Notice { kind: "problem", text })
}

/// `GET /donate/terms/`: the consent page.
async fn terms_form(ctx: Ctx) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        let (view, _) = donation_view(&mut conn, &donation).await?;
        let asked_again = donation.terms_accepted_at.is_some()
            && donation.stage == Stage::TermsAccepted
            && !terms_current(&ctx, &mut conn, &visit, &donation, &view).await?;
        terms_page(&ctx, &visit, &view, asked_again).await
    }
    .await;
    ctx.finish(result)
}

async fn terms_page(ctx: &Ctx, visit: &Visit, view: &DonationView, asked_again: bool) -> PageResult {
    let (version, html) = consent(ctx, visit, view).await?;
    Ok(ctx.render(
        StatusCode::OK,
        "terms_page.html",
        "Before you donate",
        Some(visit),
        context! { consent_html => html, terms_version => hex(&version), asked_again },
    ))
}

/// `POST /donate/terms/`: records the acceptance of the consent text shown
/// (its SHA-256 as `terms_version`), then `303 /donate/`. A text that changed
/// since the page was shown is shown again instead.
async fn accept_terms(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        ctx.check_csrf(&visit, &form)?;
        let (view, _) = donation_view(&mut conn, &donation).await?;
        let (version, _) = consent(&ctx, &visit, &view).await?;
        if field(&form, "terms_version") != Some(hex(&version).as_str()) {
            return terms_page(&ctx, &visit, &view, true).await;
        }
        let can_accept = matches!(donation.stage, Stage::Created | Stage::LinkOpened | Stage::TermsAccepted)
            || donation.status == Status::Error && view::can_fix(&donation);
        if can_accept {
            conn.transaction(async |conn| -> Result<(), Fail> {
                let mut stage = donation.stage;
                if matches!(stage, Stage::Created | Stage::LinkOpened) {
                    stage = Stage::TermsAccepted;
                }
                diesel::update(donations::table.find(donation.id))
                    .set((
                        donations::terms_accepted_at.eq(chrono::Utc::now()),
                        donations::terms_version.eq(&version),
                        donations::stage.eq(stage.as_str()),
                    ))
                    .execute(conn)
                    .await?;
                store::add_event(
                    conn,
                    donation.id,
                    "terms_accepted",
                    None,
                    json!({ "terms_version": hex(&version[..8]) }),
                )
                .await?;
                Ok(())
            })
            .await?;
        }
        Ok(ctx.redirect(StatusCode::SEE_OTHER, "/donate/"))
    }
    .await;
    ctx.finish(result)
}

/// The catalogue for the legal templates: each source with its types.
fn catalogue() -> serde_json::Value {
    Source::ALL
        .iter()
        .map(|source| {
            json!({
                "provider": source.provider_name(),
                "name": source.as_str(),
                "types": source.data_types().map(|t| json!({
                    "name": t.name, "display_name": t.display_name, "description": t.description,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

async fn legal(ctx: Ctx, template: &str, title: &str) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?;
        let body = ctx.render_string(template, visit.as_ref(), context! { catalogue => catalogue() })?;
        Ok(ctx.render(StatusCode::OK, "legal_page.html", title, visit.as_ref(), context! { body }))
    }
    .await;
    ctx.finish(result)
}

/// `GET /terms/`.
async fn terms_of_service(ctx: Ctx) -> Response {
    legal(ctx, "terms_of_service.html", "Terms of service").await
}

/// `GET /privacy/`.
async fn privacy_notice(ctx: Ctx) -> Response {
    legal(ctx, "privacy_notice.html", "Privacy notice").await
}

/// `POST /donate/participant-link-saved/`: the participant saved the link;
/// it is not shown again.
async fn participant_link_saved(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?.ok_or(Fail::NoDonation)?;
        ctx.check_csrf(&visit, &form)?;
        visit::set_participant_token(&mut conn, &visit, None).await?;
        let to = if field(&form, "next") == Some("participant") { "/participant/" } else { "/donate/" };
        Ok(ctx.redirect(StatusCode::SEE_OTHER, to))
    }
    .await;
    ctx.finish(result)
}

/// Seals `token` into the visit so its pages can show it once.
async fn keep_token(ctx: &Ctx, conn: &mut AsyncPgConnection, visit: &Visit, token: &str) -> Result<(), Fail> {
    let sealed = ctx.state.keyring.seal(token.as_bytes(), &visit::token_aad(visit.id));
    Ok(visit::set_participant_token(conn, visit, Some(sealed)).await?)
}

/// The participant linking of a first successful sign-in (spec §3.5): the
/// visit's participant if it knows one, else a new participant whose link
/// this visit shows once (only when `show_link`: the visit that started the
/// sign-in). Nothing when the donation already has a participant.
pub async fn link_after_sign_in(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    visit: &Visit,
    donation_id: i32,
    show_link: bool,
) -> Result<(), Fail> {
    let current: Option<i64> =
        donations::table.find(donation_id).select(donations::participant_id).first(conn).await.optional()?.flatten();
    if current.is_some() {
        return Ok(());
    }
    if let Some(participant) = visit.participant_id {
        identity::link(conn, donation_id, participant).await?;
        return Ok(());
    }
    if !show_link {
        return Ok(());
    }
    let (participant, token) = identity::create(conn).await?;
    identity::link(conn, donation_id, participant).await?;
    visit::set_participant(conn, visit, participant).await?;
    keep_token(ctx, conn, visit, &token).await
}

/// `POST /donate/generate-participant/` (spec §3.5): a new participant takes
/// over this donation; its link is shown once.
async fn generate_participant(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        ctx.check_csrf(&visit, &form)?;
        conn.transaction(async |conn| -> Result<(), Fail> {
            let token = identity::new_link_for_donation(conn, donation.id).await?;
            let participant = identity::find_by_token(conn, &token).await?.ok_or(Fail::NotFound)?;
            // The donation stays in this visit on its own even if the visit's
            // earlier participant no longer owns it.
            visit::add_donation(conn, &visit, donation.id).await?;
            visit::set_participant(conn, &visit, participant).await?;
            keep_token(&ctx, conn, &visit, &token).await?;
            store::add_event(conn, donation.id, "participant_link_created", None, json!({})).await?;
            Ok(())
        })
        .await?;
        Ok(ctx.redirect(StatusCode::SEE_OTHER, "/donate/"))
    }
    .await;
    ctx.finish(result)
}

/// `POST /donate/link-participant/`: a pasted participant link (or bare
/// token) of an existing participant takes this donation; an unknown one
/// creates nothing and shows an inline error.
async fn link_participant(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        ctx.check_csrf(&visit, &form)?;
        let pasted = field(&form, "participant_link").unwrap_or("");
        let Some(participant) = identity::find_by_token(&mut conn, pasted).await? else {
            return Ok(ctx.redirect(StatusCode::SEE_OTHER, "/donate/?paste=notfound#pasted"));
        };
        conn.transaction(async |conn| -> Result<(), Fail> {
            identity::link(conn, donation.id, participant).await?;
            visit::add_donation(conn, &visit, donation.id).await?;
            visit::set_participant(conn, &visit, participant).await?;
            Ok(())
        })
        .await?;
        Ok(ctx.redirect(StatusCode::SEE_OTHER, "/donate/?linked=1"))
    }
    .await;
    ctx.finish(result)
}

/// `GET /donate/switch-to-participant/`: to the participant's list, when the visit knows one.
async fn switch_to_participant(ctx: Ctx) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?.ok_or(Fail::NotFound)?;
        if visit.participant_id.is_none() {
            return Err(Fail::NotFound);
        }
        Ok(ctx.redirect(StatusCode::FOUND, "/participant/"))
    }
    .await;
    ctx.finish(result)
}

/// `GET /participant/<token>/`: the visit (opened if needed) knows the
/// participant and so every donation of theirs; `302 /participant/`.
async fn open_participant_link(ctx: Ctx, Path(token): Path<String>) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let participant = identity::find_by_token(&mut conn, &token).await?.ok_or(Fail::InvalidParticipantLink)?;
        let (visit, cookie) = ctx.visit_or_open(&mut conn).await?;
        if visit.participant_id != Some(participant) {
            // Another participant's token shown in this visit is not shown any more.
            visit::set_participant_token(&mut conn, &visit, None).await?;
        }
        visit::set_participant(&mut conn, &visit, participant).await?;
        Ok(ctx.with_cookie(ctx.redirect(StatusCode::FOUND, "/participant/"), cookie))
    }
    .await;
    ctx.finish(result)
}

/// `GET /participant/`: "Your donations", newest first.
async fn participant_home(ctx: Ctx) -> Response {
    let result = async {
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?.ok_or(Fail::NotFound)?;
        let participant = visit.participant_id.ok_or(Fail::NotFound)?;
        let ids = identity::donations_of(&mut conn, participant).await?;
        let mut cards = Vec::new();
        for id in ids {
            let Some(donation) = store::find(&mut conn, id, false).await? else { continue };
            let (view, types) = donation_view(&mut conn, &donation).await?;
            cards.push(json!({
                "id": donation.id,
                "provider": view.provider,
                "description_first": view.description_first(),
                "created": donation.created_at.format("%-d %B %Y").to_string(),
                "status_text": view::status_text(&donation),
                "has_data": types.iter().any(|t| t.state == crate::donation::model::TypeState::Available),
            }));
        }
        let link_box = match &visit.participant_token_sealed {
            Some(sealed) => {
                let token = String::from_utf8(ctx.state.keyring.open(sealed, &visit::token_aad(visit.id))?)
                    .map_err(|e| Fail::Internal(e.into()))?;
                Some(json!({ "url": identity::participant_url(ctx.public_url(), &token) }))
            }
            None => None,
        };
        Ok(ctx.render(
            StatusCode::OK,
            "participant_home.html",
            "Your donations",
            Some(&visit),
            context! { donations => cards, link_box },
        ))
    }
    .await;
    ctx.finish(result)
}

/// `GET /participant/select/<id>/`: makes one of the participant's donations
/// current; `302 /donate/` (`?next=data`: `/donate/data/`).
async fn select_donation(ctx: Ctx, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let id: i32 = id.parse().map_err(|_| Fail::NotFound)?;
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?.ok_or(Fail::NotFound)?;
        let participant = visit.participant_id.ok_or(Fail::NotFound)?;
        if !identity::donations_of(&mut conn, participant).await?.contains(&id) {
            return Err(Fail::NotFound);
        }
        visit::set_current(&mut conn, &visit, id).await?;
        let query = crate::http::form_pairs(query.as_deref().unwrap_or(""));
        let to = match field(&query, "next") {
            Some("data") => "/donate/data/",
            Some("revoke") => "/donate/revoke/",
            _ => "/donate/",
        };
        Ok(ctx.redirect(StatusCode::FOUND, to))
    }
    .await;
    ctx.finish(result)
}

/// `POST /participant/logout/`: forgets the participant in this visit;
/// `303 /donate/` when a donation link was used in it, else `303 /terms/`.
async fn logout(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let mut conn = ctx.conn().await?;
        let visit = ctx.visit(&mut conn).await?.ok_or(Fail::NotFound)?;
        ctx.check_csrf(&visit, &form)?;
        visit::forget_participant(&mut conn, &visit).await?;
        let to = if visit.donation_link_used { "/donate/" } else { "/terms/" };
        Ok(ctx.redirect(StatusCode::SEE_OTHER, to))
    }
    .await;
    ctx.finish(result)
}

/// `POST /donate/language/` (the footer's switcher): remembers the language
/// in the visit, `303` back to the page.
async fn choose_language(ctx: Ctx, body: Bytes) -> Response {
    let result = async {
        let form = form(&body);
        let back = safe_path(field(&form, "next").unwrap_or("/donate/"));
        let mut conn = ctx.conn().await?;
        if let Some(visit) = ctx.visit(&mut conn).await? {
            ctx.check_csrf(&visit, &form)?;
            let wanted = field(&form, "lang").unwrap_or("");
            if ctx.pages.templates.languages().iter().any(|l| l == wanted) {
                visit::set_language(&mut conn, &visit, wanted).await?;
            }
        }
        Ok(ctx.redirect(StatusCode::SEE_OTHER, &back))
    }
    .await;
    ctx.finish(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_credentials_never_reach_a_form() {
        assert_eq!(safe_path("/donate/data/"), "/donate/data/");
        assert_eq!(safe_path("/privacy/"), "/privacy/");
        assert_eq!(safe_path("/donate/q8m3Zr2Vx0aLk7Hn4Ws9Ty1Bc6Dp5Ef3Gh8Jk2Lm0N/"), "/donate/");
        assert_eq!(safe_path("//evil.example/"), "/donate/");
        assert_eq!(safe_path("https://evil.example/"), "/donate/");
    }

    #[test]
    fn origins_drop_the_path() {
        assert_eq!(origin("http://127.0.0.1:8080/sandbox"), "http://127.0.0.1:8080");
        assert_eq!(origin("https://donate.example.org"), "https://donate.example.org");
    }

    #[test]
    fn every_sign_in_outcome_has_a_message() {
        for outcome in ["declined", "incomplete", "failed", "nothing"] {
            assert!(signin_notice(outcome).unwrap().text.contains("try again"), "{outcome}");
        }
        assert!(signin_notice("other").is_none());
    }
}

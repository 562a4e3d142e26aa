//! A participant's browser against the real server (spec donation.md §3):
//! it follows no redirect by itself, keeps the `steward_visit` cookie, opens
//! the donation link, accepts the terms, starts the sign-in and answers the
//! sandbox consent screen of Google or TikTok the way a person would. Shared
//! by the participant-page and TikTok tests.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::common::donation::hidden_inputs;

/// An answer: status, headers, body.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header, or "" without one.
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

/// A browser: follows nothing by itself, keeps the `steward_visit` cookie.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    /// Sent as `Accept-Language` when set.
    pub accept_language: Option<&'static str>,
}

impl Browser {
    /// A browser without a visit, for the server at `base`.
    pub fn new(base: String) -> Browser {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base,
            cookie: None,
            accept_language: None,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("steward_visit={cookie}")),
            None => request,
        };
        let request = match self.accept_language {
            Some(value) => request.header("accept-language", value),
            None => request,
        };
        let response = request.send().await.unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            if let Some(rest) = value.to_str().unwrap().strip_prefix("steward_visit=") {
                self.cookie = Some(rest.split(';').next().unwrap().to_owned());
            }
        }
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Page { status, headers, body: response.text().await.unwrap() }
    }

    /// GET of a path on the server, or of an absolute URL.
    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(self.url(path));
        self.send(request).await
    }

    /// POST of `form`, form-encoded, to a path on the server or an absolute URL.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(self.url(path)).form(form);
        self.send(request).await
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(page: &Page) -> String {
        hidden(&page.body, "csrf").expect("a CSRF field")
    }

    /// Opens the link, accepts the terms; returns the status page.
    pub async fn consent(&mut self, token: &str) -> Page {
        let opened = self.get(&format!("/donate/{token}/")).await;
        assert_eq!((opened.status, opened.location()), (302, "/donate/"));
        let terms = self.get("/donate/terms/").await;
        assert_eq!(terms.status, 200, "{}", terms.body);
        let version = hidden(&terms.body, "terms_version").unwrap();
        let accepted =
            self.post("/donate/terms/", &[("csrf", &Browser::csrf(&terms)), ("terms_version", &version)]).await;
        assert_eq!((accepted.status, accepted.location()), (303, "/donate/"));
        self.get("/donate/").await
    }

    /// Starts the sign-in from the status page's button; the provider URL.
    pub async fn authorize(&mut self, status_page: &Page) -> reqwest::Url {
        let started = self.post("/donate/authorize/", &[("csrf", &Browser::csrf(status_page))]).await;
        assert_eq!(started.status, 302, "{}", started.body);
        reqwest::Url::parse(started.location()).unwrap()
    }

    /// At the sandbox Google consent screen: `decision` with every requested
    /// resource group ticked (Google's `scope` is space-separated full scope
    /// URLs; the form's `grant` values are the group names) and the
    /// `scenario` fields (spec §6.3); returns the callback URL it redirects to.
    pub async fn at_google(&self, authorize_url: &reqwest::Url, decision: &str, scenario: &[(&str, &str)]) -> String {
        let grants = scope(authorize_url)
            .split(' ')
            .map(|s| s.trim_start_matches("https://www.googleapis.com/auth/dataportability.").to_owned())
            .collect();
        self.at_sandbox(authorize_url, "/sandbox/google/o/oauth2/v2/auth/decision", grants, decision, scenario).await
    }

    /// At the sandbox TikTok consent screen: `decision` with every scope of
    /// the comma-separated `scope` ticked and the `scenario` fields; returns
    /// the callback URL it redirects to.
    pub async fn at_tiktok(&self, authorize_url: &reqwest::Url, decision: &str, scenario: &[(&str, &str)]) -> String {
        let grants = scope(authorize_url).split(',').map(str::to_owned).collect();
        self.at_sandbox(authorize_url, "/sandbox/tiktok/v2/auth/authorize/decision", grants, decision, scenario).await
    }

    /// Opens a sandbox consent screen (no Steward cookie goes there) and
    /// submits its hidden fields, `grants`, `scenario` and `decision` to
    /// `decision_path`; the redirect's target.
    async fn at_sandbox(
        &self,
        authorize_url: &reqwest::Url,
        decision_path: &str,
        grants: Vec<String>,
        decision: &str,
        scenario: &[(&str, &str)],
    ) -> String {
        let consent = self.http.get(authorize_url.clone()).send().await.unwrap();
        assert_eq!(consent.status(), 200);
        let mut form = hidden_inputs(&consent.text().await.unwrap());
        form.extend(grants.into_iter().map(|g| ("grant".to_owned(), g)));
        form.extend(scenario.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        form.push(("decision".into(), decision.into()));
        let answer = self.http.post(format!("{}{decision_path}", self.base)).form(&form).send().await.unwrap();
        assert_eq!(answer.status(), 302);
        answer.headers()[LOCATION].to_str().unwrap().to_owned()
    }
}

/// The `scope` parameter of a provider's authorize URL.
fn scope(authorize_url: &reqwest::Url) -> String {
    authorize_url.query_pairs().find(|(k, _)| k == "scope").unwrap().1.into_owned()
}

/// The value of the hidden field `name`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    hidden_inputs(html).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The absolute participant link in a page's link box (shown once after the first sign-in).
pub fn shown_link(page: &Page) -> Option<String> {
    let marker = "id=\"participant-link\" type=\"text\" readonly value=\"";
    let link = page.body.split(marker).nth(1)?.split('"').next()?;
    Some(link.replace("&#x2f;", "/"))
}

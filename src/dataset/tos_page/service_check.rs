//! `GET|POST /web/tos/service-check/?dataset=D[&service=S][&version=V][&next=URL]`
//! (spec §3.5): where services, ngauth's `tos_required` and the sign-in
//! callback send a user with terms pending for a dataset. Every pending
//! document ([`tos::pending`], as `ListPendingTos`) on one page with one
//! "Accept all" form; afterwards, or with nothing pending, on to `next`
//! exactly as given (services pass values like `?dataset=hemibrain:v1.2.1`).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::super::tos::{self, Standing};
use crate::app::AppState;
use crate::error::Error;
use crate::http::{form_pairs, html_escape};

const PATH: &str = "/web/tos/service-check/";

/// The page's parameters.
#[derive(Debug, Default, PartialEq, Eq)]
struct Check {
    dataset: Option<String>,
    service: Option<String>,
    version: Option<String>,
    next: Option<String>,
}

impl Check {
    /// The first non-empty value of each parameter in `sources`, earlier sources first.
    fn read<'a>(sources: impl IntoIterator<Item = &'a str>) -> Self {
        let mut check = Self::default();
        for (name, value) in sources.into_iter().flat_map(form_pairs) {
            let slot = match name.as_str() {
                "dataset" => &mut check.dataset,
                "service" => &mut check.service,
                "version" => &mut check.version,
                "next" => &mut check.next,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        check
    }

    fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("dataset", &self.dataset), ("service", &self.service), ("version", &self.version), ("next", &self.next)]
            .into_iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    }

    /// This page's URL with these parameters.
    fn url(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs() {
            query.append_pair(name, value);
        }
        format!("{PATH}?{}", query.finish())
    }

    /// The form's hidden fields, which carry the parameters to the POST.
    fn hidden_fields(&self) -> String {
        self.pairs()
            .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{}">"#, html_escape(value)))
            .collect()
    }
}

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(caller) = super::signed_in(&state, &headers).await else {
        let here = query.as_deref().map_or_else(|| PATH.to_owned(), |q| format!("{PATH}?{q}"));
        return super::found(&super::sign_in_url(&here));
    };
    let check = Check::read(query.as_deref());
    let Some(dataset) = check.dataset.as_deref() else { return no_dataset() };
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(e) => return super::failure(&Error::from(e)),
    };
    let pending =
        match tos::pending(&mut conn, caller, dataset, check.service.as_deref(), check.version.as_deref()).await {
            Ok(pending) => pending,
            Err(e) => return super::failure(&e),
        };
    let Some(first) = pending.first() else {
        return super::found(&super::redirect_policy(&state).or_root(check.next.as_deref()));
    };
    // All pending documents are the dataset's: one standing says whether it is closed to this user.
    match tos::standing(&mut conn, caller, &first.row).await {
        Ok(Standing::Restricted) => return super::restricted(),
        Ok(_) => {}
        Err(e) => return super::failure(&e),
    }
    let documents: String = pending
        .iter()
        .map(|document| {
            let heading = format!("document-{}-heading", document.row.id);
            format!(
                "<article>\n<h2 id=\"{heading}\">{}</h2>\n{}\n</article>\n",
                html_escape(&document.row.name),
                super::document_html(document, &heading, &format!("document-{}", document.row.id)),
            )
        })
        .collect();
    let count =
        if pending.len() == 1 { "these terms".to_owned() } else { format!("these {} documents", pending.len()) };
    let main = format!(
        r#"<main>
<h1>Terms to accept</h1>
<p>To use the dataset <strong id="dataset">{dataset}</strong>, please read and accept {count}.</p>
{documents}<form method="post" action="{PATH}">{hidden}<button type="submit" id="accept-all">Accept all</button></form>
</main>"#,
        dataset = html_escape(dataset),
        hidden = check.hidden_fields(),
    );
    super::tos_page(StatusCode::OK, "Terms to accept", &main)
}

/// "Accept all": the form's fields, or the query's where the form lacks one.
pub(super) async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !super::same_origin(&headers, &state.config.public_url) {
        return super::cross_site();
    }
    let body = String::from_utf8_lossy(&body);
    let check = Check::read([body.as_ref(), query.as_deref().unwrap_or_default()]);
    let Some(caller) = super::signed_in(&state, &headers).await else {
        return super::found(&super::sign_in_url(&check.url()));
    };
    let Some(dataset) = check.dataset.as_deref() else { return no_dataset() };
    let accepted = match state.pool.get().await {
        Ok(mut conn) => tos::accept_pending(
            &mut conn,
            caller,
            dataset,
            check.service.as_deref(),
            check.version.as_deref(),
            super::user_agent(&headers),
        )
        .await
        .map(drop),
        Err(e) => Err(Error::from(e)),
    };
    let then = super::redirect_policy(&state).or_root(check.next.as_deref());
    super::accepted_then(&state, caller, accepted, &then)
}

fn no_dataset() -> Response {
    super::message(StatusCode::BAD_REQUEST, "No dataset", "This link does not name a dataset. Check the whole link.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_come_from_the_form_then_the_query() {
        let check = Check::read([
            "dataset=fish2&next=https%3A%2F%2Fsvc.janelia.org%2Fx%3Fdataset%3Dhemibrain%3Av1.2.1&service=",
            "dataset=other&service=celltyping&version=v2&x=1",
        ]);
        assert_eq!(
            check,
            Check {
                dataset: Some("fish2".into()),
                service: Some("celltyping".into()),
                version: Some("v2".into()),
                next: Some("https://svc.janelia.org/x?dataset=hemibrain:v1.2.1".into()),
            }
        );
        assert_eq!(
            check.url(),
            "/web/tos/service-check/?dataset=fish2&service=celltyping&version=v2\
             &next=https%3A%2F%2Fsvc.janelia.org%2Fx%3Fdataset%3Dhemibrain%3Av1.2.1"
        );
        let fields = Check { dataset: Some(r#"a"&<b"#.into()), ..Check::default() }.hidden_fields();
        assert_eq!(fields, r#"<input type="hidden" name="dataset" value="a&quot;&amp;&lt;b">"#);
    }
}

//! The `/secretshare` page (src/web/mod.rs): a party with its parties' URLs serves
//! the page and its bundle, with a CSP that lets it connect to exactly its own
//! origin and the parties' origins; a server that is not a party, or a party
//! without URLs, serves a plain message and no script.

use crate::common::{TestApp, TestDb};

/// `GET {app}{path}`: status, CSP header and body.
async fn get(app: &TestApp, path: &str) -> (u16, String, String, reqwest::header::HeaderMap) {
    let answer = reqwest::get(format!("{}{path}", app.url())).await.expect("GET");
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let csp = headers.get("content-security-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, csp, answer.text().await.unwrap(), headers)
}

/// The `connect-src` sources of a CSP.
fn connect_src(csp: &str) -> Vec<String> {
    let directive = csp.split(';').map(str::trim).find(|d| d.starts_with("connect-src ")).expect("connect-src");
    directive.split_whitespace().skip(1).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_serves_the_page_allowed_to_reach_exactly_its_parties() {
    let urls = "https://Party-A.example.org/steward/, http://127.0.0.1:9/,https://party-a.example.org/other";
    let (app, _) = TestApp::start_with(
        TestDb::new().await,
        &[
            ("STEWARD_SECRETSHARE_PARTY_INDEX", "1"),
            ("STEWARD_SECRETSHARE_PARTY_COUNT", "3"),
            ("STEWARD_SECRETSHARE_PARTY_URLS", urls),
        ],
    )
    .await;
    let (status, csp, html, headers) = get(&app, "/secretshare").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Origins only (no path), lowercased, once each; nothing else may be called.
    assert_eq!(connect_src(&csp), ["'self'", "https://party-a.example.org", "http://127.0.0.1:9"]);
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(html.contains("<title>Private aggregation · Steward</title>"));
    assert!(html.contains("This page trusts the party serving it"));
    assert!(html.contains(r#"type="password""#), "the token field is a password field");
    assert!(!html.contains("secretshare-off"));

    // The bundle it names is the committed one, and every id the script looks up is in the page.
    let start = html.find(r#"src="/static/secretshare_page.js?v="#).expect("the page's script") + 5;
    let src = &html[start..start + html[start..].find('"').unwrap()];
    let (status, _, bundle, headers) = get(&app, src).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(manifest.join("clients/web/dist/secretshare_page.js")).unwrap();
    assert!(bundle == committed, "the served bundle is not clients/web/dist/secretshare_page.js");
    let script = std::fs::read_to_string(manifest.join("clients/web/src/secretshare_page.ts")).unwrap();
    let ids: Vec<&str> = script
        .split("byId<")
        .skip(1)
        .filter_map(|s| s.split_once(">(\"")?.1.split_once('"').map(|(id, _)| id))
        .collect();
    assert!(ids.len() >= 10, "{ids:?}");
    for id in ids {
        assert!(html.contains(&format!(r#"id="{id}""#)), "#{id} is not in the page");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_a_party_with_urls_says_so_and_ships_no_script() {
    for vars in [vec![], vec![("STEWARD_SECRETSHARE_PARTY_INDEX", "0"), ("STEWARD_SECRETSHARE_PARTY_COUNT", "2")]] {
        let (app, _) = TestApp::start_with(TestDb::new().await, &vars).await;
        let (status, csp, html, _) = get(&app, "/secretshare").await;
        assert_eq!(status, 200);
        assert_eq!(connect_src(&csp), ["'self'"], "{vars:?}");
        assert!(html.contains(r#"id="secretshare-off""#), "{vars:?}");
        assert!(html.contains("not configured as a secret-share party with its parties' URLs"));
        assert!(!html.contains("<script"), "{vars:?}: no script without parties");
        app.stop().await;
    }
}

//! The token against the path and the subdomain: "all must agree" refuses a
//! disagreement without asking whether the other tenant exists; "first
//! match" lets the first source (the token) decide.

use reqwest::StatusCode;
use serde_json::Value;
use tenant_axum::Policy;

use crate::support::{problem, Server};

#[tokio::test]
async fn all_must_agree_refuses_a_path_or_subdomain_naming_another_tenant() {
    let server = Server::start_with(&["alpha", "beta"], |s| {
        s.base_domain = Some("forms.test".into());
    })
    .await;
    let alpha = server.token("alpha");
    server.create_form(&alpha, "Alpha survey").await;
    server
        .create_form(&server.token("beta"), "Beta sign-up")
        .await;

    let (status, kind, body) = problem(server.get("/t/beta/forms", &alpha).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "sources-disagree")
    );
    assert!(!body.contains("Beta sign-up"), "{body}");
    // The same answer for a tenant that does not exist: nothing to enumerate.
    let (status, kind, _) = problem(server.get("/t/nobody/forms", &alpha).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "sources-disagree")
    );

    let response = server
        .get_with_host("/forms", &alpha, "beta.forms.test")
        .await;
    let (status, kind, _) = problem(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "sources-disagree")
    );

    // Agreeing sources pass.
    let response = server
        .get_with_host("/t/alpha/forms", &alpha, "Alpha.forms.test:8080")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let forms: Vec<Value> = response.json().await.unwrap();
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0]["title"], "Alpha survey");

    // The path alone is not enough: the token is required.
    let response = server
        .client
        .get(format!("{}/t/alpha/forms", server.base))
        .send()
        .await
        .unwrap();
    let (status, kind, _) = problem(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::UNAUTHORIZED, "missing-credentials")
    );
}

#[tokio::test]
async fn under_first_match_the_token_decides_as_documented() {
    let server = Server::start_with(&["alpha", "beta"], |s| s.policy = Policy::FirstMatch).await;
    let alpha = server.token("alpha");
    server.create_form(&alpha, "Alpha survey").await;
    server
        .create_form(&server.token("beta"), "Beta sign-up")
        .await;

    let response = server.get("/t/beta/forms", &alpha).await;
    assert_eq!(response.status(), StatusCode::OK);
    let forms: Vec<Value> = response.json().await.unwrap();
    let titles: Vec<&str> = forms.iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["Alpha survey"],
        "the token (first source) decides, not the path"
    );
}

//! Two tenants through the same routes: each sees and changes only its own
//! rows; the other's ids are 404.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::Server;

#[tokio::test]
async fn each_tenant_sees_and_changes_only_its_own_rows() {
    let server = Server::start(&["alpha", "beta"]).await;
    let alpha = server.token("alpha");
    let beta = server.token("beta");

    // Both get form 1: the numbers are per tenant.
    let a1 = server.create_form(&alpha, "Alpha survey").await;
    let b1 = server.create_form(&beta, "Beta sign-up").await;
    let b2 = server.create_form(&beta, "Beta feedback").await;
    assert_eq!(
        (a1["id"].as_i64(), b1["id"].as_i64(), b2["id"].as_i64()),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(a1["tenant_id"], "alpha");

    let listed: Vec<Value> = server.get("/forms", &alpha).await.json().await.unwrap();
    assert_eq!(listed, vec![a1.clone()]);
    let listed: Vec<Value> = server.get("/forms", &beta).await.json().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|f| f["title"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Beta sign-up", "Beta feedback"]
    );

    // Beta's form 2 does not exist for alpha: read, change, submit, list.
    assert_eq!(
        server.get("/forms/2", &alpha).await.status(),
        StatusCode::NOT_FOUND
    );
    let change = json!({ "title": "taken over", "published": false });
    let response = server
        .send_json(Method::PUT, "/forms/2", &alpha, change.clone())
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server
        .send_json(
            Method::POST,
            "/forms/2/submissions",
            &alpha,
            json!({ "email": "m@example.com" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server.get("/forms/2/submissions", &alpha).await.status(),
        StatusCode::NOT_FOUND
    );

    // Alpha's change of its own form 1 leaves beta's form 1 alone.
    let response = server
        .send_json(Method::PUT, "/forms/1", &alpha, change)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let beta1: Value = server.get("/forms/1", &beta).await.json().await.unwrap();
    assert_eq!(beta1["title"], "Beta sign-up");
    let alpha1: Value = server
        .get("/t/alpha/forms/1", &alpha)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (alpha1["title"].as_str(), alpha1["published"].as_bool()),
        (Some("taken over"), Some(false))
    );

    // Submissions: each tenant's form 1 gets its own.
    for (token, email) in [(&alpha, "a@alpha.example"), (&beta, "b@beta.example")] {
        let response = server
            .send_json(
                Method::POST,
                "/forms/1/submissions",
                token,
                json!({ "email": email }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let seen: Vec<Value> = server
        .get("/forms/1/submissions", &alpha)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0]["email"].as_str(), seen[0]["tenant_id"].as_str()),
        (Some("a@alpha.example"), Some("alpha"))
    );

    // The counts (a typed record of tenant_query!) are each tenant's own:
    // alpha unpublished its one form; beta has two published forms; one
    // submission each.
    let stats: Value = server.get("/stats", &alpha).await.json().await.unwrap();
    assert_eq!(
        stats,
        json!({ "forms": 1, "published": 0, "submissions": 1 })
    );
    let stats: Value = server
        .get("/t/beta/stats", &beta)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats,
        json!({ "forms": 2, "published": 2, "submissions": 1 })
    );

    // And the database agrees: beta's rows are untouched.
    let beta_titles: Vec<String> = tenant_runtime::sqlx::query_scalar(
        "SELECT title FROM forms WHERE tenant_id = 'beta' ORDER BY id",
    )
    .fetch_all(&server.pool)
    .await
    .unwrap();
    assert_eq!(beta_titles, ["Beta sign-up", "Beta feedback"]);
}

#[tokio::test]
async fn bad_bodies_and_ids_are_client_errors() {
    let server = Server::start(&["alpha"]).await;
    let alpha = server.token("alpha");
    let empty = server
        .send_json(Method::POST, "/forms", &alpha, json!({ "title": " " }))
        .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let nul = server
        .send_json(
            Method::POST,
            "/forms",
            &alpha,
            json!({ "title": "a\u{0}b" }),
        )
        .await;
    assert_eq!(nul.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong = server
        .send_json(Method::POST, "/forms", &alpha, json!({ "name": 1 }))
        .await;
    assert!(wrong.status().is_client_error(), "{}", wrong.status());
    let not_a_number = server.get("/forms/abc", &alpha).await;
    assert_eq!(not_a_number.status(), StatusCode::BAD_REQUEST);
    let huge = server.get("/forms/99999999999999999999999", &alpha).await;
    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
}

//! The admin routes: their own credential, and an offboarded tenant is
//! refused on its next request.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, Server};

#[tokio::test]
async fn admin_routes_need_the_admin_token_and_offboarding_locks_the_tenant_out() {
    let server = Server::start(&["alpha"]).await;
    let admin = server.admin_token();
    let alpha = server.token("alpha");

    // A tenant's token is not an admin token; no token neither.
    let response = server
        .send_json(
            Method::POST,
            "/admin/tenants",
            &alpha,
            json!({ "id": "gamma" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = server
        .client
        .get(format!("{}/admin/tenants", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Onboard gamma; its token works at once.
    let response = server
        .send_json(
            Method::POST,
            "/admin/tenants",
            &admin,
            json!({ "id": "gamma" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let gamma = server.token("gamma");
    server.create_form(&gamma, "Gamma intake").await;
    let listed: Vec<Value> = server
        .get("/admin/tenants", &admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alpha", "gamma"]);

    // Offboard gamma: its next request is refused, alpha's still served.
    let response = server
        .client
        .delete(format!("{}/admin/tenants/gamma", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, kind, _) = problem(server.get("/forms", &gamma).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "tenant-not-available")
    );
    assert_eq!(server.get("/forms", &alpha).await.status(), StatusCode::OK);

    // An id the registry cannot hold is a client error.
    let response = server
        .send_json(
            Method::POST,
            "/admin/tenants",
            &admin,
            json!({ "id": "bad\u{0}id" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

//! A bounded load: 20 tenants, 200 concurrent requests, and every answer
//! holds only the requester's rows.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_of_twenty_tenants_see_only_their_rows() {
    let ids: Vec<String> = (0..20).map(|i| format!("tenant-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let server = Arc::new(Server::start(&refs).await);
    for id in &ids {
        let token = server.token(id);
        for n in 0..3 {
            server.create_form(&token, &format!("{id} form {n}")).await;
        }
    }
    let mut requests = Vec::new();
    for i in 0..200 {
        let server = Arc::clone(&server);
        let id = ids[i % ids.len()].clone();
        requests.push(tokio::spawn(async move {
            let token = server.token(&id);
            let path = if i % 2 == 0 {
                "/forms".to_string()
            } else {
                format!("/t/{id}/forms")
            };
            let response = server.get(&path, &token).await;
            assert_eq!(response.status(), StatusCode::OK, "{id} {path}");
            let forms: Vec<Value> = response.json().await.unwrap();
            assert_eq!(forms.len(), 3, "{id}: {forms:?}");
            for form in &forms {
                assert_eq!(
                    form["tenant_id"],
                    id.as_str(),
                    "{id} got another tenant's row: {form}"
                );
                assert!(form["title"].as_str().unwrap().starts_with(&id), "{form}");
            }
        }));
    }
    for request in requests {
        request.await.expect("a request task failed");
    }
}

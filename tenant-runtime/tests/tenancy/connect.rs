//! Connecting through `tenant_runtime::connect`: a pool when the server
//! answers, and otherwise an error naming the server and the cause, fast.

use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::support::*;
use tenant_runtime::connect::{connect_pool, connect_pool_with, ConnectCause};
use tenant_runtime::sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[tokio::test]
async fn a_pool_when_the_server_answers_and_the_cause_when_it_does_not() {
    let pool = connect_pool(
        &admin_url(),
        PgPoolOptions::new().max_connections(1),
        Duration::from_secs(5),
    )
    .await
    .expect("the test server answers");
    let one: i32 = tenant_runtime::sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;

    // Options built in code, a port nothing listens on: refused, at once,
    // where the pool alone would wait for its acquire timeout.
    let options = PgConnectOptions::from_str(&admin_url())
        .unwrap()
        .port(1)
        .password("hunter2");
    let started = Instant::now();
    let error = connect_pool_with(options, PgPoolOptions::new(), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(error.cause, ConnectCause::Refused, "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let message = error.to_string();
    assert!(
        message.contains(":1/") && !message.contains("hunter2"),
        "{message}"
    );

    // A server that accepts and never answers: the timeout, named.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let accepted = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(accepted);
    });
    let started = Instant::now();
    let error = connect_pool(
        &format!("postgres://postgres@127.0.0.1:{port}/x"),
        PgPoolOptions::new(),
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.cause,
        ConnectCause::TimedOut(Duration::from_millis(500))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    holder.abort();
}

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

#[tokio::test]
async fn a_refused_port_is_refused_within_the_timeout_and_hides_the_password() {
    let started = Instant::now();
    let error = connect_pool(
        "postgres://postgres:hunter2@127.0.0.1:1/postgres",
        PgPoolOptions::new(),
        Duration::from_secs(3),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(error.cause, ConnectCause::Refused, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("postgres://postgres:***@127.0.0.1:1/postgres")
            && message.contains("connection refused")
            && !message.contains("hunter2"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_database_is_named() {
    let options = PgConnectOptions::from_str(&admin_url()).unwrap();
    let url = format!(
        "postgres://{}:hunter2@{}:{}/tenant_no_such_database",
        options.get_username(),
        options.get_host(),
        options.get_port()
    );
    let started = Instant::now();
    let error = connect_pool(&url, PgPoolOptions::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&error.cause, ConnectCause::UnknownDatabase(message) if message.contains("tenant_no_such_database")),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("/tenant_no_such_database")
            && message.contains(":***@")
            && !message.contains("hunter2"),
        "{message}"
    );
}

#[tokio::test]
async fn a_wrong_password_through_pgbouncer_is_an_authentication_failure() {
    // PostgreSQL trusts loopback; the tests' PgBouncer asks for a password
    // and reports a wrong one as SQLSTATE 08P01.
    require_pgbouncer().await;
    let url = format!(
        "postgres://{PGBOUNCER_USER}:not-the-password@{PGBOUNCER_HOST}:{PGBOUNCER_PORT}/postgres"
    );
    let started = Instant::now();
    let error = connect_pool(&url, PgPoolOptions::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&error.cause, ConnectCause::Authentication(message) if message.contains("authentication failed")),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "postgres://{PGBOUNCER_USER}:***@{PGBOUNCER_HOST}:{PGBOUNCER_PORT}/postgres"
        )) && message.contains("authentication failed")
            && !message.contains("not-the-password"),
        "{message}"
    );

    // The right password through the same pooler connects.
    let good = format!(
        "postgres://{PGBOUNCER_USER}:{PGBOUNCER_PASSWORD}@{PGBOUNCER_HOST}:{PGBOUNCER_PORT}/postgres"
    );
    let pool = connect_pool(
        &good,
        PgPoolOptions::new().max_connections(1),
        Duration::from_secs(5),
    )
    .await
    .expect("the right password");
    pool.close().await;
}

//! The service under test: its router on 127.0.0.1 port 0, over a database
//! of its own (dropped when the server value is), and a reqwest client.

use std::str::FromStr;
use std::time::Duration;

use forms_api::{router, setup, tokens, App, Settings};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::Tenancy;

pub const SECRET: &[u8] = b"forms-api test secret of 32 bytes or more";
pub const ADMIN_SECRET: &[u8] = b"forms-api test admin secret, 32 bytes or more";
pub const RSA_PRIVATE: &[u8] = include_bytes!("../keys/rsa-private.pem");
pub const RSA_PUBLIC: &[u8] = include_bytes!("../keys/rsa-public.pem");

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

pub struct Server {
    pub base: String,
    pub client: Client,
    #[allow(dead_code)] // for tests that reach into the tenancy
    pub tenancy: Tenancy,
    pub pool: PgPool,
    database: String,
    serving: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The service with HS256 tokens, all-must-agree, tenants onboarded.
    pub async fn start(tenants: &[&str]) -> Server {
        Self::start_with(tenants, |_| {}).await
    }

    /// The service with settings changed by `configure`.
    pub async fn start_with(tenants: &[&str], configure: impl FnOnce(&mut Settings)) -> Server {
        let mut settings = Settings::hs256(SECRET, ADMIN_SECRET).expect("settings");
        configure(&mut settings);
        let url = database_url();
        let database = format!("forms_api_test_{:016x}", unique());
        setup::create_database(&url, &database)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let tenancy = setup::tenancy(setup::config()).expect("tenancy");
        let pool = setup::open(&url, &database, &tenancy, 24)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for id in tenants {
            tenancy.onboard(&pool, id).await.expect("onboard");
        }
        let app = App::new(tenancy.clone(), pool.clone(), &settings).expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let serving = tokio::spawn(async move {
            axum::serve(listener, router(app)).await.expect("serve");
        });
        Server {
            base: format!("http://{addr}"),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            tenancy,
            pool,
            database,
            serving,
        }
    }

    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn token(&self, tenant: &str) -> String {
        tokens::tenant_token(SECRET, tenant, Duration::from_secs(600)).expect("token")
    }

    pub fn admin_token(&self) -> String {
        tokens::admin_token(ADMIN_SECRET, Duration::from_secs(600)).expect("token")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A GET with `Host` set to `host` (the subdomain source reads it).
    pub async fn get_with_host(&self, path: &str, token: &str, host: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("host", host)
            .send()
            .await
            .expect("request")
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a form for the token's tenant; its JSON.
    pub async fn create_form(&self, token: &str, title: &str) -> Value {
        let response = self
            .send_json(
                reqwest::Method::POST,
                "/forms",
                token,
                serde_json::json!({ "title": title }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.serving.abort();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        // Drop cannot await on the test's runtime: a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use tenant_runtime::sqlx::{
                    postgres::PgConnectOptions, ConnectOptions, Connection,
                };
                let mut connection = PgConnectOptions::from_str(&database_url())
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
                tenant_runtime::sqlx::raw_sql(&sql)
                    .execute(&mut connection)
                    .await
                    .ok()?;
                connection.close().await.ok()
            })
        })
        .join();
    }
}

/// The problem's kind from an `application/problem+json` response, after
/// checking the media type and that the status in the body is the status.
pub async fn problem(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    assert_eq!(media, "application/problem+json", "{status} {text}");
    let body: Value = serde_json::from_str(&text).expect("problem json");
    assert_eq!(body["status"], status.as_u16(), "{text}");
    let kind = body["type"]
        .as_str()
        .and_then(|t| t.rsplit(':').next())
        .unwrap_or_default()
        .to_string();
    (status, kind, text)
}

fn unique() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

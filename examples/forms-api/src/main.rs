//! `cargo run -p forms-api`: serves the forms API on 127.0.0.1:3000 over
//! database `tenant_forms_api` (created when missing) on the server of
//! `DATABASE_URL`, with two demo tenants, and prints tokens and `curl`
//! commands to try it.
//!
//! Environment: `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), `FORMS_API_ADDR`,
//! `FORMS_API_JWT_SECRET` and `FORMS_API_ADMIN_SECRET` (32 bytes or more;
//! development secrets when unset, with a warning), `FORMS_API_BASE_DOMAIN`
//! (subdomains of it name tenants too).

use std::error::Error;
use std::time::Duration;

use forms_api::{router, setup, tokens, App, Settings};
use tracing_subscriber::EnvFilter;

const DATABASE: &str = "tenant_forms_api";
const DEV_SECRET: &str = "forms-api development secret, not for production";
const DEV_ADMIN_SECRET: &str = "forms-api development admin secret, not for production";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn secret(variable: &str, development: &str) -> Vec<u8> {
    match std::env::var(variable) {
        Ok(value) => value.into_bytes(),
        Err(_) => {
            tracing::warn!("{variable} is not set: using the development secret");
            development.as_bytes().to_vec()
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let addr = std::env::var("FORMS_API_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let jwt_secret = secret("FORMS_API_JWT_SECRET", DEV_SECRET);
    let admin_secret = secret("FORMS_API_ADMIN_SECRET", DEV_ADMIN_SECRET);
    let mut settings = Settings::hs256(&jwt_secret, &admin_secret)?;
    settings.base_domain = std::env::var("FORMS_API_BASE_DOMAIN").ok();

    let tenancy = setup::tenancy(setup::config())?;
    setup::create_database(&url, DATABASE).await?;
    let pool = setup::open(&url, DATABASE, &tenancy, 16).await?;
    for id in ["org-alpha", "org-beta"] {
        tenancy.onboard(&pool, id).await?;
    }
    let app = App::new(tenancy, pool, &settings)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set FORMS_API_ADDR)"))?;
    let addr = listener.local_addr()?;

    let day = Duration::from_secs(24 * 3600);
    let alpha = tokens::tenant_token(&jwt_secret, "org-alpha", day)?;
    let admin = tokens::admin_token(&admin_secret, day)?;
    println!(
        "forms-api serving http://{addr} (database {DATABASE}; tenants org-alpha, org-beta)\n"
    );
    println!("a token for org-alpha (24 h):\n  ALPHA={alpha}\n");
    println!("try:");
    println!("  curl -s -H \"Authorization: Bearer $ALPHA\" -H 'content-type: application/json' \\\n       -d '{{\"title\":\"Customer survey\"}}' http://{addr}/forms");
    println!("  curl -s -H \"Authorization: Bearer $ALPHA\" http://{addr}/forms");
    println!("  curl -s -H \"Authorization: Bearer $ALPHA\" http://{addr}/t/org-beta/forms   # 403: the path names another tenant");
    println!("\nan admin token (24 h):\n  ADMIN={admin}");
    println!("  curl -s -H \"Authorization: Bearer $ADMIN\" -H 'content-type: application/json' \\\n       -d '{{\"id\":\"org-gamma\"}}' http://{addr}/admin/tenants");
    println!("\nCtrl-C stops it.");

    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(())
}

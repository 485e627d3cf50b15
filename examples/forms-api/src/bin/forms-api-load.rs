//! The extractor's cost: requests per second and median latency of
//! `GET /forms` through the tenant extractor (JWT verified, the handle from
//! the tenancy's cache) against the same handler with the tenant handed in
//! directly, in one run.
//!
//! `cargo run --release -p forms-api --bin forms-api-load [seconds] [connections]`
//! (defaults 5 s per round, 16 connections; three rounds, arms alternating).
//! The load client is this file's own: each connection is one keep-alive
//! HTTP/1.1 stream sending the next request when the last answer is read
//! (a closed loop), so the concurrency is bounded by the connections.

use std::error::Error;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use forms_api::model::Form;
use forms_api::{router, setup, tokens, App, Settings};
use tenant_runtime::sqlx::PgPool;
use tenant_runtime::Tenant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DATABASE: &str = "forms_api_load";
const SECRET: &[u8] = b"forms-api load secret, 32 bytes or more";
const TENANTS: usize = 10;

#[derive(Clone)]
struct Direct {
    pool: PgPool,
    tenants: Vec<Tenant>,
}

/// The same read as `GET /forms`, the tenant picked by a plain index header.
async fn direct_forms(State(direct): State<Direct>, headers: HeaderMap) -> Json<Vec<Form>> {
    let index: usize = headers
        .get("x-tenant-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let tenant = &direct.tenants[index % direct.tenants.len()];
    Json(
        Form::list(tenant)
            .fetch_all(&direct.pool)
            .await
            .unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    setup::drop_database(&url, DATABASE).await?;
    setup::create_database(&url, DATABASE).await?;
    let tenancy = setup::tenancy(setup::config())?;
    let pool = setup::open(&url, DATABASE, &tenancy, connections as u32).await?;
    let mut handles = Vec::new();
    let mut tokens_by_tenant = Vec::new();
    for i in 0..TENANTS {
        let id = format!("load-{i}");
        let tenant = tenancy.onboard(&pool, &id).await?.tenant;
        for n in 1..=3 {
            Form {
                id: n,
                tenant_id: id.clone(),
                title: format!("form {n}"),
                published: true,
            }
            .insert(&tenant)
            .fetch_one(&pool)
            .await?;
        }
        tokens_by_tenant.push(tokens::tenant_token(
            SECRET,
            &id,
            Duration::from_secs(3600),
        )?);
        handles.push(tenant);
    }
    let settings = Settings::hs256(SECRET, SECRET)?;
    let extractor = serve(router(App::new(tenancy, pool.clone(), &settings)?)).await?;
    let direct = serve(
        Router::new()
            .route("/forms", get(direct_forms))
            .with_state(Direct {
                pool: pool.clone(),
                tenants: handles,
            }),
    )
    .await?;

    let extractor_headers: Vec<String> = tokens_by_tenant
        .iter()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .collect();
    let direct_headers: Vec<String> = (0..TENANTS)
        .map(|i| format!("X-Tenant-Index: {i}\r\n"))
        .collect();
    let round = Duration::from_secs(seconds);
    // Warm both (connections, prepared statements, the tenant cache).
    load(
        &extractor,
        &extractor_headers,
        connections,
        Duration::from_secs(1),
    )
    .await?;
    load(
        &direct,
        &direct_headers,
        connections,
        Duration::from_secs(1),
    )
    .await?;

    println!("{connections} connections, {seconds} s per round, {TENANTS} tenants");
    println!("round  arm        requests/s  median µs");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for r in 1..=3 {
        let a = load(&extractor, &extractor_headers, connections, round).await?;
        let b = load(&direct, &direct_headers, connections, round).await?;
        println!("{r:>5}  extractor  {:>10.0}  {:>9.0}", a.rps, a.median_us);
        println!("{r:>5}  direct     {:>10.0}  {:>9.0}", b.rps, b.median_us);
        with.push(a);
        without.push(b);
    }
    let rps = |v: &[Measured]| median(v.iter().map(|m| m.rps).collect());
    let lat = |v: &[Measured]| median(v.iter().map(|m| m.median_us).collect());
    println!(
        "median of rounds: extractor {:.0} req/s, direct {:.0} req/s, ratio {:.3}; median latency added {:.0} µs",
        rps(&with),
        rps(&without),
        rps(&with) / rps(&without),
        lat(&with) - lat(&without)
    );
    pool.close().await;
    setup::drop_database(&url, DATABASE).await?;
    Ok(())
}

async fn serve(app: Router) -> Result<String, Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

struct Measured {
    rps: f64,
    median_us: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `connections` closed loops of `GET /forms` for `duration`, cycling
/// through `headers` (one per tenant).
async fn load(
    addr: &str,
    headers: &[String],
    connections: usize,
    duration: Duration,
) -> Result<Measured, Box<dyn Error>> {
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..connections {
        let addr = addr.to_string();
        let headers = headers.to_vec();
        workers.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let mut latencies = Vec::new();
            let mut buffer = vec![0u8; 64 * 1024];
            let mut i = c;
            while started.elapsed() < duration {
                let request = format!(
                    "GET /forms HTTP/1.1\r\nHost: bench\r\n{}\r\n",
                    headers[i % headers.len()]
                );
                i += 1;
                let sent = Instant::now();
                stream.write_all(request.as_bytes()).await?;
                read_response(&mut stream, &mut buffer).await?;
                latencies.push(sent.elapsed().as_micros() as f64);
            }
            Ok::<_, std::io::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Measured {
        rps: all.len() as f64 / elapsed,
        median_us: median(all),
    })
}

/// Reads one response (head, then `content-length` bytes); fails on a
/// status other than 200.
async fn read_response(stream: &mut TcpStream, buffer: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        filled += n;
        let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(std::io::Error::other(format!("unexpected answer: {head}")));
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while filled < end + 4 + length {
            let n = stream.read(&mut buffer[filled..]).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            filled += n;
        }
        return Ok(());
    }
}

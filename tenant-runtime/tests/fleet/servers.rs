//! The servers of the fleet tests: a database of its own on each of the
//! three servers `scripts/setup.sh` runs (127.0.0.1:5432, 5433, 5434), and
//! a private server a test may stop.

use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// The ports of the fleet servers besides `DATABASE_URL`'s.
pub const FLEET_PORTS: [u16; 2] = [5433, 5434];

const SETUP: &str = "run `bash scripts/setup.sh` (as root): it starts the fleet test servers on 127.0.0.1:5433 and 127.0.0.1:5434";

/// A database of one test on one server, dropped with this value.
pub struct ServerDb {
    /// Its URL (trust authentication: no password).
    pub url: String,
    /// A pool on it, for the test's own checks.
    pub pool: PgPool,
    name: String,
    admin: PgConnectOptions,
}

impl ServerDb {
    /// A new database on the `DATABASE_URL` server.
    pub async fn on_main() -> ServerDb {
        let admin = PgConnectOptions::from_str(&crate::support::admin_url())
            .expect("DATABASE_URL is not valid");
        ServerDb::create(admin, "the DATABASE_URL server").await
    }

    /// A new database on the fleet server at `port`; fails loudly, naming
    /// the setup command, when it is not running.
    pub async fn on_port(port: u16) -> ServerDb {
        let admin = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("postgres")
            .database("postgres");
        ServerDb::create(admin, &format!("the fleet server at 127.0.0.1:{port}")).await
    }

    async fn create(admin: PgConnectOptions, what: &str) -> ServerDb {
        let name = format!("tenant_fleet_{:016x}", unique());
        let mut connection =
            match tokio::time::timeout(Duration::from_secs(10), admin.connect()).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(e)) => panic!("{what} is not reachable ({e}): {SETUP}"),
                Err(_) => panic!("{what} did not answer within 10 s: {SETUP}"),
            };
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("create test database");
        connection.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .expect("connect to test database");
        let url = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            name
        );
        ServerDb {
            url,
            pool,
            name,
            admin,
        }
    }

    /// Whether the registry of this database lists `tenant`.
    pub async fn registers(&self, tenant: &str) -> bool {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenancy.tenants WHERE id = $1)")
            .bind(tenant)
            .fetch_one(&self.pool)
            .await
            .expect("read the registry")
    }

    /// The partitions attached to `parent` here.
    pub async fn partitions(&self, parent: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)")
            .bind(parent)
            .fetch_one(&self.pool)
            .await
            .expect("count partitions")
    }
}

impl Drop for ServerDb {
    fn drop(&mut self) {
        // Schema tenants' server-wide roles first, while the database that
        // shows which are ours exists.
        crate::support::exec_blocking(
            self.admin.clone().database(&self.name),
            crate::support::DROP_SCHEMA_TENANT_ROLES.to_string(),
        );
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin = self.admin.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut connection = admin.connect().await.ok()?;
                sqlx::raw_sql(&drop_database)
                    .execute(&mut connection)
                    .await
                    .ok()?;
                connection.close().await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// A PostgreSQL server of one test (initdb in a temporary directory, a
/// free port), which the test can stop: the real "server down".
pub struct PrivateServer {
    /// The URL of its `postgres` database.
    pub url: String,
    data: PathBuf,
    bin: PathBuf,
    running: bool,
}

impl PrivateServer {
    /// Creates and starts the server.
    pub fn start() -> PrivateServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                    .filter(|p| p.join("initdb").is_file())
                    .max()
            })
            .unwrap_or_else(|| {
                panic!("no PostgreSQL server binaries under /usr/lib/postgresql: {SETUP}")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = std::env::temp_dir().join(format!("tenant-fleet-{:016x}", unique()));
        std::fs::create_dir_all(&data).expect("create the data directory");
        as_postgres(Command::new("chown").arg("postgres:").arg(&data), false);
        let mut server = PrivateServer {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            data,
            bin,
            running: false,
        };
        server.run(
            "initdb",
            &[
                "-D",
                server.data_str(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off -c shared_buffers=16MB",
            server.data_str()
        );
        // With -l the server's output goes to a file: it must not hold
        // the pipes this process reads pg_ctl's output from.
        let log = format!("{}/server.log", server.data_str());
        server.run(
            "pg_ctl",
            &[
                "-D",
                server.data_str(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        server.running = true;
        server
    }

    /// Stops the server at once (`-m immediate`: as a crash would).
    pub fn stop(&mut self) {
        if self.running {
            self.run(
                "pg_ctl",
                &["-D", self.data_str(), "-m", "immediate", "-w", "stop"],
            );
            self.running = false;
        }
    }

    fn data_str(&self) -> &str {
        self.data.to_str().expect("a UTF-8 temporary path")
    }

    fn run(&self, program: &str, args: &[&str]) {
        let mut command = Command::new(self.bin.join(program));
        command.args(args);
        as_postgres(&mut command, true);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if self.running {
            let mut command = Command::new(self.bin.join("pg_ctl"));
            command.args(["-D", self.data_str(), "-m", "immediate", "stop"]);
            as_postgres(&mut command, false);
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Runs `command` as the `postgres` user (PostgreSQL refuses to run as
/// root): through `runuser` when this process is root.
fn as_postgres(command: &mut Command, must_succeed: bool) {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let output = if is_root && command.get_program() != "chown" {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(command.get_program())
            .args(command.get_args());
        wrapped.output()
    } else {
        command.output()
    };
    let ok = matches!(&output, Ok(o) if o.status.success());
    if must_succeed && !ok {
        panic!(
            "{:?} failed: {}",
            command,
            match output {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            }
        );
    }
}

fn unique() -> u64 {
    crate::support::fastrand_u64()
}

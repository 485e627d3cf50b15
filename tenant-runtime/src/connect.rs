//! Connecting with errors that say what happened.
//!
//! sqlx's pool retries a failing connection until its acquire timeout (30 s
//! by default) and then reports `PoolTimedOut`, without the cause or the
//! server it tried. [`connect_pool`] first opens one connection within a
//! short timeout and, when that fails, names the server (the URL without its
//! password) and the cause: refused, timed out, authentication, unknown
//! database, a URL that does not parse.
//!
//! ```no_run
//! # async fn start() -> Result<(), tenant_runtime::connect::ConnectError> {
//! use std::time::Duration;
//! use tenant_runtime::connect::connect_pool;
//! use tenant_runtime::sqlx::postgres::PgPoolOptions;
//!
//! let url = std::env::var("DATABASE_URL").unwrap_or_default();
//! let pool = connect_pool(&url, PgPoolOptions::new().max_connections(8), Duration::from_secs(5)).await?;
//! # drop(pool);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// Why a connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectCause {
    /// The URL does not parse as a PostgreSQL connection URL.
    InvalidUrl(String),
    /// Nothing listens on that host and port.
    Refused,
    /// No answer within the timeout.
    TimedOut(Duration),
    /// The server refused the user or its password (SQLSTATE 28000, 28P01;
    /// PgBouncer's 08P01 "password authentication failed").
    Authentication(String),
    /// The server has no database of that name (SQLSTATE 3D000).
    UnknownDatabase(String),
    /// Anything else, as the driver said it.
    Other(String),
}

/// A connection that could not be made: where to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The URL with its password replaced by `***`.
    pub url: String,
    /// What went wrong.
    pub cause: ConnectCause,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.cause {
            ConnectCause::InvalidUrl(detail) => {
                write!(f, "the database URL {url} is not valid: {detail}")
            }
            ConnectCause::Refused => write!(
                f,
                "cannot connect to {url}: connection refused (is PostgreSQL running and listening on that host and port?)"
            ),
            ConnectCause::TimedOut(after) => write!(
                f,
                "cannot connect to {url}: no answer within {} ms (a firewall, a wrong host, or an overloaded server)",
                after.as_millis()
            ),
            ConnectCause::Authentication(message) => write!(
                f,
                "cannot connect to {url}: authentication failed: {message}"
            ),
            ConnectCause::UnknownDatabase(message) => write!(
                f,
                "cannot connect to {url}: {message} (create it, or fix the database name in the URL)"
            ),
            ConnectCause::Other(message) => write!(f, "cannot connect to {url}: {message}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// `url` with the password replaced by `***`, for messages and logs. A URL
/// that does not look like `scheme://user:password@host..` is returned with
/// everything between `://` and the last `@` hidden, if it has an `@`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    // The authority ends at the first `/`, `?` or `#`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let user_info = &authority[..at];
    let redacted = match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => user_info.to_string(),
    };
    format!(
        "{}{redacted}{}{}",
        &url[..scheme_end],
        &authority[at..],
        &rest[authority_end..]
    )
}

/// The cause a SQLSTATE names, if it is one the user can act on.
///
/// PgBouncer (1.18) reports a wrong password as a protocol violation,
/// SQLSTATE 08P01, with the text "password authentication failed" (md5,
/// plain) or "SASL authentication failed" (scram-sha-256): an 08P01 whose
/// message says authentication failed is [`ConnectCause::Authentication`].
pub fn cause_from_sqlstate(code: &str, message: &str) -> Option<ConnectCause> {
    match code {
        "28000" | "28P01" => Some(ConnectCause::Authentication(message.to_string())),
        "08P01" if message.contains("authentication failed") => {
            Some(ConnectCause::Authentication(message.to_string()))
        }
        "3D000" => Some(ConnectCause::UnknownDatabase(message.to_string())),
        _ => None,
    }
}

/// What a sqlx error means for a connection attempt.
fn classify(error: &sqlx::Error, timeout: Duration) -> ConnectCause {
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ConnectCause::Refused
        }
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ConnectCause::TimedOut(timeout)
        }
        sqlx::Error::PoolTimedOut => ConnectCause::TimedOut(timeout),
        sqlx::Error::Configuration(detail) => ConnectCause::InvalidUrl(detail.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            cause_from_sqlstate(&code, db.message())
                .unwrap_or_else(|| ConnectCause::Other(format!("{} [{code}]", db.message())))
        }
        other => ConnectCause::Other(other.to_string()),
    }
}

/// Parses `url`, or says why it does not parse (without the password).
pub fn connect_options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    PgConnectOptions::from_str(url).map_err(|error| ConnectError {
        url: redact_url(url),
        cause: match error {
            sqlx::Error::Configuration(detail) => ConnectCause::InvalidUrl(detail.to_string()),
            other => ConnectCause::InvalidUrl(other.to_string()),
        },
    })
}

/// The server `options` name, as a URL without a password.
pub fn describe_options(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

/// Opens one connection to `url` within `timeout`.
pub async fn connect_one(url: &str, timeout: Duration) -> Result<PgConnection, ConnectError> {
    let options = connect_options(url)?;
    connect_one_as(&options, redact_url(url), timeout).await
}

async fn connect_one_as(
    options: &PgConnectOptions,
    shown_as: String,
    timeout: Duration,
) -> Result<PgConnection, ConnectError> {
    let error = |cause| ConnectError {
        url: shown_as.clone(),
        cause,
    };
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(error(classify(&e, timeout))),
        Err(_) => Err(error(ConnectCause::TimedOut(timeout))),
    }
}

/// A pool for `url` built from `pool_options`, after one connection opened
/// within `timeout` showed the server answers: a wrong URL fails fast and
/// says why, instead of waiting for the pool's acquire timeout.
pub async fn connect_pool(
    url: &str,
    pool_options: PgPoolOptions,
    timeout: Duration,
) -> Result<PgPool, ConnectError> {
    let options = connect_options(url)?;
    connect_as(options, pool_options, redact_url(url), timeout).await
}

/// [`connect_pool`] for options built in code (for example
/// `Tenancy::connect_options`); errors show the server as
/// [`describe_options`] does.
pub async fn connect_pool_with(
    options: PgConnectOptions,
    pool_options: PgPoolOptions,
    timeout: Duration,
) -> Result<PgPool, ConnectError> {
    let shown_as = describe_options(&options);
    connect_as(options, pool_options, shown_as, timeout).await
}

async fn connect_as(
    options: PgConnectOptions,
    pool_options: PgPoolOptions,
    shown_as: String,
    timeout: Duration,
) -> Result<PgPool, ConnectError> {
    let probe = connect_one_as(&options, shown_as.clone(), timeout).await?;
    // Best effort: the server answered, which is all the probe was for.
    let _ = probe.close().await;
    pool_options
        .connect_with(options)
        .await
        .map_err(|e| ConnectError {
            url: shown_as,
            cause: classify(&e, timeout),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/app?sslmode=require"),
            "postgres://app:***@db.example:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@127.0.0.1/app"),
            "postgres://app@127.0.0.1/app"
        );
        assert_eq!(
            redact_url("postgresql://u:p%40ss@h/db"),
            "postgresql://u:***@h/db"
        );
        // An `@` in the password itself (unencoded): everything up to the
        // last `@` of the authority is user info.
        assert_eq!(redact_url("postgres://u:a@b@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            redact_url("postgres://h/db?user=x"),
            "postgres://h/db?user=x"
        );
    }

    #[test]
    fn sqlstates_that_name_a_cause() {
        assert_eq!(
            cause_from_sqlstate("28P01", "password authentication failed for user \"app\""),
            Some(ConnectCause::Authentication(
                "password authentication failed for user \"app\"".into()
            ))
        );
        assert!(matches!(
            cause_from_sqlstate("28000", "no pg_hba.conf entry"),
            Some(ConnectCause::Authentication(_))
        ));
        assert!(matches!(
            cause_from_sqlstate("3D000", "database \"x\" does not exist"),
            Some(ConnectCause::UnknownDatabase(_))
        ));
        assert_eq!(cause_from_sqlstate("53300", "too many clients"), None);
        // PgBouncer's wrong password, with md5 and with scram-sha-256; other
        // protocol violations stay what they are.
        for message in [
            "password authentication failed",
            "SASL authentication failed",
        ] {
            assert_eq!(
                cause_from_sqlstate("08P01", message),
                Some(ConnectCause::Authentication(message.into()))
            );
        }
        assert_eq!(
            cause_from_sqlstate("08P01", "unsupported startup parameter: options"),
            None
        );
    }

    #[test]
    fn messages_name_the_server_and_the_cause_but_not_the_password() {
        let error = ConnectError {
            url: redact_url("postgres://app:hunter2@127.0.0.1:1/app"),
            cause: ConnectCause::Refused,
        };
        let message = error.to_string();
        assert!(
            message.contains("postgres://app:***@127.0.0.1:1/app"),
            "{message}"
        );
        assert!(message.contains("connection refused"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn options_are_described_without_a_password() {
        let options = connect_options("postgres://app:hunter2@db.example:6432/forms").unwrap();
        assert_eq!(
            describe_options(&options),
            "postgres://app@db.example:6432/forms"
        );
    }

    #[test]
    fn a_url_that_does_not_parse_is_named_without_its_password() {
        let error = connect_options("postgres://app:hunter2@127.0.0.1:notaport/app").unwrap_err();
        assert!(
            matches!(error.cause, ConnectCause::InvalidUrl(_)),
            "{error:?}"
        );
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

//! `tenant`: lint SQL for cross-tenant leaks (`tenant check`) and administer
//! the tenants of a database (`tenant onboard`, `offboard`, `list`, ...).
//!
//! Exit status: 0 success (every statement accepted), 1 a violation was
//! found (or `schema --check` found a difference, or `status` a database
//! that does not answer, or `migrate` refused a migration whose locks would
//! not fit the lock table), 2 usage error, unreadable input, bad configuration, SQL that does
//! not parse, or a failed admin command. Errors are one line on stderr.

mod admin;
mod check;
mod fleet;
mod migrate;
mod schema_check;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tenant_core::Config;

/// Used when neither `--database-url` nor `DATABASE_URL` is given.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Exit status for usage errors, unreadable input, bad configuration and
/// failed commands (clap uses the same for its own usage errors).
const EXIT_ERROR: u8 = 2;

/// Prove every SQL statement is restricted to the requesting tenant, and
/// administer tenant partitions.
#[derive(Debug, Parser)]
#[command(name = "tenant", version, about, propagate_version = true)]
struct Cli {
    /// The tenancy configuration to use [default: ./tenancy.toml when present,
    /// else the built-in defaults].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// The PostgreSQL database the admin subcommands work on.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: String,

    /// The schema of the tenant registry [default: `registry_schema` of the
    /// configuration, else `tenancy`]. It must be the application's: a
    /// second registry in one database is another tenancy.
    #[arg(long, global = true, value_name = "SCHEMA")]
    registry_schema: Option<String>,

    /// Work on the one database of --database-url even when the
    /// configuration declares a fleet (`[[databases]]`): for the
    /// subcommands that work on one database at a time (move-keys, schema).
    #[arg(long, global = true)]
    single_database: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check SQL files (or stdin) for references to tenant tables that are
    /// not restricted to the requesting tenant.
    Check(check::CheckArgs),
    /// Apply a directory of sqlx migrations to every database (the
    /// `[[databases]]` of the configuration, else DATABASE_URL's), one at a
    /// time, after a preflight on all of them that refuses a migration
    /// whose locks would not fit the server's lock table (exit status 1).
    Migrate(migrate::MigrateArgs),
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Prints help/version (exit 0) or the usage error (exit 2).
        Err(err) => err.exit(),
    };
    // An analyzer bug must not leak a backtrace to the user: the hook has
    // printed one line, and the exit status says the input was not checked.
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(code) => code,
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}

fn run(cli: Cli) -> ExitCode {
    let mut config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if let Some(schema) = cli.registry_schema {
        if schema.is_empty() {
            eprintln!("error: --registry-schema must not be empty");
            return ExitCode::from(EXIT_ERROR);
        }
        // As written: the flag names the schema exactly (no folding).
        config.registry_schema = Some(schema);
    }
    match cli.command {
        Command::Check(args) => ExitCode::from(check::run(&args, config)),
        Command::Migrate(args) => {
            match migrate::run(&args, &cli.database_url, &config, cli.single_database) {
                migrate::Outcome::Success => ExitCode::SUCCESS,
                migrate::Outcome::Refused(message) => {
                    eprintln!("error: {}", one_line(&message));
                    ExitCode::from(1)
                }
                migrate::Outcome::Failed(message) => {
                    eprintln!("error: {}", one_line(&message));
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
        Command::Admin(command) => {
            match admin::run(command, &cli.database_url, &config, cli.single_database) {
                Ok(admin::Outcome::Success) => ExitCode::SUCCESS,
                Ok(admin::Outcome::Differences | admin::Outcome::Unreachable) => ExitCode::from(1),
                Err(err) => {
                    eprintln!("error: {}", one_line(&err.to_string()));
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
    }
}

/// `--config PATH` when given; otherwise `./tenancy.toml` when it exists;
/// otherwise the defaults.
fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let local = Path::new(tenant_core::config::FILE_NAME);
            if !local.is_file() {
                return Ok(Config::default());
            }
            local.to_path_buf()
        }
    };
    Config::load(&path).map_err(|err| one_line(&err.to_string()))
}

/// Folds a multi-line message into one line, so every error is exactly one
/// line on stderr. TOML errors quote the offending line with a gutter and
/// carets; the message already names the line, column and key, so the
/// excerpt is dropped.
fn one_line(message: &str) -> String {
    let is_excerpt = |line: &str| {
        line.chars().all(|c| matches!(c, '|' | '^' | ' '))
            || line
                .split_once(" | ")
                .is_some_and(|(gutter, _)| gutter.chars().all(|c| c.is_ascii_digit()))
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_excerpt(line))
        .collect::<Vec<_>>()
        .join(": ")
}

/// Replaces the default panic output (message plus backtrace hint) with one
/// line that says what happened and that it is a bug.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{location} (this is a bug in tenant; please report it with the input)",
            one_line(&payload)
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn multi_line_errors_become_one_line() {
        assert_eq!(
            one_line(
                "TOML parse error at line 1, column 5\n  |\n1 | x = \n  |    ^\nexpected value\n"
            ),
            "TOML parse error at line 1, column 5: expected value"
        );
    }
}

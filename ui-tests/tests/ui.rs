//! trybuild runner. See the crate docs (src/lib.rs) for how configuration and
//! snapshots work.

use std::path::{Path, PathBuf};

/// Runs one trybuild batch with the macros reading `config`.
fn run_with_config(config: &str, fail: &str, pass: Option<&str>) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join(config);
    assert!(config.is_file(), "{} is missing", config.display());
    // Inherited by the cargo and rustc processes trybuild spawns. This is the
    // only test in this binary, so nothing reads the environment concurrently.
    std::env::set_var("TENANCY_CONFIG", &config);
    let cases = trybuild::TestCases::new();
    cases.compile_fail(fail);
    if let Some(pass) = pass {
        cases.pass(pass);
    }
    // Dropping runs the batch (and panics on failure).
}

/// Where trybuild builds the cases: `<target>/tests/trybuild/ui-tests`.
fn trybuild_project() -> PathBuf {
    // <target>/debug/deps/<this test>
    let target = std::env::current_exe()
        .expect("the test's path")
        .ancestors()
        .nth(3)
        .expect("the target directory")
        .to_path_buf();
    target.join("tests").join("trybuild").join("ui-tests")
}

/// The type-checked batch (`check_types = true`): sqlx's macros run
/// offline from the committed `tests/checked/.sqlx`, copied where they look
/// (the generated project's `.sqlx`), whatever `DATABASE_URL` says.
///
/// With `TENANT_SQLX_PREPARE` set to a database URL (`scripts/sqlx-prepare.sh`
/// does it), the batch runs online against that database instead and sqlx
/// writes the data into `tests/checked/.sqlx`; nothing is asserted then.
fn run_checked() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/checked/.sqlx");
    let project_data = trybuild_project().join(".sqlx");
    let _ = std::fs::remove_dir_all(&project_data);
    if let Ok(url) = std::env::var("TENANT_SQLX_PREPARE") {
        std::env::set_var("SQLX_OFFLINE", "false");
        std::env::set_var("DATABASE_URL", url);
        std::env::set_var("SQLX_OFFLINE_DIR", &data);
        let _ = std::panic::catch_unwind(|| {
            run_with_config(
                "tests/checked/tenancy.toml",
                "tests/checked/fail/*.rs",
                Some("tests/checked/pass/*.rs"),
            )
        });
        return;
    }
    std::fs::create_dir_all(&project_data).expect("the project's .sqlx");
    for entry in std::fs::read_dir(&data).expect("tests/checked/.sqlx") {
        let path = entry.expect("a data file").path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&path, project_data.join(path.file_name().unwrap()))
                .expect("copy the query data");
        }
    }
    std::env::set_var("SQLX_OFFLINE", "true");
    std::env::remove_var("SQLX_OFFLINE_DIR");
    run_with_config(
        "tests/checked/tenancy.toml",
        "tests/checked/fail/*.rs",
        Some("tests/checked/pass/*.rs"),
    );
}

#[test]
fn ui() {
    if std::env::var_os("TENANT_SQLX_PREPARE").is_some() {
        run_checked();
        return;
    }
    run_with_config("tenancy.toml", "tests/fail/*.rs", Some("tests/pass/*.rs"));
    run_with_config(
        "tests/forbid-delete/tenancy.toml",
        "tests/forbid-delete/fail/*.rs",
        Some("tests/forbid-delete/pass/*.rs"),
    );
    run_with_config(
        "tests/config-typo/tenancy.toml",
        "tests/config-typo/fail/*.rs",
        None,
    );
    run_checked();
}

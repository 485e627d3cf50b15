//! trybuild runner. See the crate docs (src/lib.rs) for how configuration and
//! snapshots work.

use std::path::Path;

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

#[test]
fn ui() {
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
}

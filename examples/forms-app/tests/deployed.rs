//! The example as a deployed binary: copied away from the source tree and
//! run from an empty directory, it still uses the configuration its queries
//! were checked against (embedded at build time), not the defaults; it shows
//! a tenant of each layout and leaves no role behind on the server.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_binary_run_elsewhere_uses_the_embedded_configuration() {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_forms-app"));
    let elsewhere = std::env::temp_dir().join(format!("forms-app-deployed-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).expect("temporary directory");
    let binary = elsewhere.join("forms-app");
    std::fs::copy(&built, &binary).expect("copy the binary");
    assert!(!elsewhere.join("tenancy.toml").exists());

    let database = format!("tenant_example_deployed_{}", std::process::id());
    let output = Command::new(&binary)
        .current_dir(&elsewhere)
        .env("FORMS_APP_DATABASE", &database)
        .env_remove("TENANCY_CONFIG")
        .output()
        .expect("run the copied binary");
    std::fs::remove_dir_all(&elsewhere).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the binary failed:\n{stdout}\n{stderr}\n(is PostgreSQL up? bash scripts/setup.sh)"
    );
    // The defaults have no global tables; the example's tenancy.toml has "plans".
    assert!(
        stdout.contains(r#"configuration (embedded at build time): tenant column "tenant_id", global tables {"plans"}"#),
        "{stdout}"
    );
    // One tenant of each layout, with where its rows live.
    assert!(
        stdout.contains("org-alpha  partition layout, rows in partitions forms_t"),
        "{stdout}"
    );
    assert!(
        stdout.contains("org-beta   schema layout, rows in schema tenant_t"),
        "{stdout}"
    );
    assert!(
        stdout.contains("offboarded org-beta (its schema kept as the archive tenant_t"),
        "{stdout}"
    );
    // The server-wide roles went before the database: at least the group
    // role of the schema tenants (org-beta's own went with its offboarding).
    let dropped = stdout
        .lines()
        .find_map(|line| line.strip_prefix("dropped roles: "))
        .unwrap_or_else(|| panic!("no \"dropped roles\" line:\n{stdout}"));
    assert!(dropped.contains("\"tenants_"), "{dropped}");
    assert!(
        stdout.contains(&format!("done: dropped database {database}")),
        "{stdout}"
    );
}

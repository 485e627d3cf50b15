//! The committed list of PostgreSQL's built-in functions, system relations and
//! operators (tenant-core/src/analyzer/catalog_list.rs) is what its generator
//! makes of the real server (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`): it runs
//! tenant-core/tools/gen_catalog.sh into a temporary file and compares.
//!
//! The first line, which names the server's full version, is left out of the
//! comparison: the catalog does not change between minor releases.

use std::path::{Path, PathBuf};
use std::process::Command;

const REGENERATE: &str = "bash tenant-core/tools/gen_catalog.sh";

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tenant-cli is in the workspace")
        .to_path_buf()
}

/// The file without its `// @generated .. from PostgreSQL <version>` line.
fn body(text: &str) -> &str {
    text.split_once('\n').map_or("", |(_, rest)| rest)
}

fn header(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[test]
fn catalog_list_matches_the_server() {
    if let Err(e) = Command::new("psql").arg("--version").output() {
        panic!(
            "psql is needed to check tenant-core/src/analyzer/catalog_list.rs against \
             PostgreSQL, and it cannot be run ({e}); install the PostgreSQL client: \
             `apt-get install postgresql-client` (Debian/Ubuntu) or `brew install libpq` (macOS)"
        );
    }

    let root = workspace_root();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let generated_path = dir.path().join("catalog_list.rs");
    let output = Command::new("bash")
        .arg(root.join("tenant-core/tools/gen_catalog.sh"))
        .arg(&generated_path)
        .env("DATABASE_URL", database_url())
        .output()
        .expect("run bash tenant-core/tools/gen_catalog.sh");
    assert!(
        output.status.success(),
        "tenant-core/tools/gen_catalog.sh failed against {} ({}):\n{}",
        database_url(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let generated = std::fs::read_to_string(&generated_path).expect("read the generated list");
    let committed = std::fs::read_to_string(root.join("tenant-core/src/analyzer/catalog_list.rs"))
        .expect("read tenant-core/src/analyzer/catalog_list.rs");
    if body(&generated) != body(&committed) {
        let first_difference = body(&generated)
            .lines()
            .zip(body(&committed).lines())
            .enumerate()
            .find(|(_, (g, c))| g != c)
            .map_or_else(
                || "one file is a prefix of the other".to_string(),
                |(i, (g, c))| format!("line {}: server has `{g}`, committed has `{c}`", i + 2),
            );
        panic!(
            "tenant-core/src/analyzer/catalog_list.rs is out of date with the server at {}.\n\
             committed: {}\n\
             server:    {}\n\
             first difference: {first_difference}\n\
             Regenerate it with `{REGENERATE}` (DATABASE_URL selects the server), review \
             the change and commit it.",
            database_url(),
            header(&committed),
            header(&generated),
        );
    }
}

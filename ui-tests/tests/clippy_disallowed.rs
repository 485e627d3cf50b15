//! The `clippy.toml` the book documents (docs/guide/cross-tenant.md) keeps
//! raw sqlx queries out of application code: clippy, run on a small crate
//! with exactly that file, reports every raw call outside the module that
//! allows them, whatever path the call takes, and none inside it.
//!
//! The crate is generated under the target directory (with the workspace's
//! Cargo.lock, offline) and checked in trybuild's target directory, whose
//! build-script outputs (pg_query's C library) it shares.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The first ```toml block after the "tested" marker in the book page.
fn documented_clippy_toml(workspace: &Path) -> String {
    let page = workspace.join("docs/guide/cross-tenant.md");
    let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let marker = text
        .find("tested: ui-tests/tests/clippy_disallowed.rs")
        .expect("the book page marks the clippy.toml block it documents");
    let rest = &text[marker..];
    let start = rest
        .find("```toml\n")
        .expect("a ```toml block after the marker")
        + 8;
    let end = rest[start..].find("```").expect("the block ends") + start;
    rest[start..end].to_string()
}

/// The calls, one per line; the allowed module's lines are marked.
const LIB: &str = r#"
use tenant_runtime::sqlx::PgPool;

pub mod migrations {
    #![allow(clippy::disallowed_methods)]
    use tenant_runtime::sqlx::PgPool;

    pub async fn run(pool: &PgPool) {
        let _ = tenant_runtime::sqlx::raw_sql("CREATE TABLE t (id int)").execute(pool).await; // allowed
        let _ = tenant_runtime::sqlx::query("SELECT 1").execute(pool).await; // allowed
    }
}

pub async fn handler(pool: &PgPool) {
    use tenant_runtime::sqlx::query_scalar;
    let _ = tenant_runtime::sqlx::query("SELECT * FROM forms").execute(pool).await; // refused
    let _ = tenant_runtime::sqlx::query_as::<_, (i64,)>("SELECT 1").fetch_all(pool).await; // refused
    let _ = query_scalar::<_, i64>("SELECT 1").fetch_one(pool).await; // refused
    let _ = tenant_runtime::sqlx::raw_sql("DELETE FROM forms").execute(pool).await; // refused
}
"#;

#[test]
fn the_documented_clippy_toml_refuses_raw_sql_outside_the_allowed_module() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // target/debug/deps/<this test> -> target
    let target: PathBuf = std::env::current_exe()
        .unwrap()
        .ancestors()
        .nth(3)
        .unwrap()
        .to_path_buf();
    let project = target.join("tests").join("clippy-disallowed");
    std::fs::create_dir_all(project.join("src")).unwrap();
    let runtime = workspace.join("tenant-runtime");
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"clippy-disallowed\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\ntenant-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            runtime.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    std::fs::write(
        project.join("clippy.toml"),
        documented_clippy_toml(workspace),
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), LIB).unwrap();

    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["clippy", "--offline", "--quiet", "--message-format=short"])
        .arg("--manifest-path")
        .arg(project.join("Cargo.toml"))
        .args(["--", "-D", "clippy::disallowed_methods"])
        .env("CARGO_TARGET_DIR", target.join("tests").join("trybuild"))
        .env_remove("RUSTFLAGS")
        .env_remove("CLIPPY_CONF_DIR")
        .output()
        .expect("run cargo clippy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "clippy accepted raw SQL outside the allowed module:\n{stderr}"
    );
    let reported: Vec<usize> = stderr
        .lines()
        .filter(|line| line.contains("use of a disallowed method"))
        .filter_map(|line| line.split(':').nth(1)?.parse().ok())
        .collect();
    let line_of = |marker: &str| -> Vec<usize> {
        LIB.lines()
            .enumerate()
            .filter(|(_, line)| line.ends_with(marker))
            .map(|(i, _)| i + 1)
            .collect()
    };
    assert_eq!(line_of("// refused").len(), 4);
    assert_eq!(reported, line_of("// refused"), "{stderr}");
}

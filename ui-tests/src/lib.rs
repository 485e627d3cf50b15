//! Compile-fail and compile-pass tests of the tenant macros, run with
//! [trybuild](https://docs.rs/trybuild): `cargo test -p ui-tests`.
//!
//! * `tests/fail/*.rs`: each case must fail to compile with exactly the
//!   error in its `.stderr` snapshot (leaking queries, derive mistakes,
//!   wrong arguments).
//! * `tests/pass/*.rs`: safe forms that must compile (their `main` never
//!   touches a database).
//! * `tests/forbid-delete/`: cases compiled with `forbid_delete = true`.
//!
//! ## Configuration
//! trybuild compiles the cases in a generated project under
//! `target/tests/trybuild/ui-tests/`, so `CARGO_MANIFEST_DIR` of the cases
//! is that directory, and the macros' walk up to the workspace root would
//! stop there (the generated manifest declares its own `[workspace]`).
//! `tests/ui.rs` therefore points the macros at `ui-tests/tenancy.toml`
//! (or `tests/forbid-delete/tenancy.toml`) through `TENANCY_CONFIG`, which
//! the macros read first.
//!
//! ## Snapshots
//! The `.stderr` snapshots hold rustc's exact output and were recorded with
//! **rustc 1.95.0**; other compiler versions word some notes differently.
//! After a deliberate change in the messages (or a compiler upgrade),
//! regenerate them and review every diff by eye:
//!
//! ```text
//! TRYBUILD=overwrite cargo test -p ui-tests
//! ```

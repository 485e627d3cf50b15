//! The runtime guard: SQL built at run time (or written elsewhere) checked by
//! the same analyzer as the macros, before it reaches PostgreSQL.
//!
//! Results are cached by SQL text (bounded, shared across threads), so a
//! statement an application sends over and over is analysed once.
//!
//! - [`GuardMode::Enforce`]: a statement that could touch another tenant's
//!   rows is refused with [`GuardError`] and never sent.
//! - [`GuardMode::DryRun`]: the statement runs; the violation is logged
//!   through `tracing` (target `tenant_runtime::guard`) with the statement's
//!   fingerprint, and counted. Use it to roll the guard out on an existing
//!   application before enforcing.
//!
//! By default the guard is *lenient*: SQL written without the macros binds
//! the tenant with an ordinary parameter or literal (`tenant_id = $1`), so
//! any single parameter or literal binds, as long as a statement binds every
//! tenant table to the same one. [`GuardBuilder::strict`] requires `$tenant`.
//!
//! [`GuardedPool`] applies the guard to every query sent through it, so an
//! existing sqlx application adopts it by swapping `&pool` for `&guarded`.
//! [`GuardedPool::for_tenant`] binds the guard to one tenant: its queries
//! are checked in strict mode (`$tenant` is the only tenant value), and
//! `$tenant` is filled in with that tenant's id, so a query can neither
//! name another tenant nor forget to name one.
//!
//! In the schema layout a tenant's transaction runs as the tenant's role
//! with a transaction-local `search_path`; the guard refuses SQL that
//! would move that wall or reach past it, in either mode and either
//! layout: `SET`/`RESET` of `search_path`, `role` or
//! `session_authorization` (`SET ROLE`, `SET SESSION AUTHORIZATION`,
//! `SET SCHEMA`), `RESET ALL`, `set_config` of those settings or of a
//! setting name that is not a constant, and writing `pg_settings` (rule
//! `search-path-or-role`); and any name qualified by a tenant's schema,
//! `tenant_t7_k3x9q2.forms` or its `_archive`, the tenant's own included
//! (rule `tenant-schema-reference`): unqualified names resolve in the
//! tenant's schema already.

mod check;
mod pool;
mod tenant;

pub use check::{Guard, GuardBuilder, GuardError, GuardMode, GuardStats, DEFAULT_GUARD_CAPACITY};
pub use pool::GuardedPool;
pub use tenant::{TenantGuard, TenantQuery};

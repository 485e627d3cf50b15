//! The tenant transaction that unchecked SQL cannot switch.
//!
//! Row-level security needs to know which tenant a transaction is for. A
//! plain setting (`app.tenant_id`) is not enough: SQL run inside the
//! transaction can call `set_config('app.tenant_id', 'beta', true)` and read
//! beta's rows. So the policies read the tenant from a function that
//! *verifies* it, [`current_tenant`](current_tenant_function):
//!
//! - [`Tenant::begin`](crate::Tenant::begin) calls `enter(tenant, key)`, a
//!   `SECURITY DEFINER` function of the registry. It checks the
//!   application's tenant key (a random secret made by `install`, kept in a
//!   table only the tables' owner can read, passed as a bind parameter, so
//!   no SQL text and no setting ever shows it) and sets two
//!   transaction-local settings: the tenant, and a proof, an HMAC-SHA256
//!   with another secret of the registry over the tenant, the backend's pid
//!   and the transaction's start time.
//! - `current_tenant()`, also `SECURITY DEFINER`, returns the tenant only
//!   when the proof matches for this backend and this transaction. Setting
//!   `tenancy.tenant` by hand gives a tenant without a proof (NULL: no
//!   rows); a proof copied from an earlier transaction names another start
//!   time; a key or a proof for another tenant cannot be made without the
//!   secrets, which only the owner can read.
//!
//! What this does not stop: a role that owns the tables or can read the
//! secrets (the owner, a superuser, a role that may `SET ROLE` to the
//! owner) is not subject to the policies in the first place.

use sqlx::PgConnection;
use tenant_core::schema::qualified_name;

/// The transaction-local settings `enter` sets.
pub(crate) const TENANT_GUC: &str = "tenancy.tenant";
/// The proof that the tenant in [`TENANT_GUC`] was set by `enter`.
pub(crate) const PROOF_GUC: &str = "tenancy.proof";

/// The table that holds the registry's secrets.
fn key_table(schema: &str) -> String {
    qualified_name(Some(schema), "tenant_key")
}

/// `schema.current_tenant()`: what the policies compare the tenant column
/// with.
pub fn current_tenant_function(schema: &str) -> String {
    format!("{}()", qualified_name(Some(schema), "current_tenant"))
}

/// `schema.enter`: what a tenant transaction calls first.
pub(crate) fn enter_function(schema: &str) -> String {
    qualified_name(Some(schema), "enter")
}

/// The HMAC of `tenant_expr` for this backend and transaction, with the
/// pads of the key row aliased `k` (SQL text shared by both functions).
fn mac_sql(tenant_expr: &str) -> String {
    format!(
        "encode(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(\
         {tenant_expr} || E'\\n' || pg_backend_pid()::text || E'\\n' || \
         extract(epoch from now())::text, 'UTF8'))), 'hex')"
    )
}

/// DDL of the secrets table, its one row and the two functions
/// (idempotent; run by install as the tables' owner).
pub(super) fn session_ddl(schema: &str) -> Vec<String> {
    let table = key_table(schema);
    let pad = qualified_name(Some(schema), "hmac_pad");
    let enter = enter_function(schema);
    let current = current_tenant_function(schema);
    let random_32 = "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())";
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    \
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),\n    \
             app_key bytea NOT NULL,\n    \
             inner_pad bytea NOT NULL,\n    \
             outer_pad bytea NOT NULL\n)"
        ),
        format!("REVOKE ALL ON {table} FROM PUBLIC"),
        // The HMAC key xor'ed with ipad/opad, computed once.
        format!(
            "CREATE OR REPLACE FUNCTION {pad}(key bytea, byte int) RETURNS bytea \
             LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$\n\
             DECLARE padded bytea := key || decode(repeat('00', 64 - length(key)), 'hex');\n\
             BEGIN\n\
             FOR i IN 0..63 LOOP padded := set_byte(padded, i, get_byte(padded, i) # byte); END LOOP;\n\
             RETURN padded;\n\
             END\n$fn$"
        ),
        format!(
            "INSERT INTO {table} (app_key, inner_pad, outer_pad) \
             SELECT app_key, {pad}(mac_key, 54), {pad}(mac_key, 92) \
               FROM (SELECT {random_32} AS app_key, {random_32} AS mac_key) r \
             ON CONFLICT (singleton) DO NOTHING"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {enter}(tenant text, key bytea) RETURNS void \
             LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$\n\
             DECLARE k record;\n\
             BEGIN\n\
             IF tenant IS NULL OR tenant = '' THEN\n\
             RAISE EXCEPTION 'tenancy: no tenant given' USING ERRCODE = '22023';\n\
             END IF;\n\
             SELECT inner_pad, outer_pad INTO k FROM {table} WHERE app_key = key;\n\
             IF NOT FOUND THEN\n\
             RAISE EXCEPTION 'tenancy: the tenant key does not match this registry' USING ERRCODE = '28P01';\n\
             END IF;\n\
             PERFORM set_config('{TENANT_GUC}', tenant, true);\n\
             PERFORM set_config('{PROOF_GUC}', {mac}, true);\n\
             PERFORM set_config('app.tenant_id', tenant, true);\n\
             END\n$fn$",
            mac = mac_sql("tenant")
        ),
        // PL/pgSQL, not SQL: a SQL function with a SET clause is never
        // inlined and is planned again on every call (about 115 µs a query
        // on the benchmark machine); PL/pgSQL keeps its plans for the
        // session (about 25 µs).
        format!(
            "CREATE OR REPLACE FUNCTION {current} RETURNS text \
             LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$\n\
             DECLARE\n\
             tenant text := nullif(current_setting('{TENANT_GUC}', true), '');\n\
             proof text := current_setting('{PROOF_GUC}', true);\n\
             k record;\n\
             BEGIN\n\
             IF tenant IS NULL OR proof IS NULL THEN RETURN NULL; END IF;\n\
             SELECT inner_pad, outer_pad INTO k FROM {table};\n\
             IF NOT FOUND OR proof IS DISTINCT FROM {mac} THEN RETURN NULL; END IF;\n\
             RETURN tenant;\n\
             END\n$fn$",
            mac = mac_sql("tenant")
        ),
    ]
}

/// The application's tenant key, read by the tables' owner; `persistent`
/// is false behind a transaction pooler (an unnamed statement, which the
/// caller runs inside a transaction).
pub(super) async fn read_key(
    connection: &mut PgConnection,
    schema: &str,
    persistent: bool,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT app_key FROM {}", key_table(schema)))
        .persistent(persistent)
        .fetch_optional(&mut *connection)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_functions_compute_the_same_proof() {
        let ddl = session_ddl("tenancy");
        let enter = ddl.iter().find(|s| s.contains("tenancy.enter")).unwrap();
        let current = ddl.iter().find(|s| s.contains("current_tenant()")).unwrap();
        assert!(enter.contains(&mac_sql("tenant")));
        assert!(current.contains(&mac_sql("tenant")));
        // Definer functions with a search path that puts pg_temp last.
        for function in [enter, current] {
            assert!(function.contains("SECURITY DEFINER SET search_path = pg_catalog, pg_temp"));
        }
        assert!(ddl
            .iter()
            .any(|s| s == "REVOKE ALL ON tenancy.tenant_key FROM PUBLIC"));
    }
}

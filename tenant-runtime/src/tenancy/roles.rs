//! The server-wide roles of schema tenants, dropped together for teardown.
//!
//! A schema tenant's role (`tenant_t7_<tag>`) and the registry's group role
//! (`tenants_<tag>`) belong to the server, not to the database: `DROP
//! DATABASE` leaves them behind, each holding nothing any more, and a test
//! suite or a preview environment that makes and drops databases collects
//! them by the thousand. [`Tenancy::drop_roles`] removes them while the
//! database that shows which roles are this registry's still exists.

use sqlx::{PgConnection, PgPool};
use tenant_core::layout::{is_tenant_schema_name, tenants_role_name, ARCHIVE_TAIL};
use tenant_core::schema::quote_ident;

use super::ddl::{execute_ddl, LOCK_CLASS};
use super::settings::{self, settings_table};
use super::Tenancy;
use crate::error::Error;

/// True for the name of a schema tenant's role of the registry tagged
/// `tag` (`tenant_t<digits>_<tag>`; never an archive schema's name, which
/// no role has).
fn is_tenant_role_of(name: &str, tag: &str) -> bool {
    is_tenant_schema_name(name)
        && !name.ends_with(ARCHIVE_TAIL)
        && name
            .strip_suffix(tag)
            .is_some_and(|rest| rest.ends_with('_'))
}

/// The databases other than the current one where `role` owns objects or
/// holds privileges (`pg_shdepend`; shared objects, `dbid` 0, are the
/// current database's `DROP OWNED` to revoke).
async fn databases_holding(
    connection: &mut PgConnection,
    role: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT d.datname::text FROM pg_shdepend s \
           JOIN pg_database d ON d.oid = s.dbid \
          WHERE s.refclassid = 'pg_authid'::regclass \
            AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1) \
            AND d.datname <> current_database() \
          ORDER BY 1",
    )
    .bind(role)
    .fetch_all(&mut *connection)
    .await
}

impl Tenancy {
    /// Drops the server-wide roles this database's registry made for its
    /// schema tenants: each tenant role (`tenant_t7_<tag>`, a member of the
    /// group role) and then the group role `tenants_<tag>`, each with `DROP
    /// OWNED BY` in this database first (its privileges here) and then
    /// `DROP ROLE`, in one transaction. Returns the dropped roles' names,
    /// tenant roles first; empty when the database has no registry or the
    /// registry never onboarded a schema tenant (partition layout needs no
    /// role), so it is safe to call on any database.
    ///
    /// Meant for **teardown, right before `DROP DATABASE`**: roles belong to
    /// the server and outlive the database, so without this call every
    /// dropped database that held schema tenants leaves its roles behind.
    /// Afterwards the schema tenants **cannot begin transactions**
    /// ([`Tenant::begin`](crate::Tenant::begin) takes the tenant's role,
    /// which is gone) and onboarding in schema layout makes the group role
    /// anew; their schemas and rows stay until the database is dropped.
    /// Do not call it on a database that is still serving, nor while
    /// tenants are being onboarded.
    ///
    /// Only roles of this registry's tag are touched, and only members of
    /// its group role named like its tenant roles: a role granted the group
    /// by hand keeps existing (it just loses the membership). When one of
    /// the roles holds privileges in another database too (a copy made
    /// with `CREATE DATABASE .. TEMPLATE` shares the registry, its tag and
    /// its roles), nothing is dropped: [`Error::RolesInUse`].
    ///
    /// The caller needs `CREATEROLE` (or to be superuser), as onboarding in
    /// schema layout does.
    pub async fn drop_roles(&self, pool: &PgPool) -> Result<Vec<String>, Error> {
        let schema = &self.inner.registry_schema;
        let mut transaction = pool.begin().await?;
        // `to_regclass` rather than reading and mapping the error: a
        // missing registry is an answer here (no roles), not a failure, and
        // a failed statement would abort the transaction.
        let installed: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(settings_table(schema))
            .fetch_one(&mut *transaction)
            .await?;
        if !installed {
            return Ok(Vec::new());
        }
        let tag = settings::read(&mut transaction, schema).await?.tag;
        let group = tenants_role_name(&tag);
        // The lock a first onboarding in schema layout takes to make the
        // group role: such an onboarding waits for this teardown (and then
        // makes the group anew) rather than racing it.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(&group)
            .execute(&mut *transaction)
            .await?;
        let group_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(&group)
                .fetch_one(&mut *transaction)
                .await?;
        if !group_exists {
            // Every tenant role is made `IN ROLE` the group: without the
            // group there were never any (or they went with it already).
            return Ok(Vec::new());
        }
        let members: Vec<String> = sqlx::query_scalar(
            "SELECT r.rolname::text FROM pg_auth_members m \
               JOIN pg_roles r ON r.oid = m.member \
              WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1) \
              ORDER BY 1",
        )
        .bind(&group)
        .fetch_all(&mut *transaction)
        .await?;
        let mut roles: Vec<String> = members
            .into_iter()
            .filter(|member| is_tenant_role_of(member, &tag))
            .collect();
        roles.push(group);

        // All or nothing: the other database's schema tenants still need
        // these roles, and PostgreSQL would refuse the `DROP ROLE` half-way.
        for role in &roles {
            let databases = databases_holding(&mut transaction, role).await?;
            if !databases.is_empty() {
                return Err(Error::RolesInUse {
                    role: role.clone(),
                    databases,
                });
            }
        }
        for role in &roles {
            let quoted = quote_ident(role);
            // `DROP OWNED BY` needs the privileges of the role: tenant roles
            // were granted to the onboarding role, the group role never
            // was, and an owner that is not superuser lacks it.
            let usable: bool = sqlx::query_scalar("SELECT pg_has_role(current_user, $1, 'USAGE')")
                .bind(role)
                .fetch_one(&mut *transaction)
                .await?;
            if !usable {
                execute_ddl(&mut transaction, &format!("GRANT {quoted} TO CURRENT_USER")).await?;
            }
            execute_ddl(&mut transaction, &format!("DROP OWNED BY {quoted}")).await?;
            execute_ddl(&mut transaction, &format!("DROP ROLE {quoted}")).await?;
        }
        transaction.commit().await?;
        tracing::info!(roles = ?roles, "schema tenant roles dropped");
        Ok(roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tenant_roles_of_the_registry_s_tag_are_taken() {
        assert!(is_tenant_role_of("tenant_t7_k3x9q2", "k3x9q2"));
        assert!(is_tenant_role_of("tenant_t12_k3x9q2", "k3x9q2"));
        assert!(!is_tenant_role_of("tenant_t7_aaaaaa", "k3x9q2"));
        assert!(!is_tenant_role_of("tenant_t7_k3x9q2_archive", "k3x9q2"));
        assert!(!is_tenant_role_of("tenants_k3x9q2", "k3x9q2"));
        assert!(!is_tenant_role_of("app_k3x9q2", "k3x9q2"));
        assert!(!is_tenant_role_of("tenant_tx_k3x9q2", "k3x9q2"));
    }
}

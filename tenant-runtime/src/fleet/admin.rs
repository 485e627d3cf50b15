//! Administering every database of a fleet: install, onboard, offboard,
//! sync, list and status.

use super::reports::{DatabaseStatus, DatabaseTenants, FleetOnboard, FleetSync};
use super::{unavailable, Fleet, FleetDatabase};
use crate::error::Error;
use crate::tenancy::keys::SyncProgress;
use crate::tenancy::offboard::Offboard;
use crate::tenancy::registry::TenantState;
use tenant_core::layout::Layout;

impl Fleet {
    /// Installs the registry and the parents on every database, then the
    /// directory on the directory database, and checks that no two
    /// registries share a tag (which would let the partition names of two
    /// databases coincide). Idempotent. Stops at the first database that
    /// fails, naming it; running it again continues.
    pub async fn install(&self) -> Result<(), Error> {
        for database in self.databases() {
            database
                .tenancy
                .install(&database.pool)
                .await
                .map_err(|e| unavailable(&database.name, e))?;
        }
        self.install_directory().await?;
        let mut tags: Vec<(String, &str)> = Vec::new();
        for database in self.databases() {
            let tag = database
                .tenancy
                .registry_tag(&database.pool)
                .await
                .map_err(|e| unavailable(&database.name, e))?;
            if let Some((_, first)) = tags.iter().find(|(t, _)| *t == tag) {
                return Err(Error::SharedRegistryTag {
                    first: first.to_string(),
                    second: database.name.clone(),
                    tag,
                });
            }
            tags.push((tag, &database.name));
        }
        Ok(())
    }

    /// Onboards `id` on the database the directory or, for a new tenant,
    /// the rules place it on, and records that database in the directory
    /// (so a later change of the rules moves no existing tenant).
    /// Idempotent, as [`Tenancy::onboard`](crate::Tenancy::onboard) is.
    pub async fn onboard(&self, id: &str) -> Result<FleetOnboard, Error> {
        self.onboard_placed(id, None).await
    }

    /// [`onboard`](Self::onboard) in `layout` (see
    /// [`Tenancy::onboard_as`](crate::Tenancy::onboard_as)); the directory
    /// records the layout with the database.
    pub async fn onboard_as(&self, id: &str, layout: Layout) -> Result<FleetOnboard, Error> {
        self.onboard_placed(id, Some(layout)).await
    }

    async fn onboard_placed(
        &self,
        id: &str,
        layout: Option<Layout>,
    ) -> Result<FleetOnboard, Error> {
        let id = self.inner.template.accept_id(id)?;
        self.forget_placement(&id);
        let located = self.locate(&id).await?;
        let name = self.inner.databases[located.index].name.clone();
        self.onboard_at(&id, &name, layout).await
    }

    /// Onboards `id` on the database `database`, whatever the rules say,
    /// and records it in the directory. A tenant that already lives on
    /// another database is [`Error::TenantPlacedElsewhere`] (move it
    /// instead); nothing is changed then.
    pub async fn onboard_on(&self, id: &str, database: &str) -> Result<FleetOnboard, Error> {
        self.onboard_on_as(id, database, None).await
    }

    /// [`onboard_on`](Self::onboard_on) in `layout` when given (else the
    /// default layout for a new tenant, its own for an onboarded one).
    pub async fn onboard_on_as(
        &self,
        id: &str,
        database: &str,
        layout: Option<Layout>,
    ) -> Result<FleetOnboard, Error> {
        let id = self.inner.template.accept_id(id)?;
        let target = self.database(database)?.name.clone();
        let current = match self.directory_entry(&id).await? {
            Some(name) => Some(name),
            // A tenant the rules placed and onboarded before it had an entry.
            None => match self.inner.placement.place(&id) {
                Ok(ruled) if ruled != target => {
                    let ruled = self.database(ruled)?;
                    let active = ruled
                        .tenancy
                        .list(&ruled.pool)
                        .await
                        .map_err(|e| unavailable(&ruled.name, e))?
                        .iter()
                        .any(|t| t.id == id);
                    active.then(|| ruled.name.clone())
                }
                _ => None,
            },
        };
        if let Some(current) = current {
            if current != target {
                return Err(Error::TenantPlacedElsewhere {
                    id,
                    database: current,
                    requested: target,
                });
            }
        }
        self.onboard_at(&id, &target, layout).await
    }

    /// Records `id` on `database` in the directory, then onboards it there.
    /// The entry comes first: a lookup in between finds the database that
    /// is about to hold the tenant, and says "unknown tenant" until it does.
    async fn onboard_at(
        &self,
        id: &str,
        database: &str,
        layout: Option<Layout>,
    ) -> Result<FleetOnboard, Error> {
        self.set_directory_entry(id, database, layout).await?;
        let target = self.database(database)?;
        let onboarded = match layout {
            Some(layout) => target.tenancy.onboard_as(&target.pool, id, layout).await,
            None => target.tenancy.onboard(&target.pool, id).await,
        };
        let outcome = onboarded.map_err(|e| unavailable(&target.name, e))?;
        if layout != Some(outcome.tenant.layout()) {
            // The layout the tenancy chose (its default, or the tenant's own).
            self.set_directory_entry(id, database, Some(outcome.tenant.layout()))
                .await?;
        }
        Ok(FleetOnboard {
            database: target.name.clone(),
            outcome,
        })
    }

    /// Offboards `id` on its database (see
    /// [`Tenancy::offboard`](crate::Tenancy::offboard)). With
    /// [`Offboard::Drop`] its directory entry goes too; with
    /// [`Offboard::Keep`] the entry stays, so that onboarding it again
    /// lands where its kept partitions are.
    pub async fn offboard(&self, id: &str, mode: Offboard) -> Result<String, Error> {
        let id = self.inner.template.accept_id(id)?;
        self.forget_placement(&id);
        let located = self.locate(&id).await?;
        let database = &self.inner.databases[located.index];
        database
            .tenancy
            .offboard(&database.pool, &id, mode)
            .await
            .map_err(|e| unavailable(&database.name, e))?;
        if mode == Offboard::Drop {
            self.remove_directory_entry(&id).await?;
        }
        self.forget_placement(&id);
        Ok(database.name.clone())
    }

    /// Syncs every database in turn (see
    /// [`Tenancy::sync`](crate::Tenancy::sync)); a database that fails
    /// does not stop the others. `progress` gets the database's name with
    /// each step.
    pub async fn sync(&self, mut progress: impl FnMut(&str, &SyncProgress)) -> Vec<FleetSync> {
        let mut results = Vec::with_capacity(self.databases().len());
        for database in self.databases() {
            let result = database
                .tenancy
                .sync(&database.pool, |step| progress(&database.name, step))
                .await
                .map_err(|e| unavailable(&database.name, e));
            results.push(FleetSync {
                database: database.name.clone(),
                result,
            });
        }
        results
    }

    /// Every database's tenants. A database that does not answer is listed
    /// with its error; the others are listed all the same.
    pub async fn list(&self) -> Vec<DatabaseTenants> {
        let mut out = Vec::with_capacity(self.databases().len());
        for database in self.databases() {
            out.push(DatabaseTenants {
                database: database.name.clone(),
                tenants: database
                    .tenancy
                    .list(&database.pool)
                    .await
                    .map_err(|e| unavailable(&database.name, e)),
            });
        }
        out
    }

    /// Each database: whether it answers, its active tenants and the
    /// partitions of the tenancy's parents on it.
    pub async fn status(&self) -> Vec<DatabaseStatus> {
        let mut out = Vec::with_capacity(self.databases().len());
        for database in self.databases() {
            out.push(match status_of(database).await {
                Ok((tenants, partitions)) => DatabaseStatus {
                    database: database.name.clone(),
                    reachable: true,
                    tenants,
                    partitions,
                    error: None,
                },
                Err(error) => DatabaseStatus {
                    database: database.name.clone(),
                    reachable: !matches!(error, Error::DatabaseUnavailable { .. }),
                    tenants: 0,
                    partitions: 0,
                    error: Some(error.to_string()),
                },
            });
        }
        out
    }
}

async fn status_of(database: &FleetDatabase) -> Result<(i64, i64), Error> {
    let tenants = database
        .tenancy
        .list(&database.pool)
        .await
        .map_err(|e| unavailable(&database.name, e))?
        .iter()
        .filter(|t| t.state == TenantState::Active)
        .count();
    let parents: Vec<String> = database
        .tenancy
        .tables()
        .iter()
        .map(|t| t.qualified_name())
        .collect();
    let partitions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_inherits \
          WHERE inhparent = ANY (ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) x))",
    )
    .bind(&parents)
    .fetch_one(&database.pool)
    .await
    .map_err(|e| unavailable(&database.name, e.into()))?;
    Ok((i64::try_from(tenants).unwrap_or(i64::MAX), partitions))
}

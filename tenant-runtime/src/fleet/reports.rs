//! What the fleet's operations return: plain data, no behaviour.

use crate::error::Error;
use crate::tenancy::keys::SyncReport;
use crate::tenancy::onboard::OnboardOutcome;
use crate::tenancy::registry::TenantRecord;

/// Where a tenant lives, and what said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The database's name.
    pub database: String,
    /// The directory or the rules.
    pub by: PlacedBy,
}

/// What placed a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacedBy {
    /// Its entry in the directory.
    Directory,
    /// The placement rules (no directory entry).
    Rules,
}

/// What [`Fleet::onboard`] did: the database and the outcome there.
#[derive(Debug)]
pub struct FleetOnboard {
    /// The database the tenant lives on.
    pub database: String,
    /// What onboarding on that database did.
    pub outcome: OnboardOutcome,
}

/// One database's part of [`Fleet::sync`].
#[derive(Debug)]
pub struct FleetSync {
    /// The database.
    pub database: String,
    /// Its sync, or why it failed (the other databases are synced anyway).
    pub result: Result<SyncReport, Error>,
}

/// One database's part of [`Fleet::list`].
#[derive(Debug)]
pub struct DatabaseTenants {
    /// The database.
    pub database: String,
    /// Its registry's tenants, or why they could not be read (an
    /// unreachable database is [`Error::DatabaseUnavailable`]).
    pub tenants: Result<Vec<TenantRecord>, Error>,
}

/// One database's part of [`Fleet::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// The database.
    pub database: String,
    /// Whether it answered.
    pub reachable: bool,
    /// Its active tenants (0 when unreachable).
    pub tenants: i64,
    /// The partitions of the tenancy's parents on it (0 when unreachable).
    pub partitions: i64,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
}

//! What the fleet's operations return: plain data, no behaviour.

use std::time::Duration;

use tenant_core::layout::Layout;

use crate::error::Error;
use crate::tenancy::keys::SyncReport;
use crate::tenancy::offboard::Offboard;
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

/// How to move a tenant ([`Fleet::move_tenant`](super::Fleet::move_tenant)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveOptions {
    /// What becomes of the tenant's partitions on the source after the
    /// flip: dropped ([`Offboard::Drop`], the default) or kept as archive
    /// tables.
    pub source: Offboard,
    /// The layout the tenant moves into: `None` (the default) keeps its
    /// own. With another layout than its own the move may stay on its
    /// database (`to` = where it lives): its tables in the new layout are
    /// made beside the old ones, filled, fenced and switched to, as
    /// between databases.
    pub layout: Option<Layout>,
    /// Stop (with [`Error::MoveInterrupted`]) right after this step, as a
    /// killed mover would: for tests of resumption.
    #[doc(hidden)]
    pub stop_after: Option<MoveStep>,
}

impl Default for MoveOptions {
    fn default() -> Self {
        MoveOptions {
            source: Offboard::Drop,
            layout: None,
            stop_after: None,
        }
    }
}

/// The steps of a move, in order; a move's record holds the last one done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveStep {
    /// Recorded; the target onboarded; the source's changes logged.
    Prepared,
    /// Copied from a snapshot; the log being replayed.
    Copied,
    /// The source's writes fenced.
    Fenced,
    /// The directory names the target.
    Flipped,
}

impl MoveStep {
    /// The name the record stores.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStep::Prepared => "prepared",
            MoveStep::Copied => "copied",
            MoveStep::Fenced => "fenced",
            MoveStep::Flipped => "flipped",
        }
    }

    /// The step a record names.
    pub fn parse(text: &str) -> Option<MoveStep> {
        [
            MoveStep::Prepared,
            MoveStep::Copied,
            MoveStep::Fenced,
            MoveStep::Flipped,
        ]
        .into_iter()
        .find(|step| step.as_str() == text)
    }
}

/// What [`Fleet::move_tenant`](super::Fleet::move_tenant) did.
#[derive(Debug, Clone)]
pub struct MoveReport {
    /// Where the tenant was.
    pub source: String,
    /// Where it is.
    pub target: String,
    /// Rows copied from the snapshot (0 when a resumed move had copied
    /// already).
    pub rows_copied: u64,
    /// Change-log entries replayed on the target.
    pub log_entries_replayed: usize,
    /// How long the tenant's writes were fenced (from the fence's last
    /// replay to the flip), when this run fenced and flipped.
    pub fence: Option<Duration>,
    /// The whole run.
    pub total: Duration,
    /// Each table's rows on the target, as verified (empty when a resumed
    /// move had verified already).
    pub rows: Vec<(String, i64)>,
}

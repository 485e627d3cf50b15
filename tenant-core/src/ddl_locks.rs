//! Which relations a DDL script locks, and how many relation locks that
//! costs: the pure half of the migration lock preflight
//! (`tenant_runtime::migrate`).
//!
//! A statement on a partitioned table locks the parent **and every
//! partition** (and, for some statements, every index and TOAST table of
//! each), all held until the transaction ends. [`lock_targets`] finds the
//! statements of a script that do so, with the real PostgreSQL parser;
//! [`estimate_locks`] turns the catalog's counts for each target
//! ([`TreeStats`]) into an upper bound of the relation locks the whole
//! script holds in one transaction; [`LockBudget`] decides whether that fits
//! the server's lock table.
//!
//! The formulas are calibrated on PostgreSQL 15 (a parent with 50
//! partitions, a primary key and one more index; rows of `pg_locks` held by
//! one transaction): `ADD COLUMN` 51, `CREATE INDEX` 103, `ALTER COLUMN
//! TYPE` 551 to 605, `DROP TABLE` 253, `TRUNCATE` 351. The estimate is
//! never below those and at most about 1.5 times them (see
//! [`estimate_locks`]).
//!
//! ```
//! use tenant_core::ddl_locks::{lock_targets, LockKind};
//!
//! let targets = lock_targets("ALTER TABLE forms ALTER COLUMN title TYPE text").unwrap();
//! assert_eq!(targets[0].relation.name, "forms");
//! assert_eq!(targets[0].kind, LockKind::Rewrite);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use pg_query::protobuf::{self, node::Node as N, AlterTableType, ConstrType, ObjectType};

use crate::parse::{parse, ParseError};
use crate::report::Position;

/// A relation as the SQL names it (names already folded by the parser:
/// `Forms` is `forms`, `"Forms"` stays `Forms`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelationName {
    /// The schema, when the SQL qualifies the name.
    pub schema: Option<String>,
    /// The relation's name.
    pub name: String,
}

impl fmt::Display for RelationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What a statement does to the relations of one table's partition tree,
/// as far as locks go. Ordered from the cheapest to the costliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKind {
    /// Only the named table itself (`ALTER TABLE ONLY`, `CREATE INDEX ON
    /// ONLY`, `CREATE TABLE .. PARTITION OF`, `ATTACH PARTITION` on the
    /// parent): not its partitions.
    ParentOnly,
    /// The table and every partition, once each (`ADD COLUMN` without a
    /// rewrite, `ADD CHECK`, `SET NOT NULL`, `RENAME`, triggers, ...).
    Light,
    /// A new index on the table and on every partition (`CREATE INDEX`,
    /// `ADD PRIMARY KEY`/`UNIQUE`/`EXCLUDE`): one more lock per table.
    IndexBuild,
    /// A foreign key: every partition and its indexes (the referenced table
    /// is a target of its own).
    ForeignKey,
    /// `DROP INDEX` of a partitioned index: the index of every partition.
    /// The target is the index; the runtime counts its table's tree.
    DropIndex,
    /// `DROP COLUMN` ([`LockTarget::object`] names the column): the tables,
    /// and every index that goes with the column ([`TreeStats::dropped_indexes`]).
    DropColumn,
    /// `DROP CONSTRAINT` ([`LockTarget::object`] names it): the tables, and
    /// the constraint's index on each, if it has one.
    DropConstraint,
    /// Every relation of the tree: tables, indexes, TOAST (`DROP TABLE`,
    /// `DETACH`/`ATTACH` of a partition).
    Drop,
    /// `TRUNCATE`: every relation gets a new file, some locked twice.
    Truncate,
    /// A table rewrite (`ALTER COLUMN TYPE`, `ADD COLUMN` with a volatile
    /// default, identity, serial or stored generated column, `SET
    /// TABLESPACE`, `SET LOGGED`, ...): each table, index and TOAST
    /// relation, the transient copies and the rebuilt indexes.
    Rewrite,
}

/// One statement's effect on one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTarget {
    /// The relation the statement names.
    pub relation: RelationName,
    /// What it does to the relation's partition tree.
    pub kind: LockKind,
    /// The statement and action, e.g. `ALTER TABLE .. ALTER COLUMN TYPE`.
    pub action: &'static str,
    /// Where the statement starts in the SQL.
    pub position: Position,
    /// The column of a [`LockKind::DropColumn`], the constraint of a
    /// [`LockKind::DropConstraint`].
    pub object: Option<String>,
}

/// Parses `sql` (a script of any number of statements) and lists the
/// relations its statements lock with their partitions. Statements that
/// lock no existing table's partitions (`CREATE TABLE`, `INSERT`, `CREATE
/// INDEX CONCURRENTLY`, ...) give no target.
pub fn lock_targets(sql: &str) -> Result<Vec<LockTarget>, ParseError> {
    let result = parse(sql, sql, |offset| offset)?;
    let mut targets = Vec::new();
    for raw in &result.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        let position = Position::at(sql, usize::try_from(raw.stmt_location).unwrap_or(0));
        let mut push_object = |relation: RelationName,
                               kind: LockKind,
                               action: &'static str,
                               object: Option<String>| {
            targets.push(LockTarget {
                relation,
                kind,
                action,
                position,
                object,
            })
        };
        let mut push = |relation: RelationName, kind: LockKind, action: &'static str| {
            push_object(relation, kind, action, None)
        };
        match node {
            N::AlterTableStmt(stmt) if stmt.objtype == ObjectType::ObjectTable as i32 => {
                let Some(relation) = stmt.relation.as_ref() else {
                    continue;
                };
                let name = range_var(relation);
                for cmd in &stmt.cmds {
                    let Some(N::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                        continue;
                    };
                    let object = (!cmd.name.is_empty()).then(|| cmd.name.clone());
                    for (kind, action, other) in alter_table_cmd(cmd) {
                        let kind = if relation.inh || kind == LockKind::ParentOnly {
                            kind
                        } else {
                            LockKind::ParentOnly
                        };
                        let object =
                            matches!(kind, LockKind::DropColumn | LockKind::DropConstraint)
                                .then(|| object.clone())
                                .flatten();
                        push_object(name.clone(), kind, action, object);
                        if let Some((other, kind)) = other {
                            push_object(other, kind, action, None);
                        }
                    }
                }
            }
            N::IndexStmt(stmt) if !stmt.concurrent => {
                if let Some(relation) = stmt.relation.as_ref() {
                    let kind = if relation.inh {
                        LockKind::IndexBuild
                    } else {
                        LockKind::ParentOnly
                    };
                    push(range_var(relation), kind, "CREATE INDEX");
                }
            }
            N::DropStmt(stmt) => {
                let (kind, action) = if stmt.remove_type == ObjectType::ObjectTable as i32 {
                    (LockKind::Drop, "DROP TABLE")
                } else if stmt.remove_type == ObjectType::ObjectIndex as i32 && !stmt.concurrent {
                    (LockKind::DropIndex, "DROP INDEX")
                } else {
                    continue;
                };
                for object in &stmt.objects {
                    if let Some(name) = dotted_name(object) {
                        push(name, kind, action);
                    }
                }
            }
            N::TruncateStmt(stmt) => {
                for relation in &stmt.relations {
                    if let Some(N::RangeVar(relation)) = relation.node.as_ref() {
                        push(range_var(relation), LockKind::Truncate, "TRUNCATE");
                    }
                }
            }
            N::RenameStmt(stmt) => {
                if let Some(relation) = stmt.relation.as_ref() {
                    let kind = if relation.inh {
                        LockKind::Light
                    } else {
                        LockKind::ParentOnly
                    };
                    push(range_var(relation), kind, "ALTER TABLE .. RENAME");
                }
            }
            // A new partition locks its parent (and creates the parent's
            // indexes on it), not the other partitions.
            N::CreateStmt(stmt) if stmt.partbound.is_some() => {
                for parent in &stmt.inh_relations {
                    if let Some(N::RangeVar(parent)) = parent.node.as_ref() {
                        push(
                            range_var(parent),
                            LockKind::ParentOnly,
                            "CREATE TABLE .. PARTITION OF",
                        );
                    }
                }
            }
            N::CreateTrigStmt(stmt) => {
                if let Some(relation) = stmt.relation.as_ref() {
                    push(range_var(relation), LockKind::Light, "CREATE TRIGGER");
                }
            }
            _ => {}
        }
    }
    Ok(targets)
}

type CmdEffect = (LockKind, &'static str, Option<(RelationName, LockKind)>);

/// What one `ALTER TABLE` action does (several effects for an `ADD COLUMN`
/// with a unique constraint, say), and a second relation it locks (the
/// referenced table of a foreign key, the partition of `ATTACH`).
fn alter_table_cmd(cmd: &protobuf::AlterTableCmd) -> Vec<CmdEffect> {
    use AlterTableType as T;
    let Ok(subtype) = AlterTableType::try_from(cmd.subtype) else {
        return vec![(LockKind::Light, "ALTER TABLE", None)];
    };
    let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
    match subtype {
        T::AtAddColumn => {
            let mut effects = Vec::new();
            let mut rewrites = false;
            if let Some(N::ColumnDef(column)) = def {
                rewrites = column_rewrites(column);
                for constraint in &column.constraints {
                    if let Some(N::Constraint(c)) = constraint.node.as_ref() {
                        effects.extend(constraint_effect(c));
                    }
                }
            }
            // A rewrite of the column's table counts once.
            rewrites |= effects.iter().any(|e| e.0 == LockKind::Rewrite);
            effects.retain(|e| e.0 != LockKind::Rewrite);
            let kind = if rewrites {
                LockKind::Rewrite
            } else {
                LockKind::Light
            };
            effects.insert(0, (kind, "ALTER TABLE .. ADD COLUMN", None));
            effects
        }
        T::AtAlterColumnType => vec![(LockKind::Rewrite, "ALTER TABLE .. ALTER COLUMN TYPE", None)],
        T::AtSetAccessMethod | T::AtSetTableSpace | T::AtSetLogged | T::AtSetUnLogged => {
            vec![(LockKind::Rewrite, "ALTER TABLE (rewrite)", None)]
        }
        T::AtAddIdentity | T::AtSetExpression | T::AtDropExpression => {
            vec![(
                LockKind::Rewrite,
                "ALTER TABLE .. (identity/expression)",
                None,
            )]
        }
        T::AtAddIndex | T::AtAddIndexConstraint => {
            vec![(LockKind::IndexBuild, "ALTER TABLE .. ADD INDEX", None)]
        }
        T::AtAddConstraint => match def {
            Some(N::Constraint(c)) => {
                let effects = constraint_effect(c);
                if effects.is_empty() {
                    vec![(LockKind::Light, "ALTER TABLE .. ADD CONSTRAINT", None)]
                } else {
                    effects
                }
            }
            _ => vec![(LockKind::Light, "ALTER TABLE .. ADD CONSTRAINT", None)],
        },
        T::AtDropColumn => vec![(LockKind::DropColumn, "ALTER TABLE .. DROP COLUMN", None)],
        T::AtDropConstraint => vec![(
            LockKind::DropConstraint,
            "ALTER TABLE .. DROP CONSTRAINT",
            None,
        )],
        T::AtAttachPartition | T::AtDetachPartition | T::AtDetachPartitionFinalize => {
            let partition = match def {
                Some(N::PartitionCmd(p)) => p.name.as_ref().map(range_var),
                _ => None,
            };
            vec![(
                LockKind::ParentOnly,
                "ALTER TABLE .. ATTACH/DETACH PARTITION",
                partition.map(|p| (p, LockKind::Drop)),
            )]
        }
        _ => vec![(LockKind::Light, "ALTER TABLE", None)],
    }
}

fn constraint_effect(c: &protobuf::Constraint) -> Vec<CmdEffect> {
    match ConstrType::try_from(c.contype) {
        Ok(ConstrType::ConstrPrimary | ConstrType::ConstrUnique | ConstrType::ConstrExclusion) => {
            vec![(
                LockKind::IndexBuild,
                "ALTER TABLE .. ADD PRIMARY KEY/UNIQUE",
                None,
            )]
        }
        Ok(ConstrType::ConstrForeign) => vec![(
            LockKind::ForeignKey,
            "ALTER TABLE .. ADD FOREIGN KEY",
            c.pktable.as_ref().map(|t| (range_var(t), LockKind::Light)),
        )],
        Ok(ConstrType::ConstrIdentity) => {
            vec![(
                LockKind::Rewrite,
                "ALTER TABLE .. ADD COLUMN (identity)",
                None,
            )]
        }
        Ok(ConstrType::ConstrGenerated) => {
            vec![(
                LockKind::Rewrite,
                "ALTER TABLE .. ADD COLUMN (generated)",
                None,
            )]
        }
        Ok(ConstrType::ConstrDefault) => match c.raw_expr.as_deref() {
            Some(expr) if !is_constant(expr) => vec![(
                LockKind::Rewrite,
                "ALTER TABLE .. ADD COLUMN (non-constant default)",
                None,
            )],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether an added column rewrites the table: serial types (a sequence
/// default). Defaults, identity and generated columns are its constraints.
fn column_rewrites(column: &protobuf::ColumnDef) -> bool {
    let Some(type_name) = column.type_name.as_ref() else {
        return false;
    };
    let last = type_name.names.last().and_then(|n| match n.node.as_ref() {
        Some(N::String(s)) => Some(s.sval.as_str()),
        _ => None,
    });
    matches!(
        last,
        Some("serial" | "serial2" | "serial4" | "serial8" | "smallserial" | "bigserial")
    ) || !column.identity.is_empty()
        || !column.generated.is_empty()
}

/// A literal, possibly cast (`0`, `'x'::text`, `NULL`): a default that
/// PostgreSQL stores once instead of rewriting the table. Anything else
/// (`now()` is stable and would not rewrite, `random()` would) counts as a
/// rewrite: the estimate errs high.
fn is_constant(node: &protobuf::Node) -> bool {
    match node.node.as_ref() {
        Some(N::AConst(_)) => true,
        Some(N::TypeCast(cast)) => cast.arg.as_deref().is_some_and(is_constant),
        _ => false,
    }
}

fn range_var(relation: &protobuf::RangeVar) -> RelationName {
    RelationName {
        schema: (!relation.schemaname.is_empty()).then(|| relation.schemaname.clone()),
        name: relation.relname.clone(),
    }
}

/// The name of a `DROP` object: a list of strings (`schema`, `name`).
fn dotted_name(object: &protobuf::Node) -> Option<RelationName> {
    let Some(N::List(list)) = object.node.as_ref() else {
        return None;
    };
    let parts: Vec<&str> = list
        .items
        .iter()
        .filter_map(|item| match item.node.as_ref() {
            Some(N::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    match parts.as_slice() {
        [name] => Some(RelationName {
            schema: None,
            name: (*name).to_string(),
        }),
        [.., schema, name] => Some(RelationName {
            schema: Some((*schema).to_string()),
            name: (*name).to_string(),
        }),
        [] => None,
    }
}

/// The catalog's counts for one table's partition tree (the table, all its
/// partitions at every level), read by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStats {
    /// Tables in the tree, the named one included (1 for a plain table).
    pub tables: u64,
    /// Indexes on those tables (partitioned indexes included).
    pub indexes: u64,
    /// TOAST tables of those tables (each has an index too).
    pub toast: u64,
    /// Indexes on the named table itself.
    pub own_indexes: u64,
    /// Indexes of the tree that the script's `DROP COLUMN`s and `DROP
    /// CONSTRAINT`s drop with them (indexes on the column, on an
    /// expression or with a predicate; the constraint's index on each
    /// table).
    pub dropped_indexes: u64,
}

impl TreeStats {
    /// Every relation of the tree: tables, indexes, TOAST tables and their
    /// indexes.
    pub fn relations(&self) -> u64 {
        self.tables + self.indexes + 2 * self.toast
    }
}

/// Upper bound of the relation locks one transaction holds after running
/// `kinds` (the statements' effects, in any order) on one table's tree.
///
/// Each table is counted once (plus three for the parent locked in
/// several modes) and once more for each further lock mode the statements
/// take on it (`ALTER TABLE` then `CREATE INDEX`), then each statement adds what it locks beyond the
/// tables: an index build one more lock per table, a foreign key two per
/// index, `DROP COLUMN`/`DROP CONSTRAINT` the indexes dropped with them,
/// `DROP` every relation, `TRUNCATE` every relation and two more per
/// table, a rewrite every
/// relation three times (the transient copy of each table and TOAST
/// relation and the rebuilt indexes; measured 605 for a tree of 253
/// relations). Rows of `pg_locks` are counted, one per lock mode: the
/// lock table itself holds one entry per relation, so this errs high.
pub fn estimate_locks(stats: &TreeStats, kinds: &[LockKind]) -> u64 {
    if kinds.is_empty() || stats.tables == 0 {
        return 0;
    }
    let recursive = kinds.iter().any(|k| *k != LockKind::ParentOnly);
    let base = if recursive {
        stats.tables + 3
    } else {
        // The table and its own indexes; a new partition, its TOAST
        // table and index, and its copy of each of the parent's indexes;
        // some in two modes (measured 10 for a parent with 2 indexes).
        8 + 2 * stats.own_indexes
    };
    let relations = stats.relations();
    let drops_dependents = kinds
        .iter()
        .any(|k| matches!(k, LockKind::DropColumn | LockKind::DropConstraint));
    let dependents = if drops_dependents {
        stats.dropped_indexes
    } else {
        0
    };
    // A table locked in two modes (ACCESS EXCLUSIVE by an ALTER, SHARE by
    // a CREATE INDEX) is two rows of `pg_locks`.
    let mut modes: Vec<u8> = kinds
        .iter()
        .filter_map(|kind| match kind {
            LockKind::ParentOnly => None,
            LockKind::IndexBuild => Some(1),
            LockKind::ForeignKey => Some(2),
            _ => Some(0),
        })
        .collect();
    modes.sort_unstable();
    modes.dedup();
    let more_modes = stats
        .tables
        .saturating_mul(modes.len().saturating_sub(1) as u64);
    let extra: u64 = kinds
        .iter()
        .map(|kind| match kind {
            LockKind::ParentOnly
            | LockKind::Light
            | LockKind::DropColumn
            | LockKind::DropConstraint => 0,
            LockKind::IndexBuild | LockKind::DropIndex => stats.tables,
            LockKind::ForeignKey => 2 * stats.indexes,
            LockKind::Drop => relations,
            LockKind::Truncate => relations + 2 * stats.tables,
            LockKind::Rewrite => (3 * relations).saturating_sub(stats.tables),
        })
        .fold(dependents.saturating_add(more_modes), u64::saturating_add);
    base.saturating_add(extra)
}

/// Groups targets by relation, keeping each relation's kinds (for
/// [`estimate_locks`]).
pub fn by_relation(targets: &[LockTarget]) -> BTreeMap<RelationName, Vec<&LockTarget>> {
    let mut map: BTreeMap<RelationName, Vec<&LockTarget>> = BTreeMap::new();
    for target in targets {
        map.entry(target.relation.clone()).or_default().push(target);
    }
    map
}

/// The share of the server's lock table one migration may use, and the
/// table's size.
///
/// PostgreSQL's shared lock table holds `max_locks_per_transaction *
/// (max_connections + max_prepared_transactions)` locks for **all**
/// sessions together; one transaction may take most of it, and then every
/// other session that needs a lock fails with "out of shared memory".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockBudget {
    /// `max_locks_per_transaction * (max_connections +
    /// max_prepared_transactions)`.
    pub capacity: u64,
    /// The share of `capacity` one migration may use (0 to 1).
    pub max_fraction: f64,
}

/// The default share of the lock table one migration may use: half. The
/// application keeps running while a fleet migrates, and each of its
/// sessions holds locks in the same table (a routed query a few, a query
/// on a parent one per partition); half leaves the rest for them.
pub const DEFAULT_MAX_LOCK_FRACTION: f64 = 0.5;

impl LockBudget {
    /// The most locks one migration may hold.
    pub fn limit(&self) -> u64 {
        let fraction = if self.max_fraction.is_finite() {
            self.max_fraction.clamp(0.0, 1.0)
        } else {
            DEFAULT_MAX_LOCK_FRACTION
        };
        // Exact for any realistic capacity (below 2^53).
        (self.capacity as f64 * fraction).floor() as u64
    }

    /// Whether a migration estimated at `locks` fits.
    pub fn allows(&self, locks: u64) -> bool {
        locks <= self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(String, LockKind)> {
        lock_targets(sql)
            .unwrap()
            .into_iter()
            .map(|t| (t.relation.to_string(), t.kind))
            .collect()
    }

    #[test]
    fn alter_table_kinds() {
        let k = |sql: &str| kinds(sql);
        assert_eq!(
            k("ALTER TABLE forms ADD COLUMN c int"),
            [("forms".into(), LockKind::Light)]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD COLUMN c int DEFAULT 5"),
            [("forms".into(), LockKind::Light)]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD COLUMN c timestamptz DEFAULT clock_timestamp()"),
            [("forms".into(), LockKind::Rewrite)]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD COLUMN c int UNIQUE GENERATED ALWAYS AS IDENTITY"),
            [
                ("forms".into(), LockKind::Rewrite),
                ("forms".into(), LockKind::IndexBuild)
            ]
        );
        assert_eq!(
            k("ALTER TABLE app.forms ADD COLUMN c bigserial"),
            [("app.forms".into(), LockKind::Rewrite)]
        );
        assert_eq!(
            k("ALTER TABLE forms ALTER COLUMN title TYPE varchar(100)"),
            [("forms".into(), LockKind::Rewrite)]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD CONSTRAINT u UNIQUE (tenant_id, n)"),
            [("forms".into(), LockKind::IndexBuild)]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES plans (id)"),
            [
                ("forms".into(), LockKind::ForeignKey),
                ("plans".into(), LockKind::Light)
            ]
        );
        assert_eq!(
            k("ALTER TABLE forms ADD CHECK (n > 0), ALTER COLUMN n SET NOT NULL"),
            [
                ("forms".into(), LockKind::Light),
                ("forms".into(), LockKind::Light)
            ]
        );
        assert_eq!(
            k("ALTER TABLE ONLY forms ADD CHECK (n > 0) NOT VALID"),
            [("forms".into(), LockKind::ParentOnly)]
        );
        assert_eq!(
            k("ALTER TABLE forms DETACH PARTITION forms_t1"),
            [
                ("forms".into(), LockKind::ParentOnly),
                ("forms_t1".into(), LockKind::Drop)
            ]
        );
    }

    #[test]
    fn other_statements() {
        assert_eq!(
            kinds("CREATE INDEX ON forms (title)"),
            [("forms".into(), LockKind::IndexBuild)]
        );
        assert!(kinds("CREATE INDEX CONCURRENTLY ON forms (title)").is_empty());
        assert_eq!(
            kinds("CREATE INDEX ON ONLY forms (title)"),
            [("forms".into(), LockKind::ParentOnly)]
        );
        assert_eq!(
            kinds("DROP TABLE a, s.b; DROP INDEX forms_title; TRUNCATE c"),
            [
                ("a".into(), LockKind::Drop),
                ("s.b".into(), LockKind::Drop),
                ("forms_title".into(), LockKind::DropIndex),
                ("c".into(), LockKind::Truncate)
            ]
        );
        assert_eq!(
            kinds("CREATE TABLE forms_t9 PARTITION OF forms FOR VALUES IN ('t9')"),
            [("forms".into(), LockKind::ParentOnly)]
        );
        assert!(kinds("CREATE TABLE x (id int); INSERT INTO x VALUES (1); SELECT 1").is_empty());
        assert_eq!(
            kinds(r#"ALTER TABLE "Forms" RENAME COLUMN a TO b"#),
            [("Forms".into(), LockKind::Light)]
        );
    }

    #[test]
    fn positions_and_errors() {
        let targets = lock_targets("SELECT 1;\n  ALTER TABLE forms DROP COLUMN x;").unwrap();
        assert_eq!(
            (targets[0].position.line, targets[0].position.column),
            (2, 3)
        );
        assert_eq!(targets[0].action, "ALTER TABLE .. DROP COLUMN");
        assert_eq!(targets[0].kind, LockKind::DropColumn);
        assert_eq!(targets[0].object.as_deref(), Some("x"));
        assert!(lock_targets("ALTER TABLE").is_err());
        assert!(lock_targets("SELECT 1\0").is_err());
    }

    /// The measured PostgreSQL 15 tree: a parent, 50 partitions, a primary
    /// key and one more index, a text column (TOAST) on each partition.
    const MEASURED: TreeStats = TreeStats {
        tables: 51,
        indexes: 102,
        toast: 50,
        own_indexes: 2,
        dropped_indexes: 0,
    };

    #[test]
    fn estimates_cover_the_measurements() {
        // (kind, rows of pg_locks measured without the query's own lock
        // on the pg_locks view)
        for (kind, measured) in [
            (LockKind::Light, 51),
            (LockKind::IndexBuild, 103),
            (LockKind::ForeignKey, 206),
            (LockKind::DropIndex, 102),
            (LockKind::Drop, 253),
            (LockKind::Truncate, 351),
            (LockKind::Rewrite, 605),
        ] {
            let estimate = estimate_locks(&MEASURED, &[kind]);
            assert!(estimate >= measured, "{kind:?}: {estimate} < {measured}");
            assert!(
                estimate * 2 <= measured * 3 + 10,
                "{kind:?}: {estimate} is far above {measured}"
            );
        }
        // DROP COLUMN of a column in one index: 102 (one index per table).
        let dropped = TreeStats {
            dropped_indexes: 51,
            ..MEASURED
        };
        assert!(estimate_locks(&dropped, &[LockKind::DropColumn]) >= 102);
        assert_eq!(estimate_locks(&MEASURED, &[LockKind::DropColumn]), 54);
        // ADD COLUMN then CREATE INDEX: each table in two modes (154).
        assert!(estimate_locks(&MEASURED, &[LockKind::Light, LockKind::IndexBuild]) >= 154);
        assert_eq!(estimate_locks(&MEASURED, &[]), 0);
        assert_eq!(estimate_locks(&TreeStats::default(), &[LockKind::Drop]), 0);
        // Two light statements on one tree lock it once.
        assert_eq!(
            estimate_locks(&MEASURED, &[LockKind::Light, LockKind::Light]),
            estimate_locks(&MEASURED, &[LockKind::Light])
        );
    }

    #[test]
    fn budget_decision() {
        let budget = LockBudget {
            capacity: 64 * 100,
            max_fraction: DEFAULT_MAX_LOCK_FRACTION,
        };
        assert_eq!(budget.limit(), 3200);
        assert!(budget.allows(3200));
        assert!(!budget.allows(3201));
        // ADD COLUMN on a parent with 10,000 partitions does not fit the
        // default lock table; with 500 it does.
        let tree = |n: u64| TreeStats {
            tables: n + 1,
            indexes: 2 * (n + 1),
            toast: n,
            own_indexes: 2,
            dropped_indexes: 0,
        };
        assert!(!budget.allows(estimate_locks(&tree(10_000), &[LockKind::Light])));
        assert!(budget.allows(estimate_locks(&tree(500), &[LockKind::Light])));
        assert!(!budget.allows(estimate_locks(&tree(500), &[LockKind::Rewrite])));
        let odd = LockBudget {
            capacity: 100,
            max_fraction: f64::NAN,
        };
        assert_eq!(odd.limit(), 50);
        let all = LockBudget {
            capacity: 100,
            max_fraction: 7.0,
        };
        assert_eq!(all.limit(), 100);
    }
}

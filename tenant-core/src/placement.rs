//! Placement rules: which database of a fleet a tenant lives on.
//!
//! The databases (`[[databases]]`: a name, the environment variable holding
//! its URL, an optional pool size) and the rules (`[placement]`) of
//! `tenancy.toml`, validated as a whole, and the lookup. The runtime reads
//! them through [`crate::fleet`]; a tenant's explicit placement in the
//! registry (the directory) takes precedence over them there.
//!
//! ```toml
//! [[databases]]
//! name = "eu1"
//! url_env = "EU1_DATABASE_URL"
//!
//! [[databases]]
//! name = "us1"
//! url_env = "US1_DATABASE_URL"
//! pool_size = 20
//!
//! [placement]
//! key_type = "text"      # how ranges compare: text, integer or uuid
//! default = "eu1"        # optional: without it an unplaced tenant is an error
//!
//! [[placement.list]]
//! database = "us1"
//! tenants = ["acme", "globex"]
//!
//! [[placement.range]]
//! database = "us1"
//! start = "m"            # inclusive; omitted: unbounded below
//! end = "t"              # exclusive; omitted: unbounded above
//! ```
//!
//! Lookup order: list, then range (binary search over the sorted,
//! non-overlapping ranges), then the default. A tenant no rule places is
//! [`PlacementError::Unplaced`], never every database.
//!
//! At a million listed tenants and 10,000 ranges a lookup takes a few
//! hundred nanoseconds and the built [`Placement`] holds about 26 MiB: each
//! listed id is stored once, in one buffer, and found through a hash table
//! (hashbrown's) of a 4-byte position per slot (`cargo bench -p
//! tenant-core --bench placement`; figures in the book's performance
//! pages).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

use serde::{Deserialize, Serialize};

/// One database of the fleet, `[[databases]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The name rules and the directory use for it.
    pub name: String,
    /// The environment variable holding its URL: no password in the file.
    pub url_env: String,
    /// Connections of its pool; the runtime's default when omitted.
    pub pool_size: Option<u32>,
}

/// How tenant ids compare in ranges (and match in lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Text in byte order of its UTF-8 (PostgreSQL's `COLLATE "C"`).
    #[default]
    Text,
    /// Integers, numerically (`"9" < "10"`); ids must be decimal integers.
    Integer,
    /// UUIDs, bytewise (hyphens and case do not matter).
    Uuid,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Text => "text",
            KeyType::Integer => "integer",
            KeyType::Uuid => "uuid",
        })
    }
}

/// `[placement]`: the rules, in the order they are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementConfig {
    /// How ids compare.
    pub key_type: KeyType,
    /// Where a tenant no list or range places goes; none: an error.
    pub default: Option<String>,
    /// Tenant ids placed one by one.
    pub list: Vec<ListRule>,
    /// Ranges of tenant ids.
    pub range: Vec<RangeRule>,
}

/// `[[placement.list]]`: these tenants live on `database`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRule {
    /// The database's name.
    pub database: String,
    /// The tenant ids.
    pub tenants: Vec<String>,
}

/// `[[placement.range]]`: tenants with `start <= id < end` live on
/// `database`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeRule {
    /// The database's name.
    pub database: String,
    /// Inclusive; omitted: unbounded below.
    pub start: Option<String>,
    /// Exclusive; omitted: unbounded above.
    pub end: Option<String>,
}

/// What is wrong with the databases or the rules, or why a tenant has no
/// database. Each names the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// `[placement]` without any `[[databases]]`.
    #[error("`[placement]` needs `[[databases]]` to place tenants on")]
    NoDatabases,
    /// Two databases share a name.
    #[error("`[[databases]]` names `{name}` twice")]
    DuplicateDatabase {
        /// The name.
        name: String,
    },
    /// A database entry with an empty name or variable.
    #[error("`databases[{index}]`: `{field}` must not be empty")]
    EmptyField {
        /// Its position in `[[databases]]`.
        index: usize,
        /// `name` or `url_env`.
        field: &'static str,
    },
    /// A rule names a database that is not declared.
    #[error("{rule} names the database `{database}`, which `[[databases]]` does not declare")]
    UnknownDatabase {
        /// The rule (`placement.range[1]`, `placement.default`).
        rule: String,
        /// The name it gives.
        database: String,
    },
    /// A tenant id listed twice.
    #[error("the tenant `{tenant}` is listed by {first} and again by {second}")]
    DuplicateListValue {
        /// The id.
        tenant: String,
        /// The first rule listing it.
        first: String,
        /// The other.
        second: String,
    },
    /// A bound or listed id that is not of the key type.
    #[error("{rule}: `{value}` is not a tenant id of key type {key_type}")]
    NotOfKeyType {
        /// The rule.
        rule: String,
        /// The value.
        value: String,
        /// The key type.
        key_type: KeyType,
    },
    /// A range whose start is not below its end.
    #[error("{rule}: its start `{start}` is not below its end `{end}`, so it holds no tenant")]
    EmptyRange {
        /// The rule.
        rule: String,
        /// Its start.
        start: String,
        /// Its end.
        end: String,
    },
    /// Two ranges share tenants.
    #[error("{first} and {second} overlap: a tenant id must fall in one range at most")]
    Overlap {
        /// The range that starts first.
        first: String,
        /// The other.
        second: String,
    },
    /// A database's URL variable is not set.
    #[error("the database `{database}` reads its URL from ${variable}, which is not set")]
    MissingUrl {
        /// The database.
        database: String,
        /// The variable.
        variable: String,
    },
    /// The tenant id is not of the key type.
    #[error("the tenant id `{tenant}` is not of the placement's key type, {key_type}")]
    TenantNotOfKeyType {
        /// The id.
        tenant: String,
        /// The key type.
        key_type: KeyType,
    },
    /// The list rules hold more ids than a placement can index (4 billion,
    /// or 4 GiB of id text).
    #[error("`[[placement.list]]` holds more than 4 billion tenant ids or 4 GiB of id text")]
    TooManyListed,
    /// No rule places the tenant and there is no default.
    #[error("no placement rule places the tenant `{tenant}` and `[placement]` has no default")]
    Unplaced {
        /// The id.
        tenant: String,
    },
}

/// A tenant id as its key type orders it, borrowed from the id looked up
/// or from the stored list: a lookup that finds a database allocates
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key<'a> {
    Text(&'a [u8]),
    Integer(i128),
    Uuid([u8; 16]),
}

impl<'a> Key<'a> {
    fn parse(key_type: KeyType, value: &'a str) -> Option<Key<'a>> {
        match key_type {
            KeyType::Text => Some(Key::Text(value.as_bytes())),
            KeyType::Integer => value.trim().parse().ok().map(Key::Integer),
            KeyType::Uuid => parse_uuid(value).map(Key::Uuid),
        }
    }
}

/// A range bound, owned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Text(Box<[u8]>),
    Integer(i128),
    Uuid([u8; 16]),
}

impl Bound {
    fn of(key: Key<'_>) -> Bound {
        match key {
            Key::Text(bytes) => Bound::Text(bytes.into()),
            Key::Integer(n) => Bound::Integer(n),
            Key::Uuid(bytes) => Bound::Uuid(bytes),
        }
    }

    fn key(&self) -> Key<'_> {
        match self {
            Bound::Text(bytes) => Key::Text(bytes),
            Bound::Integer(n) => Key::Integer(*n),
            Bound::Uuid(bytes) => Key::Uuid(*bytes),
        }
    }
}

/// 32 hexadecimal digits, hyphens anywhere PostgreSQL's input accepts
/// them ignored, optionally in braces.
fn parse_uuid(value: &str) -> Option<[u8; 16]> {
    let trimmed = value.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(trimmed);
    let mut out = [0u8; 16];
    let mut digits = 0;
    for b in inner.bytes().filter(|&b| b != b'-') {
        let digit = (b as char).to_digit(16)? as u8;
        if digits == 32 {
            return None;
        }
        out[digits / 2] |= if digits % 2 == 0 { digit << 4 } else { digit };
        digits += 1;
    }
    (digits == 32).then_some(out)
}

/// The listed ids, each stored once, in the order of the list rules, and
/// found by their position: text ids back to back in one buffer, each
/// after its length (LEB128, one byte below 128), at its length's offset;
/// integers and UUIDs in a plain vector, at their index.
#[derive(Debug, Clone)]
enum Ids {
    Text(Vec<u8>),
    Integer(Vec<i128>),
    Uuid(Vec<[u8; 16]>),
}

impl Ids {
    fn new(key_type: KeyType) -> Ids {
        match key_type {
            KeyType::Text => Ids::Text(Vec::new()),
            KeyType::Integer => Ids::Integer(Vec::new()),
            KeyType::Uuid => Ids::Uuid(Vec::new()),
        }
    }

    /// The position the next id gets.
    fn end(&self) -> usize {
        match self {
            Ids::Text(bytes) => bytes.len(),
            Ids::Integer(ids) => ids.len(),
            Ids::Uuid(ids) => ids.len(),
        }
    }

    fn get(&self, position: usize) -> Key<'_> {
        match self {
            Ids::Text(bytes) => {
                let (mut len, mut shift, mut at) = (0usize, 0, position);
                loop {
                    let byte = bytes[at];
                    at += 1;
                    len |= usize::from(byte & 0x7f) << shift;
                    if byte < 0x80 {
                        break;
                    }
                    shift += 7;
                }
                Key::Text(&bytes[at..at + len])
            }
            Ids::Integer(ids) => Key::Integer(ids[position]),
            Ids::Uuid(ids) => Key::Uuid(ids[position]),
        }
    }

    /// Appends `key` (of this key type), returning its position.
    fn push(&mut self, key: Key<'_>) {
        match (self, key) {
            (Ids::Text(bytes), Key::Text(id)) => {
                let mut len = id.len();
                while len >= 0x80 {
                    bytes.push(len as u8 | 0x80);
                    len >>= 7;
                }
                bytes.push(len as u8);
                bytes.extend_from_slice(id);
            }
            (Ids::Integer(ids), Key::Integer(id)) => ids.push(id),
            (Ids::Uuid(ids), Key::Uuid(id)) => ids.push(id),
            _ => unreachable!("keys are parsed by the placement's key type"),
        }
    }

    fn shrink_to_fit(&mut self) {
        match self {
            Ids::Text(bytes) => bytes.shrink_to_fit(),
            Ids::Integer(ids) => ids.shrink_to_fit(),
            Ids::Uuid(ids) => ids.shrink_to_fit(),
        }
    }
}

/// The list rules: each id stored once ([`Ids`]) and found through a
/// [`hashbrown::HashTable`] of `u32` positions into them (a control byte
/// and 4 bytes per slot: the table holds no copy of the ids), and its
/// database known from the rule whose span of positions holds it.
#[derive(Debug, Clone)]
struct List {
    ids: Ids,
    table: HashTable<u32>,
    hasher: RandomState,
    /// Per list rule with ids: the end (exclusive) of its positions, and
    /// its database.
    rules: Vec<(u32, usize)>,
}

impl List {
    fn new(key_type: KeyType, capacity: usize) -> List {
        List {
            ids: Ids::new(key_type),
            table: HashTable::with_capacity(capacity),
            hasher: RandomState::new(),
            rules: Vec::new(),
        }
    }

    /// Adds `key`: `Ok(Err(position))` when an equal id is listed already
    /// (at `position`); `Err` when the list outgrows `u32` positions (4
    /// billion ids, or 4 GiB of id text: far beyond a `tenancy.toml` read
    /// whole into memory).
    fn insert(&mut self, key: Key<'_>) -> Result<Result<(), usize>, PlacementError> {
        let List {
            ids, table, hasher, ..
        } = self;
        let hash = hasher.hash_one(key);
        match table.entry(
            hash,
            |&position| ids.get(position as usize) == key,
            |&position| hasher.hash_one(ids.get(position as usize)),
        ) {
            Entry::Occupied(found) => Ok(Err(*found.get() as usize)),
            Entry::Vacant(slot) => {
                let position =
                    u32::try_from(ids.end()).map_err(|_| PlacementError::TooManyListed)?;
                ids.push(key);
                slot.insert(position);
                Ok(Ok(()))
            }
        }
    }

    /// Ends the span of the rule whose ids were just inserted.
    fn end_rule(&mut self, database: usize) -> Result<(), PlacementError> {
        let end = u32::try_from(self.ids.end()).map_err(|_| PlacementError::TooManyListed)?;
        self.rules.push((end, database));
        Ok(())
    }

    /// The list rule holding the id at `position`, counted among the rules
    /// with ids.
    fn rule_of(&self, position: usize) -> usize {
        self.rules
            .partition_point(|&(end, _)| end as usize <= position)
    }

    fn get(&self, key: Key<'_>) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        let position = *self.table.find(self.hasher.hash_one(key), |&position| {
            self.ids.get(position as usize) == key
        })?;
        Some(self.rules[self.rule_of(position as usize)].1)
    }
}

/// One range, bounds parsed: `None` start is unbounded below, `None` end
/// unbounded above.
#[derive(Debug, Clone)]
struct Range {
    start: Option<Bound>,
    end: Option<Bound>,
    database: usize,
}

/// The validated rules, ready for lookups.
#[derive(Debug, Clone)]
pub struct Placement {
    key_type: KeyType,
    databases: Vec<String>,
    list: List,
    /// Sorted by start, non-overlapping.
    ranges: Vec<Range>,
    default: Option<usize>,
}

impl Placement {
    /// Validates `databases` and `rules` together: every error names its
    /// entry (see [`PlacementError`]).
    pub fn new(
        databases: &[DatabaseConfig],
        rules: &PlacementConfig,
    ) -> Result<Placement, PlacementError> {
        if databases.is_empty() {
            return Err(PlacementError::NoDatabases);
        }
        let mut names: Vec<String> = Vec::with_capacity(databases.len());
        for (index, database) in databases.iter().enumerate() {
            for (field, value) in [("name", &database.name), ("url_env", &database.url_env)] {
                if value.trim().is_empty() {
                    return Err(PlacementError::EmptyField { index, field });
                }
            }
            if names.contains(&database.name) {
                return Err(PlacementError::DuplicateDatabase {
                    name: database.name.clone(),
                });
            }
            names.push(database.name.clone());
        }
        let database_of = |rule: &str, name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| PlacementError::UnknownDatabase {
                    rule: rule.to_string(),
                    database: name.to_string(),
                })
        };
        let key_type = rules.key_type;
        fn key_of<'v>(
            key_type: KeyType,
            rule: &dyn Fn() -> String,
            value: &'v str,
        ) -> Result<Key<'v>, PlacementError> {
            Key::parse(key_type, value).ok_or_else(|| PlacementError::NotOfKeyType {
                rule: rule(),
                value: value.to_string(),
                key_type,
            })
        }
        let list_rule = |index: usize| {
            format!(
                "placement.list[{index}] (database `{}`)",
                rules.list[index].database
            )
        };

        let mut list = List::new(key_type, rules.list.iter().map(|r| r.tenants.len()).sum());
        // Which `rules.list` entry each entry of `list.rules` is.
        let mut list_rules: Vec<usize> = Vec::new();
        for (index, rule) in rules.list.iter().enumerate() {
            let database = database_of(&list_rule(index), &rule.database)?;
            for tenant in &rule.tenants {
                let key = key_of(key_type, &|| list_rule(index), tenant)?;
                if let Err(first) = list.insert(key)? {
                    let first = match list_rules.get(list.rule_of(first)) {
                        Some(&first) => first,
                        None => index,
                    };
                    return Err(PlacementError::DuplicateListValue {
                        tenant: tenant.clone(),
                        first: list_rule(first),
                        second: list_rule(index),
                    });
                }
            }
            if !rule.tenants.is_empty() {
                list.end_rule(database)?;
                list_rules.push(index);
            }
        }
        list.ids.shrink_to_fit();

        let mut ranges = Vec::with_capacity(rules.range.len());
        let range_rule = |index: usize| {
            format!(
                "placement.range[{index}] (database `{}`)",
                rules.range[index].database
            )
        };
        for (index, rule) in rules.range.iter().enumerate() {
            let name = || range_rule(index);
            let database = database_of(&name(), &rule.database)?;
            let bound = |value: &Option<String>| {
                value
                    .as_deref()
                    .map(|v| key_of(key_type, &name, v).map(Bound::of))
                    .transpose()
            };
            let (start, end) = (bound(&rule.start)?, bound(&rule.end)?);
            if let (Some(s), Some(e)) = (&start, &end) {
                if s >= e {
                    return Err(PlacementError::EmptyRange {
                        rule: name(),
                        start: rule.start.clone().unwrap_or_default(),
                        end: rule.end.clone().unwrap_or_default(),
                    });
                }
            }
            ranges.push((
                Range {
                    start,
                    end,
                    database,
                },
                index,
            ));
        }
        // `None` (unbounded below) sorts first.
        ranges.sort_by(|a, b| a.0.start.cmp(&b.0.start));
        for pair in ranges.windows(2) {
            let ((first, first_index), (second, second_index)) = (&pair[0], &pair[1]);
            let overlaps = match (&first.end, &second.start) {
                (None, _) | (_, None) => true,
                (Some(end), Some(start)) => end > start,
            };
            if overlaps {
                return Err(PlacementError::Overlap {
                    first: range_rule(*first_index),
                    second: range_rule(*second_index),
                });
            }
        }

        let default = rules
            .default
            .as_deref()
            .map(|name| database_of("placement.default", name))
            .transpose()?;
        Ok(Placement {
            key_type,
            databases: names,
            list,
            ranges: ranges.into_iter().map(|(range, _)| range).collect(),
            default,
        })
    }

    /// The database `tenant` lives on by the rules: list, range, default.
    pub fn place(&self, tenant: &str) -> Result<&str, PlacementError> {
        let key = Key::parse(self.key_type, tenant).ok_or_else(|| {
            PlacementError::TenantNotOfKeyType {
                tenant: tenant.to_string(),
                key_type: self.key_type,
            }
        })?;
        let found = self
            .list
            .get(key)
            .or_else(|| self.range_of(key))
            .or(self.default);
        match found {
            Some(index) => Ok(&self.databases[index]),
            None => Err(PlacementError::Unplaced {
                tenant: tenant.to_string(),
            }),
        }
    }

    /// The range holding `key`: the last one starting at or below it, if
    /// it also ends above it.
    fn range_of(&self, key: Key<'_>) -> Option<usize> {
        let after = self.ranges.partition_point(|range| match &range.start {
            None => true,
            Some(start) => start.key() <= key,
        });
        let range = self.ranges.get(after.checked_sub(1)?)?;
        match &range.end {
            Some(end) if key >= end.key() => None,
            _ => Some(range.database),
        }
    }

    /// The databases' names, in declaration order.
    pub fn databases(&self) -> &[String] {
        &self.databases
    }
}

/// Each database's URL, read from its environment variable through
/// `lookup` (`std::env::var` in practice); the first unset one is an error
/// naming database and variable.
pub fn database_urls(
    databases: &[DatabaseConfig],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, PlacementError> {
    databases
        .iter()
        .map(|database| match lookup(&database.url_env) {
            Some(url) if !url.is_empty() => Ok((database.name.clone(), url)),
            _ => Err(PlacementError::MissingUrl {
                database: database.name.clone(),
                variable: database.url_env.clone(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;

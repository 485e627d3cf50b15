//! Placement rules: which database of a fleet a tenant lives on.
//!
//! The groundwork of tenants spread over several databases: the databases
//! (`[[databases]]`: a name, the environment variable holding its URL, an
//! optional pool size) and the rules (`[placement]`) as they will appear in
//! `tenancy.toml`, validated as a whole, and the lookup. `Config` does not
//! accept these sections yet and the runtime does not route by them; a
//! tenant's explicit placement in the registry (the directory) will take
//! precedence over them there.
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

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

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
    /// No rule places the tenant and there is no default.
    #[error("no placement rule places the tenant `{tenant}` and `[placement]` has no default")]
    Unplaced {
        /// The id.
        tenant: String,
    },
}

/// A tenant id as its key type orders it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Text(Vec<u8>),
    Integer(i128),
    Uuid([u8; 16]),
}

impl Key {
    fn parse(key_type: KeyType, value: &str) -> Option<Key> {
        match key_type {
            KeyType::Text => Some(Key::Text(value.as_bytes().to_vec())),
            KeyType::Integer => value.trim().parse().ok().map(Key::Integer),
            KeyType::Uuid => parse_uuid(value).map(Key::Uuid),
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
    let digits: Vec<u8> = inner
        .bytes()
        .filter(|&b| b != b'-')
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = pair[0] << 4 | pair[1];
    }
    Some(out)
}

/// One range, bounds parsed: `None` start is unbounded below, `None` end
/// unbounded above.
#[derive(Debug, Clone)]
struct Range {
    start: Option<Key>,
    end: Option<Key>,
    database: usize,
    rule: String,
}

/// The validated rules, ready for lookups.
#[derive(Debug, Clone)]
pub struct Placement {
    key_type: KeyType,
    databases: Vec<String>,
    list: HashMap<Key, usize>,
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
        let key_of = |rule: &str, value: &str| {
            Key::parse(key_type, value).ok_or_else(|| PlacementError::NotOfKeyType {
                rule: rule.to_string(),
                value: value.to_string(),
                key_type,
            })
        };

        let mut list: HashMap<Key, (usize, String)> = HashMap::new();
        for (index, rule) in rules.list.iter().enumerate() {
            let name = format!("placement.list[{index}] (database `{}`)", rule.database);
            let database = database_of(&name, &rule.database)?;
            for tenant in &rule.tenants {
                let key = key_of(&name, tenant)?;
                if let Some((_, first)) = list.get(&key) {
                    return Err(PlacementError::DuplicateListValue {
                        tenant: tenant.clone(),
                        first: first.clone(),
                        second: name,
                    });
                }
                list.insert(key, (database, name.clone()));
            }
        }

        let mut ranges = Vec::with_capacity(rules.range.len());
        for (index, rule) in rules.range.iter().enumerate() {
            let name = format!("placement.range[{index}] (database `{}`)", rule.database);
            let database = database_of(&name, &rule.database)?;
            let start = rule
                .start
                .as_deref()
                .map(|v| key_of(&name, v))
                .transpose()?;
            let end = rule.end.as_deref().map(|v| key_of(&name, v)).transpose()?;
            if let (Some(s), Some(e)) = (&start, &end) {
                if s >= e {
                    return Err(PlacementError::EmptyRange {
                        rule: name,
                        start: rule.start.clone().unwrap_or_default(),
                        end: rule.end.clone().unwrap_or_default(),
                    });
                }
            }
            ranges.push(Range {
                start,
                end,
                database,
                rule: name,
            });
        }
        // `None` (unbounded below) sorts first.
        ranges.sort_by(|a, b| a.start.cmp(&b.start));
        for pair in ranges.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            let overlaps = match (&first.end, &second.start) {
                (None, _) | (_, None) => true,
                (Some(end), Some(start)) => end > start,
            };
            if overlaps {
                return Err(PlacementError::Overlap {
                    first: first.rule.clone(),
                    second: second.rule.clone(),
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
            list: list.into_iter().map(|(k, (db, _))| (k, db)).collect(),
            ranges,
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
            .get(&key)
            .copied()
            .or_else(|| self.range_of(&key))
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
    fn range_of(&self, key: &Key) -> Option<usize> {
        let after = self.ranges.partition_point(|range| match &range.start {
            None => true,
            Some(start) => start.cmp(key) != Ordering::Greater,
        });
        let range = self.ranges.get(after.checked_sub(1)?)?;
        match &range.end {
            Some(end) if key >= end => None,
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

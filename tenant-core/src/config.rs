//! `tenancy.toml`: which tables are global, what the tenant column is called.
//!
//! Every front end (macros, CLI, runtime) reads the same file. All keys are
//! optional; unknown keys and malformed values are errors that name the key.
//!
//! ```toml
//! tenant_column = "tenant_id"          # default column name
//! global_tables = ["plans", "countries"]
//! forbid_delete = false
//! safe_functions = ["app.slugify"]     # functions known to read nothing
//! allow_explain = false
//! registry_schema = "tenancy"          # where the tenant registry lives
//! check_types = false                  # also type-check queries through sqlx's macros
//! citus = false                        # install on a Citus cluster (distributed tables)
//! default_layout = "partition"         # or "schema": a schema and role per tenant (see `layout`)
//! [[databases]]                        # tenants over several databases (see `fleet`)
//! name = "eu1"
//! url_env = "EU1_DATABASE_URL"
//! [tables.customers]                   # per-table override
//! tenant_column = "id"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fleet::{FleetConfig, FleetConfigError, FleetLayout};
use crate::layout::Layout;
use crate::placement::{DatabaseConfig, PlacementConfig};

/// The file name every front end looks for.
pub const FILE_NAME: &str = "tenancy.toml";

/// The default tenant column.
pub const DEFAULT_TENANT_COLUMN: &str = "tenant_id";

/// An error reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key or a value of the wrong type.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or `tenancy.toml` when parsed from a string.
        origin: String,
        /// The TOML parser's message, which names the key.
        message: String,
    },
}

/// Per-table settings, `[tables.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The tenant column of this table, overriding the global `tenant_column`.
    pub tenant_column: Option<String>,
    /// `true` makes the table global (shared by all tenants), like listing it
    /// in `global_tables`.
    #[serde(default)]
    pub global: bool,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The tenant column of every tenant table unless overridden.
    pub tenant_column: String,
    /// Tables shared by all tenants (no tenant column). Names may be
    /// schema-qualified (`ref.countries`); an unqualified name matches the
    /// unqualified reference and `public.NAME`.
    pub global_tables: BTreeSet<String>,
    /// Reject every DELETE (soft-delete shops).
    pub forbid_delete: bool,
    /// Functions the application declares safe: they compute on their
    /// arguments only (no SQL, no table, file, sequence or statistics).
    /// Built-in functions of that kind need no entry. Names may be
    /// schema-qualified (`app.slugify`); an unqualified name matches the
    /// unqualified call and `public.NAME`.
    pub safe_functions: BTreeSet<String>,
    /// Accept plain `EXPLAIN` (without ANALYZE) of an accepted statement.
    /// Off by default: the planner's estimates are computed from
    /// statistics over every tenant's rows.
    pub allow_explain: bool,
    /// The schema of the tenant registry (the runtime's and the `tenant`
    /// command's), when not the default `tenancy`. Every process of one
    /// tenancy must use the same registry.
    pub registry_schema: Option<String>,
    /// The query macros also check each statement's parameters and columns
    /// against the database, through sqlx's macros (online with
    /// `DATABASE_URL`, offline from `.sqlx` data with `SQLX_OFFLINE=true`).
    /// The crate then needs `sqlx` with its `macros` feature as a dependency.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub check_types: bool,
    /// The database is a Citus coordinator: the runtime's install
    /// distributes every tenant parent by its tenant column (co-located)
    /// and makes the `global_tables` reference tables, and offboarding
    /// detaches without `CONCURRENTLY` (see the book's Citus page).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub citus: bool,
    /// `[[databases]]`: the databases of a fleet (tenants spread over
    /// several databases; see [`crate::fleet`]). Empty: one database, as
    /// without a fleet. A run-time setting: the macros neither read it nor
    /// embed it.
    #[serde(skip_serializing)]
    pub databases: Vec<DatabaseConfig>,
    /// `[placement]`: which database a new tenant goes to (see
    /// [`crate::placement`]). Run-time only, like `databases`.
    #[serde(skip_serializing)]
    pub placement: Option<PlacementConfig>,
    /// `[fleet]`: the directory database, the connection and statement
    /// cache budgets (see [`crate::fleet`]). Run-time only.
    #[serde(skip_serializing)]
    pub fleet: Option<FleetConfig>,
    /// `default_layout`: where a tenant onboarded without a layout lives,
    /// `"partition"` (the default) or `"schema"` (see [`crate::layout`]).
    /// Run-time only, like `databases`: the checked SQL is the same in both.
    #[serde(skip_serializing)]
    pub default_layout: Layout,
    /// Per-table overrides, keyed by table name.
    pub tables: BTreeMap<String, TableConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tenant_column: DEFAULT_TENANT_COLUMN.to_string(),
            global_tables: BTreeSet::new(),
            forbid_delete: false,
            safe_functions: BTreeSet::new(),
            allow_explain: false,
            registry_schema: None,
            check_types: false,
            citus: false,
            databases: Vec::new(),
            placement: None,
            fleet: None,
            default_layout: Layout::default(),
            tables: BTreeMap::new(),
        }
    }
}

/// What the configuration says about one relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// Shared by all tenants: no restriction needed.
    Global,
    /// Holds rows of many tenants, told apart by this column.
    Tenant {
        /// The tenant column.
        column: String,
    },
}

impl Config {
    /// The configuration as compact JSON, the form the macros embed in the
    /// code they generate (`tenancy_config!`, `TenantTable::CHECKED_CONFIG`).
    pub fn to_embedded(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A configuration from [`Config::to_embedded`]'s form.
    pub fn from_embedded(json: &str) -> Result<Config, ConfigError> {
        serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
            origin: "the configuration embedded at build time".into(),
            message: e.to_string(),
        })
    }

    /// Every key whose value differs between `self` and `other`, with both
    /// values, in key order: `tenant_column: "tenant_id" != "org_id"`.
    /// Empty when they are the same.
    pub fn differences(&self, other: &Config) -> Vec<String> {
        let mine = serde_json::to_value(self).unwrap_or_default();
        let theirs = serde_json::to_value(other).unwrap_or_default();
        let mut out = Vec::new();
        collect_differences("", &mine, &theirs, &mut out);
        out
    }

    /// Parses a configuration from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, FILE_NAME)
    }

    fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.normalize();
        config.validate().map_err(|message| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Looks for `tenancy.toml` in `start` and then in each parent directory,
    /// stopping after `stop_at` (inclusive) when given. Returns the first found.
    pub fn find_file(start: &Path, stop_at: Option<&Path>) -> Option<PathBuf> {
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Some(candidate);
            }
            if stop_at.is_some_and(|stop| dir == stop) {
                break;
            }
        }
        None
    }

    /// Loads the first `tenancy.toml` found from `start` upwards (see
    /// [`find_file`](Config::find_file)), or the defaults when there is none.
    /// Returns the file used, if any, so callers can track it.
    pub fn discover(
        start: &Path,
        stop_at: Option<&Path>,
    ) -> Result<(Config, Option<PathBuf>), ConfigError> {
        match Self::find_file(start, stop_at) {
            Some(path) => Ok((Self::load(&path)?, Some(path))),
            None => Ok((Config::default(), None)),
        }
    }

    /// Identifiers in the file are matched the way PostgreSQL folds unquoted
    /// identifiers: write them lower-case, or they are lower-cased here unless
    /// written with double quotes (`"\"MixedCase\""`).
    fn normalize(&mut self) {
        self.tenant_column = fold_config_identifier(&self.tenant_column);
        self.global_tables = self
            .global_tables
            .iter()
            .map(|t| fold_config_name(t))
            .collect();
        self.safe_functions = self
            .safe_functions
            .iter()
            .map(|f| fold_config_name(f))
            .collect();
        self.registry_schema = self.registry_schema.as_deref().map(fold_config_identifier);
        self.tables = std::mem::take(&mut self.tables)
            .into_iter()
            .map(|(name, mut table)| {
                table.tenant_column = table.tenant_column.as_deref().map(fold_config_identifier);
                (fold_config_name(&name), table)
            })
            .collect();
    }

    fn validate(&self) -> Result<(), String> {
        if self.tenant_column.is_empty() {
            return Err("`tenant_column` must not be empty".into());
        }
        for name in &self.global_tables {
            if name.is_empty() {
                return Err("`global_tables` contains an empty table name".into());
            }
        }
        if self.registry_schema.as_deref() == Some("") {
            return Err("`registry_schema` must not be empty".into());
        }
        for name in &self.safe_functions {
            if name.is_empty() || name.split('.').any(str::is_empty) {
                return Err(format!(
                    "`safe_functions` contains an empty function name (`{name}`)"
                ));
            }
        }
        for (name, table) in &self.tables {
            if table.tenant_column.as_deref() == Some("") {
                return Err(format!("`tables.{name}.tenant_column` must not be empty"));
            }
            if table.global && table.tenant_column.is_some() {
                return Err(format!(
                    "`tables.{name}` is global but also names a `tenant_column`; a global table has no tenant column"
                ));
            }
            if self.global_tables.contains(name) && table.tenant_column.is_some() {
                return Err(format!(
                    "`{name}` is listed in `global_tables` but `tables.{name}.tenant_column` is set"
                ));
            }
        }
        self.fleet_layout().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The fleet sections (`[[databases]]`, `[placement]`, `[fleet]`)
    /// validated together; `Ok(None)` without `[[databases]]`. The
    /// databases' URL variables are read by the runtime, not here.
    pub fn fleet_layout(&self) -> Result<Option<FleetLayout>, FleetConfigError> {
        FleetLayout::new(
            &self.databases,
            self.placement.as_ref(),
            self.fleet.as_ref(),
        )
    }

    /// Classifies a relation by its (folded) schema and name. A relation the
    /// configuration does not mention is a tenant table (fail closed).
    ///
    /// A qualified entry (`ref.countries`) matches only that schema; an
    /// unqualified entry matches the unqualified name and `public.NAME`.
    pub fn table_kind(&self, schema: Option<&str>, name: &str) -> TableKind {
        self.configured_kind(schema, name)
            .unwrap_or_else(|| TableKind::Tenant {
                column: self.tenant_column.clone(),
            })
    }

    /// What the file itself says about a relation (`global_tables` or a
    /// `[tables.NAME]` entry), or `None` when it does not mention it.
    pub fn configured_kind(&self, schema: Option<&str>, name: &str) -> Option<TableKind> {
        let qualified = schema.map(|s| format!("{s}.{name}"));
        let unqualified_applies = matches!(schema, None | Some("public"));
        let lookup = |key: &str| -> Option<TableKind> {
            if self.global_tables.contains(key) {
                return Some(TableKind::Global);
            }
            let table = self.tables.get(key)?;
            if table.global {
                return Some(TableKind::Global);
            }
            Some(TableKind::Tenant {
                column: table
                    .tenant_column
                    .clone()
                    .unwrap_or_else(|| self.tenant_column.clone()),
            })
        };
        qualified
            .as_deref()
            .and_then(lookup)
            .or_else(|| unqualified_applies.then(|| lookup(name)).flatten())
    }

    /// Whether the application declared the function `[schema.]name` safe
    /// (`safe_functions`): a qualified entry matches only that schema, an
    /// unqualified one the unqualified call and `public.NAME`.
    pub fn declares_safe_function(&self, schema: Option<&str>, name: &str) -> bool {
        match schema {
            None => self.safe_functions.contains(name),
            Some(schema) => {
                self.safe_functions.contains(&format!("{schema}.{name}"))
                    || (schema == "public" && self.safe_functions.contains(name))
            }
        }
    }

    /// The tenant column of a table, or `None` when it is global.
    pub fn tenant_column_of(&self, schema: Option<&str>, name: &str) -> Option<String> {
        match self.table_kind(schema, name) {
            TableKind::Global => None,
            TableKind::Tenant { column } => Some(column),
        }
    }
}

/// Folds one identifier from the file: `"Quoted"` keeps its case, anything
/// else is lower-cased as PostgreSQL does for unquoted identifiers.
fn fold_config_identifier(ident: &str) -> String {
    let ident = ident.trim();
    match ident.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => ident.to_lowercase(),
    }
}

/// Folds a possibly schema-qualified name (`schema.table`).
fn fold_config_name(name: &str) -> String {
    // Only split on a dot outside double quotes.
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in name.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .iter()
        .map(|p| fold_config_identifier(p))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    }

    #[test]
    fn citus_is_off_unless_set_and_only_embedded_when_on() {
        assert!(!Config::default().citus);
        assert!(!Config::default().to_embedded().contains("citus"));
        let citus = Config::from_toml_str("citus = true").unwrap();
        assert!(citus.citus);
        assert!(citus.to_embedded().contains("\"citus\":true"));
        assert_eq!(Config::default().differences(&citus).len(), 1);
        assert!(Config::from_toml_str("citus = \"yes\"").is_err());
    }

    #[test]
    fn the_default_layout_is_run_time_only_and_names_a_bad_value() {
        let config = Config::from_toml_str("default_layout = \"schema\"").unwrap();
        assert_eq!(config.default_layout, Layout::Schema);
        assert_eq!(Config::default().default_layout, Layout::Partition);
        assert_eq!(config.to_embedded(), Config::default().to_embedded());
        let err = Config::from_toml_str("default_layout = \"schemas\"").unwrap_err();
        assert!(err.to_string().contains("default_layout"), "{err}");
        assert!(err.to_string().contains("partition"), "{err}");
    }

    #[test]
    fn fleet_sections_parse_validate_and_stay_out_of_the_embedded_form() {
        let config = Config::from_toml_str(
            r#"
            [[databases]]
            name = "eu1"
            url_env = "EU1_URL"
            [[databases]]
            name = "us1"
            url_env = "US1_URL"
            pool_size = 4
            [placement]
            default = "eu1"
            [[placement.list]]
            database = "us1"
            tenants = ["acme"]
            [fleet]
            directory = "us1"
            max_connections = 12
            "#,
        )
        .unwrap();
        let layout = config.fleet_layout().unwrap().unwrap();
        assert_eq!(layout.pool_sizes, [8, 4]);
        assert_eq!(layout.directory_name(), "us1");
        assert_eq!(layout.placement.place("acme").unwrap(), "us1");
        assert_eq!(layout.placement.place("zeta").unwrap(), "eu1");
        // The macros' view of the configuration is unchanged by them.
        assert_eq!(config.to_embedded(), Config::default().to_embedded());
        assert!(config.differences(&Config::default()).is_empty());

        let err = Config::from_toml_str(
            "[[databases]]\nname = \"eu1\"\nurl_env = \"X\"\n[placement]\ndefault = \"mars\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenancy.toml: placement.default names the database `mars`, which `[[databases]]` does not declare"
        );
        let err = Config::from_toml_str("[fleet]\nmax_connections = 3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenancy.toml: `[fleet]` needs `[[databases]]`"
        );
        assert!(Config::default().fleet_layout().unwrap().is_none());
    }

    #[test]
    fn full_file_parses_and_folds() {
        let config = Config::from_toml_str(
            r#"
            tenant_column = "Org_ID"
            global_tables = ["plans", "Ref.Countries", '"CamelGlobal"']
            forbid_delete = true
            [tables.customers]
            tenant_column = "id"
            [tables.currencies]
            global = true
            "#,
        )
        .unwrap();
        assert_eq!(config.tenant_column, "org_id");
        assert!(config.forbid_delete);
        assert_eq!(config.table_kind(None, "plans"), TableKind::Global);
        assert_eq!(
            config.table_kind(Some("public"), "plans"),
            TableKind::Global
        );
        assert_eq!(
            config.table_kind(Some("other"), "plans"),
            TableKind::Tenant {
                column: "org_id".into()
            }
        );
        assert_eq!(
            config.table_kind(Some("ref"), "countries"),
            TableKind::Global
        );
        assert_ne!(config.table_kind(None, "countries"), TableKind::Global);
        assert_eq!(config.table_kind(None, "CamelGlobal"), TableKind::Global);
        assert_eq!(config.table_kind(None, "currencies"), TableKind::Global);
        assert_eq!(
            config.table_kind(None, "customers"),
            TableKind::Tenant {
                column: "id".into()
            }
        );
        assert_eq!(
            config.table_kind(None, "unknown_relation"),
            TableKind::Tenant {
                column: "org_id".into()
            }
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml_str("tenant_colum = \"x\"").unwrap_err();
        assert!(err.to_string().contains("tenant_colum"), "{err}");
        let err = Config::from_toml_str("[tables.x]\ntenant = \"a\"").unwrap_err();
        assert!(err.to_string().contains("tenant"), "{err}");
    }

    #[test]
    fn malformed_value_is_named() {
        let err = Config::from_toml_str("forbid_delete = \"yes\"").unwrap_err();
        assert!(err.to_string().contains("forbid_delete"), "{err}");
        let err = Config::from_toml_str("global_tables = \"plans\"").unwrap_err();
        assert!(err.to_string().contains("global_tables"), "{err}");
        let err = Config::from_toml_str("tenant_column = \"\"").unwrap_err();
        assert!(err.to_string().contains("tenant_column"), "{err}");
    }

    #[test]
    fn contradictions_are_errors() {
        let err = Config::from_toml_str(
            "global_tables = [\"plans\"]\n[tables.plans]\ntenant_column = \"x\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("plans"), "{err}");
    }

    #[test]
    fn discovery_walks_up() {
        let dir = std::env::temp_dir().join(format!("tenancy-discover-{}", std::process::id()));
        let nested = dir.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.join(FILE_NAME), "forbid_delete = true").unwrap();
        let (config, path) = Config::discover(&nested, None).unwrap();
        assert!(config.forbid_delete);
        assert_eq!(path.unwrap(), dir.join(FILE_NAME));
        let (config, path) = Config::discover(&nested, Some(&nested)).unwrap();
        assert!(!config.forbid_delete);
        assert!(path.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Walks two JSON trees in step, naming each leaf (or missing key) where
/// they differ by its dotted path.
fn collect_differences(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let null = Value::Null;
                collect_differences(
                    &sub,
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} != {b}")),
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::*;

    #[test]
    fn the_embedded_form_round_trips_and_differences_name_each_key() {
        let a = Config::from_toml_str(
            "tenant_column = \"tenant_id\"\nglobal_tables = [\"plans\"]\n[tables.customers]\ntenant_column = \"id\"\n",
        )
        .unwrap();
        assert_eq!(Config::from_embedded(&a.to_embedded()).unwrap(), a);
        assert!(a.differences(&a.clone()).is_empty());
        let b =
            Config::from_toml_str("tenant_column = \"org_id\"\nforbid_delete = true\n").unwrap();
        let diff = a.differences(&b);
        assert!(
            diff.contains(&"tenant_column: \"tenant_id\" != \"org_id\"".to_string()),
            "{diff:?}"
        );
        assert!(
            diff.iter().any(|d| d.starts_with("forbid_delete:")),
            "{diff:?}"
        );
        assert!(
            diff.iter().any(|d| d.starts_with("global_tables:")),
            "{diff:?}"
        );
        assert!(
            diff.iter().any(|d| d.starts_with("tables.customers:")),
            "{diff:?}"
        );
        assert!(Config::from_embedded("{not json").is_err());
    }
}

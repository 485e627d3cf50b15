//! Finding and loading `tenancy.toml` for the crate being compiled.
//!
//! Lookup order:
//! 1. the file named by the `TENANCY_CONFIG` environment variable, when set
//!    (an explicit override; the ui-tests use it because trybuild compiles
//!    cases in a project under `target/tests/trybuild/`);
//! 2. `tenancy.toml` in `CARGO_MANIFEST_DIR`, then in each parent directory up
//!    to and including the workspace root (the nearest ancestor whose
//!    `Cargo.toml` has a `[workspace]` table);
//! 3. none found: the defaults.
//!
//! Generated code embeds `include_bytes!` of the file found and
//! `option_env!("TENANCY_CONFIG")`, so cargo recompiles the crate when the
//! file or the variable changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use proc_macro2::TokenStream;
use quote::quote;
use tenant_core::Config;

/// The environment variable that overrides the lookup.
pub const CONFIG_ENV: &str = "TENANCY_CONFIG";

/// The configuration in force for one macro call, and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The parsed configuration (the defaults when no file was found).
    pub config: Config,
    /// The file read, if any.
    pub path: Option<PathBuf>,
}

impl LoadedConfig {
    /// The defaults, for code generated while the real configuration
    /// cannot be loaded (see `report_once`).
    pub fn fallback() -> Self {
        LoadedConfig {
            config: Config::default(),
            path: None,
        }
    }

    /// The defaults, with no file: what unit tests use.
    #[cfg(test)]
    pub fn defaults() -> Self {
        LoadedConfig {
            config: Config::default(),
            path: None,
        }
    }

    /// A configuration parsed from TOML text, as if read from `tenancy.toml`.
    #[cfg(test)]
    pub fn from_toml(text: &str) -> Self {
        LoadedConfig {
            config: Config::from_toml_str(text).expect("valid test configuration"),
            path: Some(PathBuf::from("tenancy.toml")),
        }
    }

    /// Where the configuration came from, for messages.
    pub fn origin(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "the defaults (no tenancy.toml found)".to_string(),
        }
    }

    /// Items that make cargo rebuild the crate when the configuration changes.
    pub fn tracking_items(&self) -> TokenStream {
        let env = quote! {
            const _: ::core::option::Option<&str> = ::core::option_env!(#CONFIG_ENV);
        };
        match self.path.as_ref().and_then(|p| p.to_str()) {
            Some(path) if self.path.as_ref().is_some_and(|p| p.is_absolute()) => quote! {
                #env
                const _: &[u8] = ::core::include_bytes!(#path);
            },
            _ => env,
        }
    }
}

/// Configurations already parsed in this compiler process, keyed by file and
/// its contents, so 500 macro calls do not parse the same file 500 times and
/// an edited file is never served stale (rust-analyzer keeps the process).
static CACHE: Mutex<Option<HashMap<(PathBuf, String), Config>>> = Mutex::new(None);

/// Loads the configuration for the crate being compiled.
pub fn load() -> Result<LoadedConfig, String> {
    let path = match std::env::var_os(CONFIG_ENV) {
        Some(explicit) if !explicit.is_empty() => {
            let path = PathBuf::from(explicit);
            let path = if path.is_relative() {
                manifest_dir()?.join(path)
            } else {
                path
            };
            if !path.is_file() {
                return Err(format!(
                    "{CONFIG_ENV} names `{}`, which is not a file",
                    path.display()
                ));
            }
            Some(path)
        }
        _ => {
            let start = manifest_dir()?;
            let stop = workspace_root(&start);
            Config::find_file(&start, Some(stop.as_deref().unwrap_or(&start)))
        }
    };
    let Some(path) = path else {
        return Ok(LoadedConfig {
            config: Config::default(),
            path: None,
        });
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = (path.clone(), text);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(config) = cache.get(&key) {
        return Ok(LoadedConfig {
            config: config.clone(),
            path: Some(path),
        });
    }
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    cache.insert(key, config.clone());
    Ok(LoadedConfig {
        config,
        path: Some(path),
    })
}

/// The directory of the crate being compiled (`CARGO_MANIFEST_DIR`).
pub(crate) fn manifest_dir() -> Result<PathBuf, String> {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| "CARGO_MANIFEST_DIR is not set: build with cargo".to_string())
}

/// The nearest directory at or above `start` whose `Cargo.toml` declares a
/// `[workspace]`; that is where the lookup stops.
fn workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| {
                let line = line.trim();
                line == "[workspace]" || line.starts_with("[workspace.")
            })
            .then(|| dir.to_path_buf())
    })
}

/// The configuration errors already reported, by crate being compiled.
static REPORTED: Mutex<Option<std::collections::HashSet<(String, String)>>> = Mutex::new(None);

/// `compile_error!` with `message` the first time this crate's compilation
/// meets it, nothing after: a broken `tenancy.toml` is one error per crate,
/// not one per macro call. Every macro of a crate runs in the same compiler
/// process (cargo runs one rustc per crate), and that process starts afresh
/// on each build, so the error is never lost on a rebuild. A long-lived
/// expander (rust-analyzer's proc-macro server) shows it at the first
/// expansion only: the build still fails on it.
pub fn report_once(message: &str) -> TokenStream {
    let krate = std::env::var("CARGO_CRATE_NAME").unwrap_or_default()
        + "/"
        + &std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let first = match REPORTED.lock() {
        Ok(mut reported) => reported
            .get_or_insert_with(Default::default)
            .insert((krate, message.to_string())),
        Err(_) => true,
    };
    if first {
        quote! { ::core::compile_error! { #message } }
    } else {
        TokenStream::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_is_the_nearest_workspace_manifest() {
        let dir = std::env::temp_dir().join(format!("tenant-macros-ws-{}", std::process::id()));
        let member = dir.join("member/src");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"member\"]\n",
        )
        .unwrap();
        std::fs::write(dir.join("member/Cargo.toml"), "[package]\nname = \"m\"\n").unwrap();
        assert_eq!(workspace_root(&member), Some(dir.clone()));
        assert_eq!(workspace_root(&dir), Some(dir.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tracking_includes_the_file_only_when_absolute() {
        let mut loaded = LoadedConfig::defaults();
        assert!(!loaded
            .tracking_items()
            .to_string()
            .contains("include_bytes"));
        loaded.path = Some(PathBuf::from("/somewhere/tenancy.toml"));
        let tokens = loaded.tracking_items().to_string();
        assert!(tokens.contains("include_bytes"), "{tokens}");
        assert!(tokens.contains("/somewhere/tenancy.toml"), "{tokens}");
        assert!(tokens.contains("TENANCY_CONFIG"), "{tokens}");
    }
}

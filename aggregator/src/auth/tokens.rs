//! The token file (`--auth-file`): one JSON object a line, holding a
//! token's name, role, tables and the SHA-256 of its secret, never the
//! secret itself.
//!
//! ```text
//! {"name":"grafana","role":"read","tables":["requests*"],"sha256":"9f86d0..."}
//! ```
//!
//! Secrets are 256 random bits, so a plain SHA-256 is as strong as a salted
//! slow hash would be, and a lookup is one hash. `shoal token create`
//! appends a line; a running aggregator reads the file again when its
//! modification time or size changes (checked at most once a second), so
//! new and deleted tokens take effect without a restart. The file must
//! exist when the aggregator starts. A file that can no longer be read or
//! parsed fails closed: no token is accepted until it is good again (a
//! revocation must never be lost to a typo).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::auth::{Principal, Role};

/// Prefix of every secret, so a leaked one is easy to recognise.
pub const SECRET_PREFIX: &str = "shoal_";
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// One line of the token file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenLine {
    name: String,
    role: Role,
    #[serde(default)]
    tables: Vec<String>,
    sha256: String,
}

/// A token file and what it last held.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    cache: RwLock<Cache>,
}

#[derive(Debug)]
struct Cache {
    checked: Instant,
    modified: Option<(SystemTime, u64)>,
    by_hash: HashMap<String, Arc<Principal>>,
}

impl TokenFile {
    /// Reads `path`; fails when it is missing, cannot be read or does not
    /// parse.
    pub fn open(path: &Path) -> Result<Self, String> {
        if !path.exists() {
            return Err(format!(
                "{} does not exist: create tokens first with shoal token create",
                path.display()
            ));
        }
        let modified = modified(path);
        let by_hash = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            cache: RwLock::new(Cache {
                checked: Instant::now(),
                modified,
                by_hash,
            }),
        })
    }

    /// The holder of `secret`, if the file knows it.
    pub fn authenticate(&self, secret: &str) -> Option<Arc<Principal>> {
        self.reload_if_changed();
        let hash = hash_secret(secret);
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache.by_hash.get(&hash).cloned()
    }

    fn reload_if_changed(&self) {
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if cache.checked.elapsed() < RELOAD_EVERY {
                return;
            }
        }
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.checked.elapsed() < RELOAD_EVERY {
            return;
        }
        cache.checked = Instant::now();
        let now_modified = modified(&self.path);
        if now_modified == cache.modified {
            return;
        }
        cache.modified = now_modified;
        match read(&self.path) {
            Ok(by_hash) => cache.by_hash = by_hash,
            Err(error) => {
                warn!(%error, "token file unreadable: no token is accepted until it is fixed");
                cache.by_hash.clear();
            }
        }
    }
}

fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read(path: &Path) -> Result<HashMap<String, Arc<Principal>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut by_hash = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| format!("{} line {}: {why}", path.display(), index + 1);
        let entry: TokenLine = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let tables = entry
            .tables
            .iter()
            .map(|glob| {
                glob::Pattern::new(glob).map_err(|e| bad(format!("table glob {glob:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        by_hash.insert(
            entry.sha256.to_ascii_lowercase(),
            Arc::new(Principal {
                name: entry.name,
                role: entry.role,
                tables,
            }),
        );
    }
    Ok(by_hash)
}

/// The file's record of a secret.
pub fn hash_secret(secret: &str) -> String {
    const_hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Adds a token to the file at `path` (created, readable by its owner only,
/// if missing) and returns its secret. Names are unique within a file.
pub fn create_token(
    path: &Path,
    name: &str,
    role: Role,
    tables: &[String],
) -> Result<String, String> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err("a token name must be 1 to 128 printable characters".to_string());
    }
    for glob in tables {
        glob::Pattern::new(glob).map_err(|e| format!("table glob {glob:?}: {e}"))?;
    }
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    for line in existing.lines().filter(|l| !l.trim().is_empty()) {
        let entry: TokenLine = serde_json::from_str(line)
            .map_err(|e| format!("{} does not parse: {e}", path.display()))?;
        if entry.name == name {
            return Err(format!(
                "{} already has a token named {name:?}",
                path.display()
            ));
        }
    }
    let random: [u8; 32] = rand::random();
    let secret = format!("{SECRET_PREFIX}{}", const_hex::encode(random));
    let line = serde_json::to_string(&TokenLine {
        name: name.to_string(),
        role,
        tables: tables.to_vec(),
        sha256: hash_secret(&secret),
    })
    .map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let needs_newline = !existing.is_empty() && !existing.ends_with('\n');
    let text = format!("{}{line}\n", if needs_newline { "\n" } else { "" });
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tokens_authenticate_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let reader = create_token(&path, "grafana", Role::Read, &["req*".into()]).unwrap();
        let writer = create_token(&path, "vector", Role::Ingest, &[]).unwrap();
        assert!(reader.starts_with(SECRET_PREFIX));
        assert!(create_token(&path, "grafana", Role::Admin, &[]).is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&reader), "the secret itself is never stored");
        let file = TokenFile::open(&path).unwrap();
        let principal = file.authenticate(&reader).unwrap();
        assert_eq!(
            (principal.name.as_str(), principal.role),
            ("grafana", Role::Read)
        );
        assert_eq!(file.authenticate(&writer).unwrap().role, Role::Ingest);
        assert!(file.authenticate("shoal_wrong").is_none());
        assert!(file.authenticate("").is_none());
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            "{\"name\":\"a\",\"role\":\"root\",\"sha256\":\"00\"}\n",
        )
        .unwrap();
        let error = TokenFile::open(&path).unwrap_err();
        assert!(error.contains("line 1"), "{error}");
    }
}

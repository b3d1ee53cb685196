//! What both tiers agree a table name is: which names are valid (they
//! are directory names on a leaf), which are system tables, how many
//! tables a leaf holds, and the clock that stamps rows and snapshots.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{ContractError, Result};

/// Tables one leaf holds at most; rows for a new table past it are refused.
pub const MAX_TABLES: usize = 10_000;

/// Names of system tables start with this: Shoal's own state kept as rows
/// (`_shoal_dashboards`), which upkeep never drops.
pub const SYSTEM_TABLE_PREFIX: &str = "_shoal_";

/// Whether `name` is a system table (see [`SYSTEM_TABLE_PREFIX`]).
pub fn is_system_table(name: &str) -> bool {
    name.starts_with(SYSTEM_TABLE_PREFIX)
}

/// Checks that `name` can be a table (and a directory) name.
pub fn validate_table_name(name: &str) -> Result<()> {
    let invalid = |reason| ContractError::InvalidTableName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > 128 {
        return Err(invalid("it is longer than 128 bytes"));
    }
    if name.starts_with('.') {
        return Err(invalid("it starts with a dot"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid(
            "only letters, digits, '_', '-' and '.' are allowed",
        ));
    }
    Ok(())
}

/// Microseconds since the Unix epoch now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

//! The block manifest of a table: what each sealed block holds, so that a
//! restart reads one small file instead of every block's footer.
//!
//! ```text
//! blocks.manifest := "shoal-manifest 1\n" line*
//! line            := segment part rows min_time max_time bytes modified_nanos "\n"
//! ```
//!
//! A line is appended after a block is renamed into place, and the file is
//! rewritten (temporary file and rename) when blocks are dropped. The
//! manifest is a cache, never the truth: recovery trusts a line only for a
//! block file that exists with exactly the recorded size and modification
//! time; any other block (replaced, say, by another Shoal version) is
//! opened and its footer read, and a manifest of another version is ignored.
//!
//! `lost.manifest`, in the same format, lists blocks that failed their
//! checksum and could not be restored from the backup: their rows are
//! counted as unanswered in every query's completeness until retention
//! would have dropped them.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::block::{BlockId, BlockMeta, write_atomically};
use crate::error::{LeafError, Result};

/// File name of the manifest in a table's directory.
pub const MANIFEST_FILE: &str = "blocks.manifest";
/// File name of the list of blocks lost to corruption.
pub const LOST_FILE: &str = "lost.manifest";
const HEADER: &str = "shoal-manifest 1\n";

/// Block metadata recorded in `dir`'s manifest; empty when there is none or
/// it has another version. Later lines win over earlier ones.
pub fn read(dir: &Path) -> HashMap<BlockId, BlockMeta> {
    read_file(&dir.join(MANIFEST_FILE))
}

/// Blocks of the table in `dir` lost to corruption.
pub fn read_lost(dir: &Path) -> Vec<BlockMeta> {
    let mut lost: Vec<BlockMeta> = read_file(&dir.join(LOST_FILE)).into_values().collect();
    lost.sort_by_key(|meta| meta.id);
    lost
}

/// Replaces the list of lost blocks with `metas`.
pub fn rewrite_lost<'a>(dir: &Path, metas: impl IntoIterator<Item = &'a BlockMeta>) -> Result<()> {
    rewrite_file(&dir.join(LOST_FILE), metas)
}

fn read_file(path: &Path) -> HashMap<BlockId, BlockMeta> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let Some(lines) = text.strip_prefix(HEADER) else {
        return HashMap::new();
    };
    // A line cut short by a crash has no newline and is not trusted.
    let complete = match lines.rfind('\n') {
        Some(end) => &lines[..=end],
        None => "",
    };
    complete
        .lines()
        .filter_map(parse_line)
        .map(|meta| (meta.id, meta))
        .collect()
}

/// Records `meta` after its block file is in place.
pub fn append(dir: &Path, meta: &BlockMeta) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| LeafError::io(&path, e))?;
    let mut text = String::new();
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        text.push_str(HEADER);
    }
    text.push_str(&format_line(meta));
    file.write_all(text.as_bytes())
        .map_err(|e| LeafError::io(&path, e))
}

/// Replaces the manifest with exactly `metas`.
pub fn rewrite<'a>(dir: &Path, metas: impl IntoIterator<Item = &'a BlockMeta>) -> Result<()> {
    rewrite_file(&dir.join(MANIFEST_FILE), metas)
}

fn rewrite_file<'a>(path: &Path, metas: impl IntoIterator<Item = &'a BlockMeta>) -> Result<()> {
    let mut text = String::from(HEADER);
    for meta in metas {
        text.push_str(&format_line(meta));
    }
    write_atomically(path, text.as_bytes())
}

fn format_line(meta: &BlockMeta) -> String {
    format!(
        "{} {} {} {} {} {} {}\n",
        meta.id.segment,
        meta.id.part,
        meta.rows,
        meta.min_time_micros,
        meta.max_time_micros,
        meta.bytes,
        meta.modified_nanos
    )
}

fn parse_line(line: &str) -> Option<BlockMeta> {
    let mut fields = line.split(' ');
    let meta = BlockMeta {
        id: BlockId {
            segment: fields.next()?.parse().ok()?,
            part: fields.next()?.parse().ok()?,
        },
        rows: fields.next()?.parse().ok()?,
        min_time_micros: fields.next()?.parse().ok()?,
        max_time_micros: fields.next()?.parse().ok()?,
        bytes: fields.next()?.parse().ok()?,
        modified_nanos: fields.next()?.parse().ok()?,
    };
    fields.next().is_none().then_some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(segment: u64, rows: u64) -> BlockMeta {
        BlockMeta {
            id: BlockId { segment, part: 0 },
            rows,
            min_time_micros: -5,
            max_time_micros: 9,
            bytes: 1234,
            modified_nanos: 99,
        }
    }

    #[test]
    fn lines_round_trip_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &meta(1, 10)).unwrap();
        append(dir.path(), &meta(2, 20)).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(MANIFEST_FILE))
            .unwrap();
        file.write_all(b"3 0 30 1").unwrap();
        let read_back = read(dir.path());
        assert_eq!(read_back.len(), 2);
        assert_eq!(
            read_back[&BlockId {
                segment: 2,
                part: 0
            }]
                .rows,
            20
        );
        assert_eq!(
            read_back[&BlockId {
                segment: 1,
                part: 0
            }]
                .min_time_micros,
            -5
        );

        rewrite(dir.path(), [&meta(2, 21)]).unwrap();
        let read_back = read(dir.path());
        assert_eq!(read_back.len(), 1);
        assert_eq!(
            read_back[&BlockId {
                segment: 2,
                part: 0
            }]
                .rows,
            21
        );
    }

    #[test]
    fn another_version_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            "shoal-manifest 2\n1 0 10 0 0 5 7\n",
        )
        .unwrap();
        assert!(read(dir.path()).is_empty());
    }
}

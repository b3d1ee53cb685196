//! Roaring bitmap indexes of a sealed block's low-cardinality string columns.
//!
//! For each dictionary-encoded string column with at most
//! [`MAX_INDEXED_VALUES`] distinct values in the block, the index holds, per
//! dictionary key, the bitmap of the rows holding that value. An `=` or `IN`
//! filter then touches only the rows of the matching values, and skips the
//! block outright when none of its rows match.
//!
//! The index is a sidecar file (`<block>.idx`) that is mapped, not parsed:
//! loading reads only the per-column headers, and a bitmap is deserialized
//! when a query asks for its key.
//!
//! ```text
//! file    := "SHOALIDX" version:u32le columns:u32le column*  bitmaps
//! column  := name_len:u32le name keys:u32le entry{keys}          (entry i is key i)
//! entry   := offset:u64le length:u32le                           (into the file)
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AnyDictionaryArray, Array, AsArray, RecordBatch, StringArray};
use memmap2::Mmap;
use roaring::RoaringBitmap;

use crate::error::{LeafError, Result};
use crate::string_match::Wanted;

/// Columns with more distinct values than this in a block are not indexed.
pub const MAX_INDEXED_VALUES: usize = 8192;
const MAGIC: &[u8; 8] = b"SHOALIDX";
/// Version of the index layout.
pub const INDEX_FORMAT_VERSION: u32 = 1;
const ENTRY_LEN: usize = 12;
/// A row without a key to index (null, or past the dictionary).
const NO_KEY: u32 = u32::MAX;

/// Serializes the bitmap index of `batch`; `None` when no column qualifies.
pub fn build_index(batch: &RecordBatch) -> Result<Option<Vec<u8>>> {
    let mut columns: Vec<(&str, Vec<RoaringBitmap>)> = Vec::new();
    for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        // Any key width: 16 bits in blocks of format 3, 32 before.
        let Some(dictionary) = column.as_any_dictionary_opt() else {
            continue;
        };
        let distinct = dictionary.values().len();
        if distinct == 0 || distinct > MAX_INDEXED_VALUES {
            continue;
        }
        let nulls = dictionary.keys().logical_nulls();
        let keys: Vec<u32> = dictionary
            .normalized_keys()
            .into_iter()
            .enumerate()
            .map(|(row, key)| {
                let valid = nulls.as_ref().is_none_or(|nulls| nulls.is_valid(row));
                match valid && key < distinct {
                    true => key as u32,
                    false => NO_KEY,
                }
            })
            .collect();
        columns.push((field.name().as_str(), bitmaps_by_key(&keys, distinct)));
    }
    if columns.is_empty() {
        return Ok(None);
    }

    let directory_len: usize = columns
        .iter()
        .map(|(name, bitmaps)| 8 + name.len() + bitmaps.len() * ENTRY_LEN)
        .sum();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&INDEX_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    let mut blob_offset = (out.len() + directory_len) as u64;
    let mut blob = Vec::new();
    for (name, bitmaps) in &columns {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bitmaps.len() as u32).to_le_bytes());
        for bitmap in bitmaps {
            let before = blob.len();
            bitmap
                .serialize_into(&mut blob)
                .map_err(|e| LeafError::BadRequest(format!("index serialization: {e}")))?;
            let length = (blob.len() - before) as u32;
            out.extend_from_slice(&blob_offset.to_le_bytes());
            out.extend_from_slice(&length.to_le_bytes());
            blob_offset += u64::from(length);
        }
    }
    out.extend_from_slice(&blob);
    Ok(Some(out))
}

/// The rows of each key, `keys` giving each row's (or [`NO_KEY`]): the rows are
/// first sorted by key (a counting sort), so each bitmap is built from one
/// run of rows in order instead of one row at a time across all bitmaps.
fn bitmaps_by_key(keys: &[u32], distinct: usize) -> Vec<RoaringBitmap> {
    let mut starts = vec![0_usize; distinct + 1];
    for &key in keys.iter().filter(|&&key| key != NO_KEY) {
        starts[key as usize + 1] += 1;
    }
    for key in 0..distinct {
        starts[key + 1] += starts[key];
    }
    let mut next = starts.clone();
    let mut rows = vec![0_u32; starts[distinct]];
    for (row, &key) in keys.iter().enumerate() {
        if key != NO_KEY {
            let key = key as usize;
            rows[next[key]] = row as u32;
            next[key] += 1;
        }
    }
    starts
        .windows(2)
        .map(|run| {
            let sorted = rows[run[0]..run[1]].iter().copied();
            // In order by construction: the build cannot fail.
            RoaringBitmap::from_sorted_iter(sorted).unwrap_or_default()
        })
        .collect()
}

/// A mapped index file.
#[derive(Debug)]
pub struct BitmapIndex {
    map: Arc<Mmap>,
    /// Column name → (offset of its first entry, number of keys).
    columns: HashMap<String, (usize, usize)>,
}

impl BitmapIndex {
    /// Maps the index at `path`, reading only its column headers.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| LeafError::io(path, e))?;
        // SAFETY: sealed files are written once, renamed into place and never
        // modified; the leaf owns its data directory.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| LeafError::io(path, e))?;
        let bad = |reason: String| LeafError::BadBlock {
            path: path.to_path_buf(),
            reason,
        };
        if map.len() < 16 || &map[..8] != MAGIC {
            return Err(bad("not a Shoal index (bad magic)".to_string()));
        }
        let version = read_u32(&map, 8).unwrap_or(0);
        if version != INDEX_FORMAT_VERSION {
            return Err(bad(format!(
                "index format version {version}, this leaf reads version {INDEX_FORMAT_VERSION}"
            )));
        }
        let count = read_u32(&map, 12).unwrap_or(0) as usize;
        // Each column takes at least 8 bytes: a damaged count must not size
        // the map (it did, to 4 billion entries: found by fuzzing).
        if count > map.len() / 8 {
            return Err(bad(format!(
                "{count} columns cannot fit in {} bytes",
                map.len()
            )));
        }
        let mut columns = HashMap::with_capacity(count);
        let mut offset = 16;
        for _ in 0..count {
            let name_len = read_u32(&map, offset).ok_or_else(|| bad("truncated".into()))? as usize;
            let name = map
                .get(offset + 4..offset + 4 + name_len)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .ok_or_else(|| bad("bad column name".into()))?;
            offset += 4 + name_len;
            let keys = read_u32(&map, offset).ok_or_else(|| bad("truncated".into()))? as usize;
            offset += 4;
            if offset + keys * ENTRY_LEN > map.len() {
                return Err(bad("truncated directory".to_string()));
            }
            columns.insert(name.to_string(), (offset, keys));
            offset += keys * ENTRY_LEN;
        }
        Ok(Self {
            map: Arc::new(map),
            columns,
        })
    }

    /// Whether `column` is indexed in this block.
    pub fn has_column(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// Rows of `column` equal to any of `values`, looked up through the
    /// block's dictionary. `None` when the column is not indexed.
    pub fn rows_matching(
        &self,
        column: &str,
        dictionary: &dyn AnyDictionaryArray,
        values: &[impl AsRef<[u8]>],
    ) -> Option<RoaringBitmap> {
        let &(directory, keys) = self.columns.get(column)?;
        let dictionary_values: &StringArray = dictionary.values().as_string_opt()?;
        let wanted = Wanted::new(values);
        let mut rows = RoaringBitmap::new();
        for key in 0..dictionary_values.len().min(keys) {
            if dictionary_values.is_null(key)
                || !wanted.holds(dictionary_values.value(key).as_bytes())
            {
                continue;
            }
            rows |= self.bitmap(directory + key * ENTRY_LEN)?;
        }
        // An index never names a row its block does not have.
        rows.remove_range(dictionary.len() as u32..);
        Some(rows)
    }

    fn bitmap(&self, entry: usize) -> Option<RoaringBitmap> {
        let offset = u64::from_le_bytes(self.map.get(entry..entry + 8)?.try_into().ok()?) as usize;
        let length = read_u32(&self.map, entry + 8)? as usize;
        let bytes = self.map.get(offset..offset.checked_add(length)?)?;
        RoaringBitmap::deserialize_from(bytes).ok()
    }

    /// CRC-32 of the whole file, which its block records.
    pub fn checksum(&self) -> u32 {
        crc32fast::hash(&self.map)
    }

    /// Bytes of the mapped file.
    pub fn bytes(&self) -> u64 {
        self.map.len() as u64
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, StringArray, UInt16Array};
    use arrow::datatypes::UInt16Type;

    #[test]
    fn each_value_finds_exactly_its_rows_nulls_none() {
        let values = StringArray::from(vec!["a", "b", "c", "unused"]);
        // Row r holds key r % 3, every seventh row null: runs past one
        // roaring array container's 4,096 rows.
        let keys: UInt16Array = (0..20_000u16)
            .map(|row| (row % 7 != 0).then_some(row % 3))
            .collect();
        let column = DictionaryArray::<UInt16Type>::try_new(keys, Arc::new(values)).unwrap();
        let batch = RecordBatch::try_from_iter([("s", Arc::new(column.clone()) as _)]).unwrap();
        let bytes = build_index(&batch).unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("block.idx");
        std::fs::write(&path, bytes).unwrap();
        let index = BitmapIndex::open(&path).unwrap();
        for (value, key) in [("a", 0u32), ("b", 1), ("c", 2)] {
            let found = index.rows_matching("s", &column, &[value]).unwrap();
            let expected: RoaringBitmap = (0..20_000u32)
                .filter(|row| row % 7 != 0 && row % 3 == key)
                .collect();
            assert_eq!(found, expected, "{value}");
        }
        let none = index.rows_matching("s", &column, &["unused"]).unwrap();
        assert!(none.is_empty());
        let both = index.rows_matching("s", &column, &["a", "c"]).unwrap();
        let expected = (0..20_000u32).filter(|row| row % 7 != 0 && row % 3 != 1);
        assert_eq!(both, expected.collect::<RoaringBitmap>());
    }
}

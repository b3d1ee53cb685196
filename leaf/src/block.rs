//! Sealed blocks: immutable Arrow IPC files, mapped and read zero-copy.
//!
//! A block is written once when the open block is sealed: one record batch
//! of dictionary-encoded columns in an Arrow IPC *file* with 64-byte
//! alignment, its format version, row count and time range in the schema
//! metadata, and a bitmap index beside it (`.idx`, see [`crate::bitmap_index`]).
//! Both are written under a temporary name and renamed into place, index
//! first, so a block file that exists is whole.
//!
//! On restart a block known from the table's manifest is not even opened:
//! it is mapped on first use (or by the warm-up that follows readiness); any
//! other block is mapped and its footer read (cost per block, not per byte).
//! The batch is decoded straight out of the mapping with alignment
//! *required*: a buffer that would have to be copied to be aligned is an
//! error, so every column is proven to point into shared memory.
//!
//! Checksums: the footer's custom metadata holds the CRC-32 of every byte
//! before the footer (schema, dictionaries, the batch; `shoal.checksum` =
//! `LENGTH:CRC`) and of the index file (`shoal.index_checksum`, or `none`).
//! A block is verified before its rows are first served, whether a query or
//! the background check after a restart gets there first; one that fails
//! is never decoded (see [`crate::table::Table::repair_blocks`] for what
//! happens to it). An index whose checksum is not the recorded one (left
//! from an earlier block of the same name, or damaged) is ignored: the
//! block is then read without it. Blocks written before checksums carry
//! neither key and are read unverified.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, RecordBatch};
use arrow::buffer::Buffer;
use arrow::datatypes::Schema;
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::reader::{FileDecoder, read_footer_length};
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::ipc::{Block, MetadataVersion, root_as_footer};
use memmap2::Mmap;
use tracing::warn;

use crate::bitmap_index::{BitmapIndex, build_index};
use crate::checksummed_file::ChecksummedFile;
use crate::error::{LeafError, Result};

/// Version of the block layout this leaf writes (what members publish,
/// so it lives in the contract). The versions it reads:
///
/// - 4 (this one): version 3 with 8-bit keys for string columns of at
///   most 256 distinct values in the block, and string sets as lists of
///   dictionary strings ([`crate::narrow_strings`]); read as the table's
///   types like the rest;
/// - 3: string columns with 16-bit dictionary keys (a block
///   holds at most 65,536 rows) and integer columns at the narrowest width
///   that holds the block's values ([`crate::narrow`]), checksums; queries
///   read them as 32-bit keys and 64-bit integers (a cast of the columns
///   they read, per block), so an answer may hold any number of distinct
///   strings;
/// - 2: the same with 32-bit keys, read as they are;
/// - 1: version 2 without checksums, read unverified.
///
/// A block of any other version is never read. A leaf of the previous
/// version reads none of this one's blocks: upgrade every leaf before any
/// block moves to one that has not been (`shoal fleet drain` refuses the
/// copy there, since the leaf cannot open it).
pub use shoal_contract::member::BLOCK_FORMAT_VERSION;
const UNCHECKED_FORMAT_VERSION: u32 = 1;
const WIDE_KEYS_FORMAT_VERSION: u32 = 2;
const SHORT_KEYS_FORMAT_VERSION: u32 = 3;
const KEY_VERSION: &str = "shoal.format_version";
const KEY_ROWS: &str = "shoal.rows";
const KEY_MIN_TIME: &str = "shoal.min_time_micros";
const KEY_MAX_TIME: &str = "shoal.max_time_micros";
const KEY_CHECKSUM: &str = "shoal.checksum";
const KEY_INDEX_CHECKSUM: &str = "shoal.index_checksum";
const ALIGNMENT: usize = 64;

/// Identifies a block within its table: the write-ahead segment it was sealed
/// from and its part number (a large segment seals into several blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId {
    pub segment: u64,
    pub part: u32,
}

impl BlockId {
    /// The block's file name.
    pub fn file_name(self) -> String {
        format!("block-{:012}-{:04}.arrow", self.segment, self.part)
    }

    /// The index file name.
    pub fn index_file_name(self) -> String {
        format!("block-{:012}-{:04}.idx", self.segment, self.part)
    }

    /// Parses a block file name.
    pub fn parse(file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix("block-")?.strip_suffix(".arrow")?;
        let (segment, part) = rest.split_once('-')?;
        Some(Self {
            segment: segment.parse().ok()?,
            part: part.parse().ok()?,
        })
    }
}

/// What a block's footer says about it.
#[derive(Debug, Clone, Copy)]
pub struct BlockMeta {
    pub id: BlockId,
    pub rows: u64,
    pub min_time_micros: i64,
    pub max_time_micros: i64,
    /// Bytes of the block file and its index.
    pub bytes: u64,
    /// Modification time of the block file, nanoseconds since the epoch:
    /// with `bytes`, how recovery tells that a file is still the one the
    /// manifest describes.
    pub modified_nanos: u64,
}

/// Size of a block's file and index, and the block file's modification time.
pub fn block_file_stamp(dir: &Path, id: BlockId) -> Option<(u64, u64)> {
    let block = std::fs::metadata(dir.join(id.file_name())).ok()?;
    let index = std::fs::metadata(dir.join(id.index_file_name())).map_or(0, |m| m.len());
    let modified = block
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos() as u64;
    Some((block.len() + index, modified))
}

/// A sealed block. Its file is mapped when the block is opened, or, for a
/// block known from the manifest, on first use.
#[derive(Debug)]
pub struct SealedBlock {
    pub meta: BlockMeta,
    pub path: PathBuf,
    mapped: OnceLock<Mapped>,
    /// Why the file is not a readable block (not set for I/O errors, which
    /// may pass: the next use tries again).
    broken: OnceLock<String>,
    /// Whether the bytes match the checksum; set once, before any decode.
    verified: OnceLock<std::result::Result<(), String>>,
}

/// The mapping of a block file and what its footer says.
#[derive(Debug)]
struct Mapped {
    schema: Arc<Schema>,
    buffer: Buffer,
    version: MetadataVersion,
    dictionary_blocks: Vec<Block>,
    batch_block: Block,
    index: Option<BitmapIndex>,
    rows: u64,
    /// Bytes the checksum covers and its value; `None` for a block written
    /// before checksums.
    checksum: Option<(usize, u32)>,
    batch: OnceLock<std::result::Result<RecordBatch, String>>,
}

impl SealedBlock {
    /// Writes `batch` (sealed storage types, with a `time` column) as block
    /// `id` in `dir`, then maps it.
    pub fn write(dir: &Path, id: BlockId, batch: &RecordBatch) -> Result<Self> {
        let (min_time, max_time) = time_range(batch)?;
        let mut metadata = HashMap::new();
        metadata.insert(KEY_VERSION.to_string(), BLOCK_FORMAT_VERSION.to_string());
        metadata.insert(KEY_ROWS.to_string(), batch.num_rows().to_string());
        metadata.insert(KEY_MIN_TIME.to_string(), min_time.to_string());
        metadata.insert(KEY_MAX_TIME.to_string(), max_time.to_string());
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let batch = batch.clone().with_schema(schema.clone())?;

        let index_path = dir.join(id.index_file_name());
        let index_checksum = match build_index(&batch)? {
            Some(index) => {
                write_atomically(&index_path, &index)?;
                format!("{:08x}", crc32fast::hash(&index))
            }
            None => {
                // An index left by an earlier block of this name is stale.
                match std::fs::remove_file(&index_path) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(LeafError::io(&index_path, error));
                    }
                    _ => "none".to_string(),
                }
            }
        };
        let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)?;
        let path = dir.join(id.file_name());
        // Encoded straight into the file (no copy of the block in memory),
        // the checksum covering every byte before the footer.
        let file = ChecksummedFile::create(&path)?;
        let mut writer = FileWriter::try_new_with_options(file, &schema, options)?;
        writer.write(&batch)?;
        let (covered, crc) = writer.get_ref().checksum();
        writer.write_metadata(KEY_CHECKSUM, format!("{covered}:{crc:08x}"));
        writer.write_metadata(KEY_INDEX_CHECKSUM, index_checksum);
        writer.finish()?;
        writer.into_inner()?.finish()?;
        let block = Self::open(&path, id)?;
        // Its bytes are the ones just checksummed.
        let _ = block.verified.set(Ok(()));
        Ok(block)
    }

    /// Maps block `id` at `path` now and reads its footer; decodes nothing.
    pub fn open(path: &Path, id: BlockId) -> Result<Self> {
        let (mapped, meta) = Mapped::open(path, id)?;
        let block = Self {
            meta,
            path: path.to_path_buf(),
            mapped: OnceLock::new(),
            broken: OnceLock::new(),
            verified: OnceLock::new(),
        };
        let _ = block.mapped.set(mapped);
        Ok(block)
    }

    /// A block known from the manifest: nothing is read until first use.
    pub fn deferred(path: &Path, meta: BlockMeta) -> Self {
        Self {
            meta,
            path: path.to_path_buf(),
            mapped: OnceLock::new(),
            broken: OnceLock::new(),
            verified: OnceLock::new(),
        }
    }

    /// Checks the block's bytes against its checksum (once; later calls
    /// return the first answer).
    pub fn verify(&self) -> Result<()> {
        let mapped = self.mapped()?;
        self.verified
            .get_or_init(|| mapped.verify())
            .clone()
            .map_err(|reason| LeafError::BadBlock {
                path: self.path.clone(),
                reason,
            })
    }

    /// The block file's bytes (its mapping), once they pass their checksum:
    /// what a backup copy writes, so that the bytes copied are the bytes
    /// checked and the file is read once.
    pub fn verified_bytes(&self) -> Result<&[u8]> {
        self.verify()?;
        Ok(self.mapped()?.buffer.as_slice())
    }

    /// Whether the block is known bad: its footer, checksum or batch could
    /// not be read (an I/O error that may pass does not count).
    pub fn failed(&self) -> bool {
        self.broken.get().is_some()
            || matches!(self.verified.get(), Some(Err(_)))
            || self
                .mapped
                .get()
                .is_some_and(|m| matches!(m.batch.get(), Some(Err(_))))
    }

    fn mapped(&self) -> Result<&Mapped> {
        let bad = |reason: &String| LeafError::BadBlock {
            path: self.path.clone(),
            reason: reason.clone(),
        };
        if let Some(mapped) = self.mapped.get() {
            return Ok(mapped);
        }
        if let Some(reason) = self.broken.get() {
            return Err(bad(reason));
        }
        let opened = Mapped::open(&self.path, self.meta.id).and_then(|(mapped, meta)| {
            match (meta.rows, meta.min_time_micros, meta.max_time_micros)
                == (
                    self.meta.rows,
                    self.meta.min_time_micros,
                    self.meta.max_time_micros,
                ) {
                true => Ok(mapped),
                false => Err(LeafError::BadBlock {
                    path: self.path.clone(),
                    reason: "its footer disagrees with the manifest".to_string(),
                }),
            }
        });
        match opened {
            Ok(mapped) => {
                let _ = self.mapped.set(mapped);
                self.mapped
                    .get()
                    .ok_or_else(|| bad(&"not mapped".to_string()))
            }
            Err(error @ LeafError::Io { .. }) => Err(error),
            Err(error) => {
                let reason = match error {
                    LeafError::BadBlock { reason, .. } => reason,
                    other => other.to_string(),
                };
                Err(bad(self.broken.get_or_init(|| reason)))
            }
        }
    }

    /// The block's rows, decoded zero-copy from the mapping on first use,
    /// after its checksum is verified.
    pub fn batch(&self) -> Result<RecordBatch> {
        self.verify()?;
        let mapped = self.mapped()?;
        mapped
            .batch
            .get_or_init(|| {
                // arrow-ipc asserts on some inconsistent footers (a batch
                // shorter than its buffers): a panic is a bad block too.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mapped.decode()))
                    .map_err(|_| "the batch cannot be decoded".to_string())
                    .and_then(|decoded| decoded.map_err(|e| e.to_string()))
            })
            .clone()
            .map_err(|reason| LeafError::BadBlock {
                path: self.path.clone(),
                reason,
            })
    }

    /// The block's schema (the table's columns when it was sealed).
    pub fn schema(&self) -> Result<Arc<Schema>> {
        Ok(self.mapped()?.schema.clone())
    }

    /// The block's bitmap index, if any column was indexed.
    pub fn index(&self) -> Option<&BitmapIndex> {
        self.mapped().ok()?.index.as_ref()
    }

    /// Whether every buffer of the decoded batch lies inside the mapping
    /// (the zero-copy property, checked by tests).
    pub fn is_zero_copy(&self) -> Result<bool> {
        let batch = self.batch()?;
        let buffer = &self.mapped()?.buffer;
        let start = buffer.as_ptr() as usize;
        let end = start + buffer.len();
        let mut inside = true;
        for column in batch.columns() {
            visit_buffers(&column.to_data(), &mut |pointer| {
                inside &= pointer >= start && pointer < end;
            });
        }
        Ok(inside)
    }
}

impl Mapped {
    fn open(path: &Path, id: BlockId) -> Result<(Self, BlockMeta)> {
        let bad = |reason: String| LeafError::BadBlock {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| LeafError::io(path, e))?;
        // SAFETY: block files are written once under a temporary name, renamed
        // into place and never modified while mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| LeafError::io(path, e))?;
        let buffer = mmap_buffer(map);
        if buffer.len() < 10 {
            return Err(bad("shorter than an Arrow IPC footer".to_string()));
        }
        let trailer_start = buffer.len() - 10;
        let mut trailer = [0u8; 10];
        trailer.copy_from_slice(&buffer[trailer_start..]);
        let footer_len = read_footer_length(trailer).map_err(|e| bad(e.to_string()))?;
        let footer_start = trailer_start
            .checked_sub(footer_len)
            .ok_or_else(|| bad("footer longer than the file".to_string()))?;
        let footer =
            root_as_footer(&buffer[footer_start..trailer_start]).map_err(|e| bad(e.to_string()))?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| bad("footer without schema".to_string()))?;
        // arrow-ipc panics on some malformed schemas (an unknown type, say)
        // and the footer is outside the checksum: found by fuzzing.
        let schema = std::panic::catch_unwind(|| fb_to_schema(fb_schema))
            .map(Arc::new)
            .map_err(|_| bad("the footer's schema cannot be read".to_string()))?;
        let metadata = schema.metadata();
        let version: u32 = parse_key(metadata, KEY_VERSION).ok_or_else(|| {
            bad("no Shoal format version: not a block this leaf wrote".to_string())
        })?;
        let readable = [
            UNCHECKED_FORMAT_VERSION,
            WIDE_KEYS_FORMAT_VERSION,
            SHORT_KEYS_FORMAT_VERSION,
            BLOCK_FORMAT_VERSION,
        ];
        if !readable.contains(&version) {
            return Err(bad(format!(
                "block format version {version}, this leaf reads versions {readable:?}"
            )));
        }
        let missing = |key: &str| bad(format!("metadata key {key} missing"));
        let rows = parse_key(metadata, KEY_ROWS).ok_or_else(|| missing(KEY_ROWS))?;
        let min_time_micros =
            parse_key(metadata, KEY_MIN_TIME).ok_or_else(|| missing(KEY_MIN_TIME))?;
        let max_time_micros =
            parse_key(metadata, KEY_MAX_TIME).ok_or_else(|| missing(KEY_MAX_TIME))?;
        let dictionary_blocks: Vec<Block> = footer
            .dictionaries()
            .map(|blocks| blocks.iter().copied().collect())
            .unwrap_or_default();
        let batch_block = footer
            .recordBatches()
            .and_then(|blocks| (blocks.len() == 1).then(|| *blocks.get(0)))
            .ok_or_else(|| bad("a block holds exactly one record batch".to_string()))?;

        let custom: HashMap<&str, &str> = footer
            .custom_metadata()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|pair| Some((pair.key()?, pair.value()?)))
                    .collect()
            })
            .unwrap_or_default();
        let checksum = match (version, custom.get(KEY_CHECKSUM)) {
            (UNCHECKED_FORMAT_VERSION, _) => None,
            (_, Some(text)) => Some(
                parse_checksum(text, footer_start)
                    .ok_or_else(|| bad(format!("bad {KEY_CHECKSUM} {text:?}")))?,
            ),
            (_, None) => return Err(bad(format!("metadata key {KEY_CHECKSUM} missing"))),
        };
        let index = open_index(path, custom.get(KEY_INDEX_CHECKSUM).copied());
        let bytes = buffer.len() as u64 + index.as_ref().map_or(0, BitmapIndex::bytes);
        let modified_nanos = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        let meta = BlockMeta {
            id,
            rows,
            min_time_micros,
            max_time_micros,
            bytes,
            modified_nanos,
        };
        let mapped = Self {
            schema,
            version: footer.version(),
            buffer,
            dictionary_blocks,
            batch_block,
            index,
            rows,
            checksum,
            batch: OnceLock::new(),
        };
        Ok((mapped, meta))
    }

    /// Compares the covered bytes with the recorded checksum.
    fn verify(&self) -> std::result::Result<(), String> {
        let Some((length, expected)) = self.checksum else {
            return Ok(());
        };
        let actual = crc32fast::hash(&self.buffer[..length]);
        // Fuzzing gets past the checksum to the decoder behind it.
        if actual != expected && !cfg!(fuzzing) {
            return Err(format!(
                "checksum mismatch (recorded {expected:08x}, found {actual:08x}): the file changed after it was sealed"
            ));
        }
        // The footer is not covered: its schema (with the row count and
        // time range in its metadata) must be the covered one at the start.
        match covered_schema(&self.buffer[..length]) {
            Some(covered) if covered == *self.schema => Ok(()),
            _ => Err("the footer's schema is not the one the block was written with".to_string()),
        }
    }

    fn decode(&self) -> Result<RecordBatch> {
        let mut decoder =
            FileDecoder::new(self.schema.clone(), self.version).with_require_alignment(true);
        for block in &self.dictionary_blocks {
            let data = self.block_bytes(block)?;
            decoder.read_dictionary(block, &data)?;
        }
        let data = self.block_bytes(&self.batch_block)?;
        let batch = decoder
            .read_record_batch(&self.batch_block, &data)?
            .ok_or_else(|| LeafError::BadRequest("record batch missing from block".to_string()))?;
        if batch.num_rows() as u64 != self.rows {
            return Err(LeafError::BadRequest(format!(
                "the block holds {} rows, its footer says {}",
                batch.num_rows(),
                self.rows
            )));
        }
        Ok(batch)
    }

    fn block_bytes(&self, block: &Block) -> Result<Buffer> {
        let offset = usize::try_from(block.offset()).ok();
        let length = usize::try_from(block.metaDataLength())
            .ok()
            .zip(usize::try_from(block.bodyLength()).ok())
            .map(|(meta, body)| meta + body);
        let covered = self
            .checksum
            .map_or(self.buffer.len(), |(length, _)| length);
        match (offset, length) {
            (Some(offset), Some(length))
                if offset.checked_add(length).is_some_and(|end| end <= covered) =>
            {
                Ok(self.buffer.slice_with_length(offset, length))
            }
            _ => Err(LeafError::BadRequest(
                "a footer block points outside the block file".to_string(),
            )),
        }
    }
}

fn visit_buffers(data: &arrow::array::ArrayData, visit: &mut impl FnMut(usize)) {
    for buffer in data.buffers() {
        if !buffer.is_empty() {
            visit(buffer.as_ptr() as usize);
        }
    }
    if let Some(nulls) = data.nulls() {
        visit(nulls.buffer().as_ptr() as usize);
    }
    for child in data.child_data() {
        visit_buffers(child, visit);
    }
}

/// Wraps a mapping in an Arrow buffer that keeps it alive.
fn mmap_buffer(map: Mmap) -> Buffer {
    let map = Arc::new(map);
    let length = map.len();
    match NonNull::new(map.as_ptr() as *mut u8) {
        // SAFETY: the pointer and length describe the mapping, which `map`
        // (moved into the buffer as its owner) keeps alive and unmodified.
        Some(pointer) if length > 0 => unsafe {
            Buffer::from_custom_allocation(pointer, length, map)
        },
        _ => Buffer::from_vec(Vec::<u8>::new()),
    }
}

/// The schema message at the start of a block file, read out of `covered`;
/// `None` when it cannot be read. The writer pads the 6-byte magic to the
/// block's 64-byte alignment, so the message starts at byte 64.
fn covered_schema(covered: &[u8]) -> Option<Schema> {
    let (message, _) = crate::ipc::message_at(covered, ALIGNMENT)?;
    let schema = message.header_as_schema()?;
    std::panic::catch_unwind(|| fb_to_schema(schema)).ok()
}

/// `LENGTH:CRC` of the bytes before the footer.
fn parse_checksum(text: &str, footer_start: usize) -> Option<(usize, u32)> {
    let (length, crc) = text.split_once(':')?;
    let length: usize = length.parse().ok()?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (length <= footer_start).then_some((length, crc))
}

/// The block's index when it is the one the block recorded: an index with
/// another checksum, or beside a block that recorded none, is stale.
fn open_index(block_path: &Path, recorded: Option<&str>) -> Option<BitmapIndex> {
    let path = block_path.with_extension("idx");
    if recorded == Some("none") || !path.exists() {
        return None;
    }
    let index = match BitmapIndex::open(&path) {
        Ok(index) => index,
        Err(error) => {
            warn!(%error, "index ignored; the block is read without it");
            return None;
        }
    };
    match recorded {
        Some(expected)
            if u32::from_str_radix(expected, 16).ok() != Some(index.checksum())
                && !cfg!(fuzzing) =>
        {
            warn!(path = %path.display(), "index is not the one its block recorded; ignored");
            None
        }
        _ => Some(index),
    }
}

fn parse_key<T: std::str::FromStr>(metadata: &HashMap<String, String>, key: &str) -> Option<T> {
    metadata.get(key)?.parse().ok()
}

/// Min and max of the batch's `time` column (narrow or not).
pub fn time_range(batch: &RecordBatch) -> Result<(i64, i64)> {
    crate::narrow_time::bounds(batch)
        .ok_or_else(|| LeafError::BadRequest("batch has no time column".to_string()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// `path` is either absent or whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = File::create(&temporary).map_err(|e| LeafError::io(&temporary, e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| LeafError::io(&temporary, e))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(|e| LeafError::io(path, e)));
    if written.is_err() {
        // A part-written file (ENOSPC) must not keep the space it took.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column_type::ColumnType;
    use crate::table_schema::{Storage, TableSchema};
    use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Int32Type};

    fn sealed_batch(rows: usize) -> RecordBatch {
        let mut schema = TableSchema::new();
        schema.push("service".into(), ColumnType::String);
        schema.push("n".into(), ColumnType::Integer);
        let open = arrow::datatypes::Schema::new(vec![
            Field::new("time", crate::column_type::timestamp_type(), false),
            Field::new("service", arrow::datatypes::DataType::Utf8, true),
            Field::new("n", arrow::datatypes::DataType::Int64, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..rows as i64).map(|i| 1000 + i))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("svc-{}", i % 3)),
            )),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        ];
        let batch = RecordBatch::try_new(Arc::new(open), columns).unwrap();
        schema.align(&batch, Storage::Sealed).unwrap()
    }

    #[test]
    fn a_block_reads_back_zero_copy_with_its_metadata_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 7,
            part: 1,
        };
        let batch = sealed_batch(1000);
        SealedBlock::write(dir.path(), id, &batch).unwrap();

        let block = SealedBlock::open(&dir.path().join(id.file_name()), id).unwrap();
        assert_eq!(block.meta.rows, 1000);
        assert_eq!(block.meta.min_time_micros, 1000);
        assert_eq!(block.meta.max_time_micros, 1999);
        let back = block.batch().unwrap();
        assert_eq!(back.columns(), batch.columns());
        assert!(block.is_zero_copy().unwrap());

        let services = back.column(1).as_dictionary::<Int32Type>();
        let rows = block
            .index()
            .unwrap()
            .rows_matching("service", services, &["svc-1"])
            .unwrap();
        assert_eq!(rows.len(), 333);
        assert!(rows.contains(1) && !rows.contains(0));
    }

    #[test]
    fn a_block_of_another_version_is_refused_with_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 1,
            part: 0,
        };
        let batch = sealed_batch(10);
        let mut metadata = HashMap::new();
        metadata.insert(KEY_VERSION.to_string(), "99".to_string());
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let mut bytes = Vec::new();
        let mut writer = FileWriter::try_new(&mut bytes, &schema).unwrap();
        writer
            .write(&batch.with_schema(schema.clone()).unwrap())
            .unwrap();
        writer.finish().unwrap();
        drop(writer);
        let path = dir.path().join(id.file_name());
        std::fs::write(&path, bytes).unwrap();
        let error = SealedBlock::open(&path, id).unwrap_err().to_string();
        assert!(error.contains("version 99"), "{error}");
    }

    fn flip_byte(path: &Path, offset: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[offset] ^= 0x40;
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_changed_byte_fails_the_checksum_and_is_never_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 3,
            part: 0,
        };
        SealedBlock::write(dir.path(), id, &sealed_batch(5000)).unwrap();
        let path = dir.path().join(id.file_name());
        let length = std::fs::metadata(&path).unwrap().len() as usize;
        // A byte in the middle: inside the column data, which would decode
        // into a wrong value without the checksum.
        flip_byte(&path, length / 2);

        let block = SealedBlock::open(&path, id).unwrap();
        assert!(!block.failed());
        let error = block.batch().unwrap_err().to_string();
        assert!(error.contains("checksum mismatch"), "{error}");
        assert!(block.failed());
        assert!(block.verify().is_err());

        // A block known from the manifest fails the same way on first use.
        let deferred = SealedBlock::deferred(&path, block.meta);
        assert!(
            deferred
                .batch()
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }

    #[test]
    fn a_changed_footer_schema_is_caught_though_the_footer_is_not_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 6,
            part: 0,
        };
        SealedBlock::write(dir.path(), id, &sealed_batch(100)).unwrap();
        let path = dir.path().join(id.file_name());
        let bytes = std::fs::read(&path).unwrap();
        // The last "service" in the file is the footer's copy of the name.
        let at = bytes.windows(7).rposition(|w| w == b"service").unwrap();
        flip_byte(&path, at + 1);
        let outcome = SealedBlock::open(&path, id).and_then(|block| block.batch());
        let error = outcome.unwrap_err().to_string();
        assert!(error.contains("footer's schema"), "{error}");
    }

    #[test]
    fn a_stale_or_damaged_index_is_ignored_and_the_block_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 4,
            part: 0,
        };
        let other = BlockId {
            segment: 5,
            part: 0,
        };
        SealedBlock::write(dir.path(), id, &sealed_batch(1000)).unwrap();
        SealedBlock::write(dir.path(), other, &sealed_batch(3000)).unwrap();
        // The index of another block left under this block's name.
        std::fs::copy(
            dir.path().join(other.index_file_name()),
            dir.path().join(id.index_file_name()),
        )
        .unwrap();
        let block = SealedBlock::open(&dir.path().join(id.file_name()), id).unwrap();
        assert!(block.index().is_none());
        assert_eq!(block.batch().unwrap().num_rows(), 1000);

        // A flipped byte in the right index: ignored as well.
        SealedBlock::write(dir.path(), id, &sealed_batch(1000)).unwrap();
        flip_byte(&dir.path().join(id.index_file_name()), 20);
        let block = SealedBlock::open(&dir.path().join(id.file_name()), id).unwrap();
        assert!(block.index().is_none());
        assert_eq!(block.batch().unwrap().num_rows(), 1000);

        // And the untouched one is used.
        SealedBlock::write(dir.path(), id, &sealed_batch(1000)).unwrap();
        let block = SealedBlock::open(&dir.path().join(id.file_name()), id).unwrap();
        assert!(block.index().is_some());
    }

    #[test]
    fn block_names_round_trip() {
        let id = BlockId {
            segment: 42,
            part: 3,
        };
        assert_eq!(BlockId::parse(&id.file_name()), Some(id));
        assert_eq!(BlockId::parse("block-x-1.arrow"), None);
    }
}

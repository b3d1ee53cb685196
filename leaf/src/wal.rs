//! The write-ahead segment of a table's open block.
//!
//! Every acknowledged batch is first appended here. The segment lives in the
//! leaf's data directory on tmpfs, so once `write` returns the bytes are in
//! shared memory and survive the death of the process.
//!
//! ```text
//! segment := header record*
//! header  := "SHOALWAL" version:u32le reserved:u32le          (16 bytes)
//! record  := length:u32le crc32(payload):u32le payload         (payload = Arrow IPC stream)
//! ```
//!
//! A record is written as its header then its payload. A process killed in
//! the middle leaves a torn tail: on replay the first record whose length runs past the
//! end of the file or whose checksum does not match ends the segment, and the
//! file is cut back to the last whole record, so a half-written batch is never
//! read.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::error::{LeafError, Result};

const MAGIC: &[u8; 8] = b"SHOALWAL";
/// Version of the segment layout; a leaf refuses segments of other versions.
pub const WAL_FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
const RECORD_HEADER_LEN: usize = 8;

/// Appends batches to one segment file.
#[derive(Debug)]
pub struct WalWriter {
    file: File,
    path: PathBuf,
    bytes: u64,
    /// A failed append could not be undone: appending more would put
    /// acknowledged records behind a torn one, which replay stops at.
    broken: bool,
}

impl WalWriter {
    /// Creates a new, empty segment at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(path)
            .map_err(|e| LeafError::io(path, e))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&header)
            .map_err(|e| LeafError::io(path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            bytes: HEADER_LEN as u64,
            broken: false,
        })
    }

    /// Reopens a replayed segment for appending; `valid_len` is where the
    /// last whole record ends, and anything after it is cut off.
    pub fn reopen(path: &Path, valid_len: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| LeafError::io(path, e))?;
        file.set_len(valid_len)
            .map_err(|e| LeafError::io(path, e))?;
        let mut writer = Self {
            file,
            path: path.to_path_buf(),
            bytes: valid_len,
            broken: false,
        };
        std::io::Seek::seek(&mut writer.file, std::io::SeekFrom::End(0))
            .map_err(|e| LeafError::io(path, e))?;
        Ok(writer)
    }

    /// Appends one batch as one record. When this returns, the record is in
    /// shared memory.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        self.append_encoded(&encode_batch(batch)?)
    }

    /// Appends an Arrow IPC stream (one or more batches, as received and
    /// already decoded once) as one record, without encoding it again.
    pub fn append_encoded(&mut self, payload: &[u8]) -> Result<()> {
        let length = u32::try_from(payload.len()).map_err(|_| {
            LeafError::BadRequest(format!(
                "a batch of {} bytes is larger than a write-ahead record can hold (4 GiB)",
                payload.len()
            ))
        })?;
        let mut header = [0u8; RECORD_HEADER_LEN];
        header[..4].copy_from_slice(&length.to_le_bytes());
        header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        if self.broken {
            return Err(LeafError::Unavailable(format!(
                "the write-ahead segment {} could not be repaired after a failed write; the table takes no more rows until its open block is sealed",
                self.path.display()
            )));
        }
        // Header and payload written one after the other (not copied into
        // one record first): a crash between them leaves a part record,
        // as a crash within one write can, and replay stops before it.
        let written = self
            .file
            .write_all(&header)
            .and_then(|()| self.file.write_all(payload));
        if let Err(error) = written {
            // A partial write (ENOSPC, say) leaves part of a record: cut it
            // off, so the next acknowledged record follows a whole one.
            self.undo_partial_write();
            return Err(LeafError::io(&self.path, error));
        }
        self.bytes += (RECORD_HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Cuts the segment back to `length` bytes (where an all-or-nothing
    /// group of appends began), so none of the group is replayed.
    pub fn rewind(&mut self, length: u64) {
        if length < self.bytes {
            self.bytes = length;
            self.undo_partial_write();
        }
    }

    fn undo_partial_write(&mut self) {
        let undone = self.file.set_len(self.bytes).and_then(|()| {
            std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(self.bytes)).map(|_| ())
        });
        if undone.is_err() {
            self.broken = true;
        }
    }

    /// Bytes in the segment, header included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Path of the segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What replaying a segment found.
#[derive(Debug)]
pub struct Replay {
    /// Batches of every whole record, in order.
    pub batches: Vec<RecordBatch>,
    /// Where the last whole record ends.
    pub valid_len: u64,
    /// Bytes after `valid_len` that were torn and are cut off.
    pub torn_bytes: u64,
}

/// Reads every whole record of the segment at `path`.
pub fn replay(path: &Path) -> Result<Replay> {
    let mut contents = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut contents))
        .map_err(|e| LeafError::io(path, e))?;
    if contents.len() < HEADER_LEN || &contents[..8] != MAGIC {
        // A header is written before any record is acknowledged, so a short
        // or foreign header means the segment never held an acknowledged row
        // only if it is shorter than a header; otherwise it is not ours.
        if contents.len() < HEADER_LEN && MAGIC.starts_with(&contents[..contents.len().min(8)]) {
            return Ok(Replay {
                batches: Vec::new(),
                valid_len: 0,
                torn_bytes: contents.len() as u64,
            });
        }
        return Err(LeafError::BadBlock {
            path: path.to_path_buf(),
            reason: "not a Shoal write-ahead segment (bad magic)".to_string(),
        });
    }
    let version = u32::from_le_bytes([contents[8], contents[9], contents[10], contents[11]]);
    if version != WAL_FORMAT_VERSION {
        return Err(LeafError::BadBlock {
            path: path.to_path_buf(),
            reason: format!(
                "write-ahead format version {version}, this leaf reads version {WAL_FORMAT_VERSION}"
            ),
        });
    }

    let mut batches = Vec::new();
    let mut offset = HEADER_LEN;
    while let Some((payload, next)) = next_record(&contents, offset) {
        let Ok(decoded) = decode_batches(payload) else {
            break;
        };
        batches.extend(decoded);
        offset = next;
    }
    Ok(Replay {
        batches,
        valid_len: offset as u64,
        torn_bytes: (contents.len() - offset) as u64,
    })
}

/// The payload of the whole record at `offset` and where the next begins.
fn next_record(contents: &[u8], offset: usize) -> Option<(&[u8], usize)> {
    let header = contents.get(offset..offset + RECORD_HEADER_LEN)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let start = offset + RECORD_HEADER_LEN;
    let payload = contents.get(start..start.checked_add(length)?)?;
    // Fuzzing gets past the checksum to the decoder behind it.
    (crc32fast::hash(payload) == checksum || cfg!(fuzzing)).then_some((payload, start + length))
}

fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    Ok(crate::ipc::encode_stream(std::slice::from_ref(batch))?)
}

fn decode_batches(payload: &[u8]) -> Result<Vec<RecordBatch>> {
    crate::ipc::decode_stream(payload, None).map_err(LeafError::BadRequest)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn a_torn_tail_is_cut_at_every_possible_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.wal");
        let mut writer = WalWriter::create(&path).unwrap();
        writer.append(&batch(&[1, 2])).unwrap();
        let whole = writer.bytes();
        writer.append(&batch(&[3, 4, 5])).unwrap();
        let full = std::fs::read(&path).unwrap();

        for cut in whole as usize..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let replay = replay(&path).unwrap();
            assert_eq!(replay.batches.len(), 1, "cut at {cut}");
            assert_eq!(replay.valid_len, whole);
        }
        std::fs::write(&path, &full).unwrap();
        assert_eq!(replay(&path).unwrap().batches.len(), 2);
    }

    #[test]
    fn a_reopened_segment_appends_after_the_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.wal");
        let mut writer = WalWriter::create(&path).unwrap();
        writer.append(&batch(&[1])).unwrap();
        let whole = writer.bytes();
        drop(writer);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[7, 0, 0]).unwrap();

        let replayed = replay(&path).unwrap();
        assert_eq!(replayed.torn_bytes, 3);
        let mut writer = WalWriter::reopen(&path, replayed.valid_len).unwrap();
        assert_eq!(writer.bytes(), whole);
        writer.append(&batch(&[2])).unwrap();
        let again = replay(&path).unwrap();
        assert_eq!(again.batches.len(), 2);
        assert_eq!(again.torn_bytes, 0);
    }

    #[test]
    fn another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.wal");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&99u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let error = replay(&path).unwrap_err().to_string();
        assert!(error.contains("version 99"), "{error}");
    }
}

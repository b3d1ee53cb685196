//! A file written once and put in place whole: bytes go through a buffer
//! straight to a temporary file beside it (no copy of the whole file in
//! memory first) while their CRC-32 and count are kept, and `finish` syncs
//! it and renames it over the final name. A file not finished (an error, a
//! crash) never appears under the final name; one dropped unfinished is
//! removed so it does not keep the space it took.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{LeafError, Result};

/// Bytes gathered before a write to the file.
const BUFFER_BYTES: usize = 256 * 1024;

/// A file being written to `temporary`, to become `path`.
pub struct ChecksummedFile {
    file: Option<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
    hasher: crc32fast::Hasher,
    written: u64,
}

impl ChecksummedFile {
    /// Starts `path` (as `path.tmp` until finished).
    pub fn create(path: &Path) -> Result<Self> {
        let temporary = path.with_extension("tmp");
        let file = File::create(&temporary).map_err(|e| LeafError::io(&temporary, e))?;
        Ok(Self {
            file: Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
            temporary,
            path: path.to_path_buf(),
            hasher: crc32fast::Hasher::new(),
            written: 0,
        })
    }

    /// Bytes written so far and their CRC-32.
    pub fn checksum(&self) -> (u64, u32) {
        (self.written, self.hasher.clone().finalize())
    }

    /// Syncs the file and gives it its final name.
    pub fn finish(mut self) -> Result<()> {
        let Some(buffered) = self.file.take() else {
            return Err(LeafError::io(&self.temporary, closed()));
        };
        let temporary = self.temporary.clone();
        let done = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_data())
            .map_err(|e| LeafError::io(&temporary, e))
            .and_then(|()| {
                std::fs::rename(&temporary, &self.path).map_err(|e| LeafError::io(&self.path, e))
            });
        if done.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        done
    }
}

impl Write for ChecksummedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let file = self.file.as_mut().ok_or_else(closed)?;
        let count = file.write(bytes)?;
        let taken = bytes.get(..count).unwrap_or(bytes);
        self.hasher.update(taken);
        self.written += taken.len() as u64;
        Ok(count)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().ok_or_else(closed)?.flush()
    }
}

impl Drop for ChecksummedFile {
    fn drop(&mut self) {
        if let Some(buffered) = self.file.take() {
            // Not flushed: the file is removed.
            drop(buffered.into_parts());
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("the file was already finished")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_file_has_its_bytes_and_checksum_and_an_unfinished_one_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("block.arrow");
        let mut file = ChecksummedFile::create(&path).expect("create");
        file.write_all(b"hello ").expect("write");
        file.write_all(&vec![7_u8; 300_000]).expect("write");
        let (length, crc) = file.checksum();
        let mut expected = b"hello ".to_vec();
        expected.extend(vec![7_u8; 300_000]);
        assert_eq!(
            (length, crc),
            (expected.len() as u64, crc32fast::hash(&expected))
        );
        assert!(!path.exists(), "not under its name before it is finished");
        file.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), expected);

        let other = dir.path().join("other.arrow");
        let mut file = ChecksummedFile::create(&other).expect("create");
        file.write_all(b"partial").expect("write");
        drop(file);
        assert!(!other.exists());
        assert!(
            !other.with_extension("tmp").exists(),
            "the space is given back"
        );
    }
}

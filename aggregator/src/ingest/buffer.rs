//! The ingest buffer: a semaphore over the bytes of requests being decoded
//! and routed, so a flood of requests is turned away (HTTP 429, gRPC
//! `UNAVAILABLE`, both retried by shippers) instead of growing memory.
//!
//! Bulk ingest waits for room instead of refusing at once (its clients do
//! not retry), and a batch waits already decoded, outside the buffer. So
//! the bytes waiting are capped too, at the buffer's size: past that a
//! batch is refused at once, as is a batch larger than the whole buffer.
//! Each stream has at most one batch waiting (see `flight_sql.rs`), so
//! the decoded batches that wait for room or are being stored come to at
//! most twice the buffer however many streams a client opens.
//!
//! The semaphore is first-come first-served: while a bulk batch waits,
//! every permit freed goes to it, and other ingest (HTTP, OTLP) is turned
//! away (429) until it has its room or gives up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why [`IngestBuffer::reserve_within`] found no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoRoom {
    #[error(
        "a batch of {bytes} bytes is larger than the whole ingest buffer ({buffer} bytes): send smaller batches"
    )]
    TooLarge { bytes: usize, buffer: usize },
    #[error(
        "the ingest buffer is full and as many bytes as it holds are already waiting for it; retry shortly"
    )]
    TooManyWaiting,
    #[error("the ingest buffer stayed full for {} s; retry shortly", .0.as_secs())]
    TimedOut(Duration),
}

/// Room for bytes being decoded and routed; see the module docs.
#[derive(Debug, Clone)]
pub struct IngestBuffer {
    room: Arc<Semaphore>,
    /// Bytes of batches waiting for `room`.
    waiting: Arc<Semaphore>,
    kib: u32,
}

impl IngestBuffer {
    pub fn new(bytes: usize) -> Self {
        let kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            room: Arc::new(Semaphore::new(kib as usize)),
            waiting: Arc::new(Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// Room for `bytes`, or `None` when the buffer is full.
    pub fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        self.room
            .clone()
            .try_acquire_many_owned(self.units(bytes))
            .ok()
    }

    /// Room for `bytes`, waiting up to `wait` for it; refused at once when
    /// `bytes` is more than the buffer or a buffer's worth of bytes is
    /// already waiting, or after `wait`.
    pub async fn reserve_within(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, NoRoom> {
        let buffer = self.kib as usize * 1024;
        if bytes > buffer {
            return Err(NoRoom::TooLarge { bytes, buffer });
        }
        if let Some(room) = self.reserve(bytes) {
            return Ok(room);
        }
        let _waiting = self
            .waiting
            .clone()
            .try_acquire_many_owned(self.units(bytes))
            .map_err(|_| NoRoom::TooManyWaiting)?;
        let acquire = self.room.clone().acquire_many_owned(self.units(bytes));
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(room)) => Ok(room),
            // The semaphores are never closed; a closed one is no room.
            Ok(Err(_)) | Err(_) => Err(NoRoom::TimedOut(wait)),
        }
    }

    /// `bytes` in the buffer's units (KiB, rounded up), at most all of it.
    fn units(&self, bytes: usize) -> u32 {
        u32::try_from(bytes / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(self.kib)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{IngestBuffer, NoRoom};

    const MIB: usize = 1024 * 1024;

    /// A task waiting up to a minute for room for `bytes`.
    fn waiter(
        buffer: &IngestBuffer,
        bytes: usize,
    ) -> tokio::task::JoinHandle<Result<tokio::sync::OwnedSemaphorePermit, NoRoom>> {
        let buffer = buffer.clone();
        tokio::spawn(async move { buffer.reserve_within(bytes, Duration::from_secs(60)).await })
    }

    #[tokio::test]
    async fn waiting_batches_are_capped_at_a_buffer_of_bytes() {
        let buffer = IngestBuffer::new(4 * MIB);
        let held = buffer.reserve(4 * MIB).expect("an empty buffer has room");
        assert!(buffer.reserve(1).is_none());
        // Three batches of 1.5 MiB wait; the third would pass 4 MiB waiting
        // and is refused at once, long before its wait would end.
        let first = waiter(&buffer, 3 * MIB / 2);
        let second = waiter(&buffer, 3 * MIB / 2);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = tokio::time::timeout(
            Duration::from_secs(5),
            buffer.reserve_within(3 * MIB / 2, Duration::from_secs(60)),
        )
        .await
        .expect("refused without waiting");
        assert_eq!(refused.unwrap_err(), NoRoom::TooManyWaiting);
        // Room again: the waiting ones get it, and their wait is released.
        drop(held);
        let first = first.await.unwrap().expect("room after the release");
        let second = second.await.unwrap().expect("room after the release");
        // More than the whole buffer never fits: refused, not capped.
        assert!(matches!(
            buffer
                .reserve_within(4 * MIB + 1, Duration::from_secs(60))
                .await,
            Err(NoRoom::TooLarge { .. })
        ));
        drop((first, second));
        assert_eq!(buffer.waiting.available_permits(), buffer.kib as usize);
        assert!(buffer.reserve(4 * MIB).is_some());
    }

    #[tokio::test]
    async fn a_wait_that_ends_or_is_dropped_gives_its_bytes_back() {
        let buffer = IngestBuffer::new(MIB);
        let held = buffer.reserve(MIB).unwrap();
        assert_eq!(
            buffer
                .reserve_within(10, Duration::from_millis(20))
                .await
                .unwrap_err(),
            NoRoom::TimedOut(Duration::from_millis(20))
        );
        assert_eq!(buffer.waiting.available_permits(), buffer.kib as usize);
        // A client gone mid-wait: its future dropped after room was freed
        // in part.
        let waiting = waiter(&buffer, MIB);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(buffer.waiting.available_permits(), buffer.kib as usize);
        assert!(buffer.reserve(MIB - 1024).is_some());
    }
}

//! The ingest buffer: a semaphore over the bytes of requests being decoded
//! and routed, so a flood of requests is turned away (HTTP 429, gRPC
//! `UNAVAILABLE`, both retried by shippers) instead of growing memory.
//!
//! Bulk ingest waits for room instead of refusing at once (its clients do
//! not retry), and a batch waits already decoded, outside the buffer. So
//! the bytes waiting are capped too, at the buffer's size: past that a
//! batch is refused at once, and decoded batches held by ingest stay under
//! twice the buffer however many streams a client opens.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

    /// Room for `bytes`, waiting up to `wait` for it; `None` at once when
    /// a buffer's worth of bytes is already waiting, or after `wait`.
    pub async fn reserve_within(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        if let Some(room) = self.reserve(bytes) {
            return Some(room);
        }
        let _waiting = self
            .waiting
            .clone()
            .try_acquire_many_owned(self.units(bytes))
            .ok()?;
        let acquire = self.room.clone().acquire_many_owned(self.units(bytes));
        tokio::time::timeout(wait, acquire).await.ok()?.ok()
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

    use super::IngestBuffer;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn waiting_batches_are_capped_at_a_buffer_of_bytes() {
        let buffer = IngestBuffer::new(4 * MIB);
        let held = buffer.reserve(4 * MIB).expect("an empty buffer has room");
        assert!(buffer.reserve(1).is_none());
        // Three batches of 1.5 MiB wait; the third would pass 4 MiB waiting
        // and is refused at once, long before its wait would end.
        let first = tokio::spawn({
            let buffer = buffer.clone();
            async move {
                buffer
                    .reserve_within(3 * MIB / 2, Duration::from_secs(60))
                    .await
            }
        });
        let second = tokio::spawn({
            let buffer = buffer.clone();
            async move {
                buffer
                    .reserve_within(3 * MIB / 2, Duration::from_secs(60))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = tokio::time::timeout(
            Duration::from_secs(5),
            buffer.reserve_within(3 * MIB / 2, Duration::from_secs(60)),
        )
        .await
        .expect("refused without waiting");
        assert!(refused.is_none());
        // Room again: the waiting ones get it, and their wait is released.
        drop(held);
        let first = first.await.unwrap().expect("room after the release");
        let second = second.await.unwrap().expect("room after the release");
        drop((first, second));
        assert_eq!(buffer.waiting.available_permits(), buffer.kib as usize);
        assert!(buffer.reserve(4 * MIB).is_some());
    }

    #[tokio::test]
    async fn a_wait_that_outlasts_its_time_is_refused() {
        let buffer = IngestBuffer::new(MIB);
        let _held = buffer.reserve(MIB).unwrap();
        assert!(
            buffer
                .reserve_within(10, Duration::from_millis(20))
                .await
                .is_none()
        );
        // Its waiting bytes were given back.
        assert_eq!(buffer.waiting.available_permits(), buffer.kib as usize);
    }
}

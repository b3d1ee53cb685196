//! What every ingest front end shares: the fleet's catalog, the router, the
//! metrics, the body limit and the ingest buffer.
//!
//! The buffer is a semaphore over the bytes of requests being decoded and
//! routed, so a flood of requests is turned away (HTTP 429, gRPC
//! `UNAVAILABLE`, both retried by shippers) instead of growing memory.

use std::sync::Arc;
use std::time::Duration;

/// Default `--body-timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::routing::IngestRouter;

/// What the ingest handlers share.
#[derive(Debug, Clone)]
pub struct IngestState {
    pub fleet: Arc<Fleet>,
    pub router: IngestRouter,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    buffer: Arc<Semaphore>,
    buffer_kib: u32,
}

impl IngestState {
    pub fn new(
        fleet: Arc<Fleet>,
        router: IngestRouter,
        metrics: Arc<Metrics>,
        max_body_bytes: usize,
        buffer_bytes: usize,
    ) -> Self {
        let buffer_kib = u32::try_from(buffer_bytes / 1024)
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            fleet,
            router,
            metrics,
            max_body_bytes,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            buffer: Arc::new(Semaphore::new(buffer_kib as usize)),
            buffer_kib,
        }
    }

    /// The same state with another body timeout.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Room in the buffer for `bytes`, or `None` when it is full.
    pub fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(self.buffer_kib);
        self.buffer.clone().try_acquire_many_owned(kib).ok()
    }
}

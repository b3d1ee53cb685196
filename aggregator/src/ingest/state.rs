//! What every ingest front end shares: the fleet's catalog, the router, the
//! metrics, the body limit and the ingest buffer ([`IngestBuffer`]).

use std::sync::Arc;
use std::time::Duration;

/// Default `--body-timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

use tokio::sync::OwnedSemaphorePermit;

use crate::fleet::Fleet;
use crate::ingest::buffer::{IngestBuffer, NoRoom};
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
    buffer: IngestBuffer,
}

impl IngestState {
    pub fn new(
        fleet: Arc<Fleet>,
        router: IngestRouter,
        metrics: Arc<Metrics>,
        max_body_bytes: usize,
        buffer_bytes: usize,
    ) -> Self {
        Self {
            fleet,
            router,
            metrics,
            max_body_bytes,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            buffer: IngestBuffer::new(buffer_bytes),
        }
    }

    /// The same state with another body timeout.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Room in the buffer for `bytes`, or `None` when it is full.
    pub fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        self.buffer.reserve(bytes)
    }

    /// Room in the buffer for `bytes`, waiting up to `wait` for it: for a
    /// stream the server can hold back (a Flight SQL bulk ingest, whose
    /// clients do not retry), rather than refusing at once as a request
    /// that shippers retry is; see [`IngestBuffer::reserve_within`].
    pub async fn reserve_within(
        &self,
        bytes: usize,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, NoRoom> {
        self.buffer.reserve_within(bytes, wait).await
    }
}

/// Bytes `batch` holds: its arrays' slices only. A batch decoded from one
/// IPC message has every array on slices of one body buffer, which
/// `get_array_memory_size` counts whole for each array (a 7-column batch
/// counted 7 times its size, and large bulk-ingest batches were refused as
/// if the buffer were full).
pub fn batch_bytes(batch: &arrow::array::RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            let data = column.to_data();
            match data.get_slice_memory_size() {
                Ok(bytes) => bytes + view_data_bytes(&data),
                Err(_) => column.get_array_memory_size(),
            }
        })
        .sum()
}

/// The data buffers of `Utf8View`/`BinaryView` arrays in `data` (also
/// nested), which `get_slice_memory_size` leaves out: it counts their 16-byte
/// views only, so long strings sent as views would pass the buffer almost
/// for free.
fn view_data_bytes(data: &arrow::array::ArrayData) -> usize {
    use arrow::datatypes::DataType;
    let own = match data.data_type() {
        DataType::Utf8View | DataType::BinaryView => {
            data.buffers().iter().skip(1).map(|b| b.len()).sum()
        }
        _ => 0,
    };
    own + data.child_data().iter().map(view_data_bytes).sum::<usize>()
}

/// How long a bulk ingest batch waits for room in the ingest buffer.
pub const BULK_RESERVE_WAIT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};

    use super::batch_bytes;

    #[test]
    fn a_batch_decoded_from_one_message_counts_its_bytes_once() {
        let rows = 65_536;
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from_iter_values(0..rows)) as _),
            ("m", Arc::new(Int64Array::from_iter_values(0..rows)) as _),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| i.to_string()),
                )) as _,
            ),
        ])
        .unwrap();
        let bytes = shoal_contract::ipc::encode_stream(std::slice::from_ref(&batch)).unwrap();
        let decoded = shoal_contract::ipc::decode_stream(&bytes, None).unwrap();
        let own = batch_bytes(&batch);
        let shared = batch_bytes(&decoded[0]);
        // Three arrays on one body buffer: counted once, not three times.
        assert!(shared <= own + 4096, "{shared} vs {own}");
        assert!(decoded[0].get_array_memory_size() > 2 * own);
    }

    #[test]
    fn long_strings_as_views_count_their_bytes() {
        use arrow::array::{ListArray, StringViewArray};
        use arrow::buffer::OffsetBuffer;
        use arrow::datatypes::{DataType, Field};
        let rows = 1_000;
        let long = "x".repeat(1_000);
        let views = StringViewArray::from_iter_values((0..rows).map(|_| long.as_str()));
        let batch = RecordBatch::try_from_iter([("s", Arc::new(views.clone()) as _)]).unwrap();
        // A million bytes of strings, not 16 bytes of view per row.
        assert!(
            batch_bytes(&batch) >= rows * 1_000,
            "{}",
            batch_bytes(&batch)
        );
        // Also inside a list.
        let field = Arc::new(Field::new_list_field(DataType::Utf8View, false));
        let offsets = OffsetBuffer::from_lengths([rows]);
        let list = ListArray::new(field, offsets, Arc::new(views), None);
        let batch = RecordBatch::try_from_iter([("l", Arc::new(list) as _)]).unwrap();
        assert!(
            batch_bytes(&batch) >= rows * 1_000,
            "{}",
            batch_bytes(&batch)
        );
    }
}

//! Prepared statements: their handles, and the parameters bound to them.
//!
//! A handle carries the statement itself, so any aggregator (also one that
//! restarted) can run it: `SHOALPS2`, a random 16-byte id, the SQL's length
//! (u32 LE), the SQL, then optionally an Arrow IPC stream of one parameter
//! row. `SHOALPS1` handles (no id) are still read.
//!
//! Flight SQL clients bind parameters with a `DoPut` whose answer may hold a
//! new handle. Newer clients use it; older ones (and some drivers) keep the
//! handle they were first given. So the parameters are also kept here, under
//! the caller's name and the handle's id, for [`BOUND_TTL`] after their last
//! use, for at most [`MAX_BOUND`] statements (the least recently used go
//! first) of at most [`MAX_PARAMETER_BYTES`] each; closing the statement
//! forgets them. Parameters in the handle win
//! over those kept here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use bytes::Bytes;
use datafusion::common::ScalarValue;
use tonic::Status;

const MAGIC_V1: &[u8; 8] = b"SHOALPS1";
const MAGIC_V2: &[u8; 8] = b"SHOALPS2";

/// How long bound parameters are kept after their statement was last used.
pub const BOUND_TTL: Duration = Duration::from_secs(3600);
/// Prepared statements whose bound parameters are kept, at most.
pub const MAX_BOUND: usize = 10_000;
/// ... of one caller (token), at most.
pub const MAX_BOUND_PER_CALLER: usize = 1_000;
/// Bytes of bound parameters kept for one caller, at most.
pub const MAX_BOUND_BYTES_PER_CALLER: usize = 16 * 1024 * 1024;
/// Bytes of bound parameters kept in all, at most.
pub const MAX_BOUND_BYTES: usize = 128 * 1024 * 1024;

/// Bytes of bound parameters one statement may keep (Arrow data).
pub const MAX_PARAMETER_BYTES: usize = 256 * 1024;

/// A query parameter: the name of the column that carried it, and its value.
pub type Parameter = (String, ScalarValue);

/// What a handle says.
#[derive(Debug, Clone)]
pub struct Handle {
    /// The statement's id (none in version 1 handles).
    pub id: Option<u128>,
    pub sql: String,
    pub parameters: Vec<Parameter>,
}

/// A new statement's handle, with a fresh id.
pub fn new_handle(sql: &str) -> std::result::Result<Bytes, Status> {
    encode_handle(rand::random::<u128>(), sql, None)
}

/// The handle of statement `id` with `parameters` bound.
pub fn encode_handle(
    id: u128,
    sql: &str,
    parameters: Option<&RecordBatch>,
) -> std::result::Result<Bytes, Status> {
    let length = u32::try_from(sql.len())
        .map_err(|_| Status::invalid_argument("the statement is over 4 GiB"))?;
    let mut handle = MAGIC_V2.to_vec();
    handle.extend_from_slice(&id.to_le_bytes());
    handle.extend_from_slice(&length.to_le_bytes());
    handle.extend_from_slice(sql.as_bytes());
    if let Some(batch) = parameters {
        let parameters = shoal_contract::ipc::encode_stream(std::slice::from_ref(batch))
            .map_err(|e| Status::internal(e.to_string()))?;
        handle.extend_from_slice(&parameters);
    }
    Ok(handle.into())
}

/// Reads a handle back (public for the fuzz targets).
pub fn decode_handle(handle: &[u8]) -> std::result::Result<Handle, String> {
    let bad = || "not a Shoal prepared statement handle".to_string();
    let (id, rest) = if let Some(rest) = handle.strip_prefix(MAGIC_V2.as_slice()) {
        let id: [u8; 16] = rest
            .get(..16)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        (Some(u128::from_le_bytes(id)), &rest[16..])
    } else {
        (
            None,
            handle.strip_prefix(MAGIC_V1.as_slice()).ok_or_else(bad)?,
        )
    };
    let length: [u8; 4] = rest
        .get(..4)
        .ok_or_else(bad)?
        .try_into()
        .map_err(|_| bad())?;
    let length = u32::from_le_bytes(length) as usize;
    let end = 4usize.checked_add(length).ok_or_else(bad)?;
    let sql = std::str::from_utf8(rest.get(4..end).ok_or_else(bad)?).map_err(|_| bad())?;
    let parameters_ipc = &rest[end..];
    let mut parameters = Vec::new();
    if !parameters_ipc.is_empty() {
        // A handle's parameters are one row; the bytes are the client's.
        let batches = shoal_contract::ipc::decode_stream(parameters_ipc, Some(1))
            .map_err(|e| format!("bad parameters in handle: {e}"))?;
        if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
            parameters = parameter_row(batch)?;
        }
    }
    Ok(Handle {
        id,
        sql: sql.to_string(),
        parameters,
    })
}

/// The first row of `batch` as parameters, named by their columns.
pub fn parameter_row(batch: &RecordBatch) -> std::result::Result<Vec<Parameter>, String> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            ScalarValue::try_from_array(column, 0)
                .map(|value| (field.name().clone(), value))
                .map_err(|e| format!("bad parameter {:?}: {e}", field.name()))
        })
        .collect()
}

/// One statement's bound parameters: when last used, their size, the values.
#[derive(Debug)]
struct Bound {
    used: Instant,
    bytes: usize,
    parameters: Vec<Parameter>,
}

/// Parameters bound to statements whose clients keep their first handle.
/// Bounded three ways: bytes per statement (refused when bound), bytes per
/// caller and bytes in all; past a bound, the least recently used of that
/// caller (or of all) go first, so one caller cannot push out the others'
/// before it is over its own share.
#[derive(Debug, Default)]
pub struct BoundParameters {
    bound: Mutex<HashMap<(String, u128), Bound>>,
}

impl BoundParameters {
    /// Keeps `parameters` (`bytes` of them, at most
    /// [`MAX_PARAMETER_BYTES`]) for `owner`'s statement `id`.
    pub fn bind(&self, owner: &str, id: u128, parameters: Vec<Parameter>, bytes: usize) {
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        bound.retain(|_, entry| entry.used.elapsed() < BOUND_TTL);
        let key = (owner.to_string(), id);
        bound.remove(&key);
        let owned = |bound: &HashMap<(String, u128), Bound>| -> (usize, usize) {
            bound
                .iter()
                .filter(|((who, _), _)| who == owner)
                .fold((0, 0), |(n, b), (_, e)| (n + 1, b + e.bytes))
        };
        loop {
            let (count, owner_bytes) = owned(&bound);
            let all_bytes: usize = bound.values().map(|e| e.bytes).sum();
            let over_owner =
                count >= MAX_BOUND_PER_CALLER || owner_bytes + bytes > MAX_BOUND_BYTES_PER_CALLER;
            let over_all = bound.len() >= MAX_BOUND || all_bytes + bytes > MAX_BOUND_BYTES;
            if !over_owner && !over_all {
                break;
            }
            let oldest = bound
                .iter()
                .filter(|((who, _), _)| !over_owner || who == owner)
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(oldest) => bound.remove(&oldest),
                None => break,
            };
        }
        let entry = Bound {
            used: Instant::now(),
            bytes,
            parameters,
        };
        bound.insert(key, entry);
    }

    /// The parameters last bound to `owner`'s statement `id`, if any.
    pub fn get(&self, owner: &str, id: u128) -> Option<Vec<Parameter>> {
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        let entry = bound.get_mut(&(owner.to_string(), id))?;
        if entry.used.elapsed() >= BOUND_TTL {
            return None;
        }
        entry.used = Instant::now();
        Some(entry.parameters.clone())
    }

    /// Forgets `owner`'s statement `id`.
    pub fn close(&self, owner: &str, id: u128) {
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        bound.remove(&(owner.to_string(), id));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::ScalarValue;

    use super::{BoundParameters, decode_handle, encode_handle};

    #[test]
    fn handles_round_trip_with_and_without_parameters() {
        let handle = encode_handle(7, "SELECT $1, $2", None).expect("handle");
        let decoded = decode_handle(&handle).expect("decoded");
        assert_eq!(
            (decoded.id, decoded.sql.as_str()),
            (Some(7), "SELECT $1, $2")
        );
        assert!(decoded.parameters.is_empty());

        let schema = Arc::new(Schema::new(vec![
            Field::new("0", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["svc-api"])),
                Arc::new(Int64Array::from(vec![3])),
            ],
        )
        .expect("batch");
        let handle = encode_handle(7, "SELECT 1", Some(&batch)).expect("handle");
        let decoded = decode_handle(&handle).expect("decoded");
        assert_eq!(
            decoded.parameters,
            vec![
                ("0".to_string(), ScalarValue::from("svc-api")),
                ("n".to_string(), ScalarValue::Int64(Some(3))),
            ]
        );
    }

    #[test]
    fn version_one_handles_are_read_and_garbage_is_refused() {
        let mut v1 = b"SHOALPS1".to_vec();
        v1.extend_from_slice(&8u32.to_le_bytes());
        v1.extend_from_slice(b"SELECT 1");
        let decoded = decode_handle(&v1).expect("v1");
        assert_eq!((decoded.id, decoded.sql.as_str()), (None, "SELECT 1"));
        for bad in [&b"SHOALPS2"[..], b"SHOALPS1\xff\xff\xff\xff", b"x"] {
            assert!(decode_handle(bad).is_err());
        }
    }

    #[test]
    fn bound_parameters_are_per_owner_and_forgotten_on_close() {
        let bound = BoundParameters::default();
        bound.bind("alice", 1, vec![("0".into(), ScalarValue::from("a"))], 1);
        assert!(bound.get("bob", 1).is_none());
        assert_eq!(bound.get("alice", 1).map(|p| p.len()), Some(1));
        bound.close("alice", 1);
        assert!(bound.get("alice", 1).is_none());
    }

    #[test]
    fn one_caller_cannot_push_out_the_others() {
        use super::{MAX_BOUND_BYTES_PER_CALLER, MAX_PARAMETER_BYTES};
        let bound = BoundParameters::default();
        bound.bind("bob", 1, Vec::new(), MAX_PARAMETER_BYTES);
        let many = 4 * MAX_BOUND_BYTES_PER_CALLER / MAX_PARAMETER_BYTES;
        for id in 0..many as u128 {
            bound.bind("mallory", id, Vec::new(), MAX_PARAMETER_BYTES);
        }
        assert!(bound.get("bob", 1).is_some());
        let kept = (0..many as u128)
            .filter(|id| bound.get("mallory", *id).is_some())
            .count();
        assert_eq!(kept, MAX_BOUND_BYTES_PER_CALLER / MAX_PARAMETER_BYTES);
        // The newest are the ones kept.
        assert!(bound.get("mallory", many as u128 - 1).is_some());
    }
}

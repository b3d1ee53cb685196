//! The Elasticsearch-compatible `POST /_bulk` and `POST /{index}/_bulk`
//! (the index names the table), and the `GET /` probe Elasticsearch clients
//! make before they send. Every item gets the `status` that rsyslog's
//! omelasticsearch, Vector's and Fluent Bit's outputs read: 201 stored, 400
//! refused (not retried), 429 when no leaf can take rows now (retried).
//! Statuses are exact even when storing stops part way: documents with a bad
//! value get their 400, those already held by leaves their 201, and only the
//! rest 429 (or 400 when a leaf refused them), so a shipper that resends the
//! 429 items stores nothing twice, unless a leaf that did not answer in time
//! stored its piece after all (delivery is at least once).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::ingest::body::{answer, read_body};
use crate::ingest::json_rows::{JsonRow, row_from_object};
use crate::ingest::state::IngestState;
use crate::ingest::store::{StoreError, Stored, not_held, store_rows};

/// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's bulk format,
/// the index naming the table. Only `index` and `create` actions store rows.
pub async fn bulk(
    State(state): State<IngestState>,
    Extension(caller): Extension<Caller>,
    index: Option<Path<String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let default_index = index.map(|Path(index)| index);
    let (bytes, _permit) = match read_body(&state, &headers, body).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let parsed =
        tokio::task::spawn_blocking(move || parse_bulk(&bytes, default_index.as_deref())).await;
    let BulkBody { mut items, tables } = match parsed {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(reason)) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": {"type": "parse_exception", "reason": reason}, "status": 400}),
            );
        }
        Err(error) => {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": error.to_string() }),
            );
        }
    };
    for (table, rows) in tables {
        let rows = Arc::new(rows);
        let (stored, failure) = match store_rows(&state, &caller, &table, rows.clone()).await {
            Ok(stored) => (stored, None),
            Err(StoreError::NoLeaf { reason, partial }) => {
                let reason = format!("no leaf can take rows: {reason}; retry");
                (partial, Some((429, reason)))
            }
            Err(StoreError::Refused { reason, partial }) => (partial, Some((400, reason))),
            Err(StoreError::Forbidden(reason)) => (Stored::default(), Some((403, reason))),
            Err(error @ StoreError::Internal(_)) => {
                (Stored::default(), Some((500, error.to_string())))
            }
        };
        mark_outcome(&mut items, &rows, &stored, failure);
    }
    let errors = items.iter().any(|item| item_status(item) >= 300);
    answer(
        StatusCode::OK,
        json!({ "took": started.elapsed().as_millis() as u64, "errors": errors, "items": items }),
    )
}

/// A bulk body read: an item per action (201 until storing says otherwise),
/// and the documents to store by table (each row's `line` is its item's
/// position).
pub struct BulkBody {
    pub items: Vec<Value>,
    pub tables: BTreeMap<String, Vec<JsonRow>>,
}

/// Reads the action and document lines; `Err` for a malformed action line,
/// which makes the whole request a 400 as in Elasticsearch.
pub fn parse_bulk(bytes: &[u8], default_index: Option<&str>) -> Result<BulkBody, String> {
    let mut items: Vec<Value> = Vec::new();
    let mut tables: BTreeMap<String, Vec<JsonRow>> = BTreeMap::new();
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty());
    while let Some(action_line) = lines.next() {
        let action: Value = match serde_json::from_slice(action_line) {
            Ok(action) => action,
            Err(error) => {
                return Err(format!("bad action line: {error}"));
            }
        };
        let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return Err("an action line must be an object like {\"index\": {}}".to_string());
        };
        let kind = kind.clone();
        let table = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| default_index.map(str::to_string));
        let id = meta.get("_id").cloned().unwrap_or(Value::Null);
        let position = items.len();
        if kind == "delete" {
            items.push(bulk_item(
                &kind,
                table.as_deref().unwrap_or(""),
                &id,
                400,
                Some("delete is not supported"),
            ));
            continue;
        }
        let document = lines.next();
        if !matches!(kind.as_str(), "index" | "create") {
            items.push(bulk_item(
                &kind,
                table.as_deref().unwrap_or(""),
                &id,
                400,
                Some("only index and create actions are supported"),
            ));
            continue;
        }
        let Some(table) =
            table.filter(|t| shoal_contract::table_names::validate_table_name(t).is_ok())
        else {
            items.push(bulk_item(
                &kind,
                "",
                &id,
                400,
                Some("no valid _index for this document"),
            ));
            continue;
        };
        let parsed = document
            .ok_or_else(|| "the action has no document line".to_string())
            .and_then(|line| {
                serde_json::from_slice::<Value>(line).map_err(|e| format!("not JSON: {e}"))
            })
            .and_then(|value| match value {
                Value::Object(object) => row_from_object(object, None),
                _ => Err("the document is not a JSON object".to_string()),
            });
        items.push(bulk_item(&kind, &table, &id, 201, None));
        match parsed {
            Ok(fields) => tables.entry(table).or_default().push(JsonRow {
                line: position,
                fields,
            }),
            Err(reason) => items[position] = bulk_item(&kind, &table, &id, 400, Some(&reason)),
        }
    }
    Ok(BulkBody { items, tables })
}

/// Sets the statuses of one table's documents (`rows`, whose lines are
/// item positions) after storing them: 400 for those rejected for a bad
/// value; on a `failure`, its status for those not held by leaves.
fn mark_outcome(
    items: &mut [Value],
    rows: &[JsonRow],
    stored: &Stored,
    failure: Option<(u16, String)>,
) {
    for error in &stored.errors {
        set_status(&mut items[error.line], 400, Some(&error.reason));
    }
    let Some((status, reason)) = failure else {
        return;
    };
    for row in not_held(rows, stored) {
        set_status(&mut items[row.line], status, Some(&reason));
    }
}

fn bulk_item(kind: &str, index: &str, id: &Value, status: u16, error: Option<&str>) -> Value {
    let mut item = json!({ "_index": index, "_id": id, "status": status });
    if let Some(reason) = error {
        item["error"] = json!({ "type": "mapper_parsing_exception", "reason": reason });
    } else {
        item["result"] = json!("created");
    }
    json!({ kind: item })
}

fn item_status(item: &Value) -> u16 {
    item.as_object()
        .and_then(|o| o.values().next())
        .and_then(|inner| inner["status"].as_u64())
        .unwrap_or(500) as u16
}

fn set_status(item: &mut Value, status: u16, reason: Option<&str>) {
    if let Some(inner) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
        inner["status"] = json!(status);
        if let Some(reason) = reason {
            let kind = match status {
                429 => "es_rejected_execution_exception",
                403 => "security_exception",
                _ => "mapper_parsing_exception",
            };
            inner["error"] = json!({ "type": kind, "reason": reason });
            if let Some(object) = inner.as_object_mut() {
                object.remove("result");
            }
        }
    }
}

/// What `GET /` tells an Elasticsearch client, which probes before sending.
pub fn elasticsearch_probe() -> Value {
    json!({
        "name": "shoal",
        "cluster_name": "shoal",
        "version": {
            "number": "8.11.0",
            "build_flavor": "default",
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::json_rows::RowError;

    #[test]
    fn a_failure_part_way_marks_only_the_documents_not_held() {
        let mut items: Vec<Value> = (0..5)
            .map(|i| bulk_item("index", "t", &json!(i), 201, None))
            .collect();
        // Item 3 belongs to another table; item 1 had a bad value; of the
        // good ones (0, 2, 4) the first is held when no leaf takes the rest.
        let stored = Stored {
            accepted: 1,
            errors: vec![RowError {
                line: 1,
                reason: "conflicts".to_string(),
            }],
        };
        let failure = Some((429, "no leaf".to_string()));
        let rows: Vec<JsonRow> = [0, 1, 2, 4]
            .into_iter()
            .map(|line| JsonRow {
                line,
                fields: Default::default(),
            })
            .collect();
        mark_outcome(&mut items, &rows, &stored, failure);
        let statuses: Vec<u16> = items.iter().map(item_status).collect();
        assert_eq!(statuses, vec![201, 400, 429, 201, 429]);
        assert_eq!(items[1]["index"]["error"]["reason"], json!("conflicts"));
        assert_eq!(
            items[2]["index"]["error"]["type"],
            json!("es_rejected_execution_exception")
        );
    }
}

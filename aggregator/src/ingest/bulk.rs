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
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::ingest::body::{answer, read_body};
use crate::ingest::bulk_item::{BulkAnswer, BulkItem, answer_json};
use crate::ingest::decode_lines::{Line, LineRules, NotObject, decode_lines};
use crate::ingest::ndjson::DecodeError;
use crate::ingest::state::IngestState;
use crate::ingest::store::{Convert, StoreError, Stored, store_with};

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
    let parsed = tokio::task::spawn_blocking(move || {
        parse_bulk(&bytes, default_index.as_deref()).map(|parsed| (parsed, bytes))
    })
    .await;
    let (BulkBody { mut items, tables }, bytes) = match parsed {
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
    let bytes = Arc::new(bytes);
    for (table, documents) in tables {
        let documents = Arc::new(documents);
        let (body, lines) = (bytes.clone(), documents.clone());
        let convert: Convert = Arc::new(move |known, resume| {
            let lines: Vec<Line> = lines
                .iter()
                .map(|(position, range)| (*position, &body[range.clone()]))
                .collect();
            let rules = LineRules {
                time_field: None,
                not_object: NotObject::Document,
                ..LineRules::default()
            };
            decode_lines(&lines, rules, known, resume).map_err(DecodeError::Internal)
        });
        let (stored, failure) = match store_with(&state, &caller, &table, convert).await {
            Ok(stored) => (stored, None),
            Err(StoreError::NoLeaf { reason, partial }) => {
                let reason = format!("no leaf can take rows: {reason}; retry");
                (partial, Some((429, reason)))
            }
            Err(StoreError::Refused { reason, partial }) => (partial, Some((400, reason))),
            Err(StoreError::Forbidden(reason)) => (everything(&documents), Some((403, reason))),
            Err(error @ (StoreError::Internal(_) | StoreError::NotJson(_))) => {
                (everything(&documents), Some((500, error.to_string())))
            }
        };
        mark_outcome(&mut items, &stored, failure);
    }
    let took = started.elapsed().as_millis() as u64;
    let written = tokio::task::spawn_blocking(move || {
        answer_json(&BulkAnswer {
            errors: items.iter().any(|item| item.status >= 300),
            items: &items,
            took,
        })
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|written| written.map_err(|error| error.to_string()));
    match written {
        Ok(json) => {
            let json_type = [(header::CONTENT_TYPE, "application/json")];
            (StatusCode::OK, json_type, json).into_response()
        }
        Err(reason) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": reason }),
        ),
    }
}

/// A bulk body read: an item per action (201 until storing says otherwise),
/// and the documents to store by table: each its item's position and where
/// its line is in the body (decoded when stored, straight into columns).
pub struct BulkBody {
    pub items: Vec<BulkItem>,
    pub tables: BTreeMap<String, Vec<(usize, Range<usize>)>>,
}

/// Nothing held and every document pending: for a failure before storing.
fn everything(documents: &[(usize, Range<usize>)]) -> Stored {
    Stored {
        pending: documents.iter().map(|(position, _)| *position).collect(),
        ..Stored::default()
    }
}

/// Reads the action and document lines; `Err` for a malformed action line,
/// which makes the whole request a 400 as in Elasticsearch.
pub fn parse_bulk(bytes: &[u8], default_index: Option<&str>) -> Result<BulkBody, String> {
    let mut items: Vec<BulkItem> = Vec::new();
    let mut tables: BTreeMap<String, Vec<(usize, Range<usize>)>> = BTreeMap::new();
    let mut start = 0;
    let mut lines = memchr::memchr_iter(b'\n', bytes)
        .chain(std::iter::once(bytes.len()))
        .map(|end| {
            let range = start..end;
            start = end + 1;
            range
        })
        .map(|range| trimmed(bytes, range))
        .filter(|range| !range.is_empty());
    // Shippers mostly repeat one action line (`{"index":{}}`): the last
    // one read is not parsed again.
    let mut last: Option<(Range<usize>, Action)> = None;
    while let Some(action_line) = lines.next() {
        let line = &bytes[action_line.clone()];
        let action = match &last {
            Some((range, action)) if &bytes[range.clone()] == line => action.clone(),
            _ => {
                let action = read_action(line, default_index)?;
                last = Some((action_line, action.clone()));
                action
            }
        };
        let Action {
            kind,
            table,
            valid,
            id,
        } = action;
        let position = items.len();
        let refuse = |kind: &Arc<str>, table: Option<Arc<str>>, id, reason| {
            let table = table.unwrap_or_else(|| "".into());
            BulkItem::shared(kind.clone(), table, id, 400, Some(reason))
        };
        if &*kind == "delete" {
            items.push(refuse(&kind, table, id, "delete is not supported"));
            continue;
        }
        let document = lines.next();
        if !matches!(&*kind, "index" | "create") {
            let reason = "only index and create actions are supported";
            items.push(refuse(&kind, table, id, reason));
            continue;
        }
        let Some(table) = table.filter(|_| valid) else {
            items.push(refuse(&kind, None, id, "no valid _index for this document"));
            continue;
        };
        match document {
            Some(range) => {
                match tables.get_mut(&*table) {
                    Some(documents) => documents.push((position, range)),
                    None => drop(tables.insert(table.to_string(), vec![(position, range)])),
                }
                items.push(BulkItem::shared(kind, table, id, 201, None));
            }
            None => {
                let reason = Some("the action has no document line");
                items.push(BulkItem::shared(kind, table, id, 400, reason));
            }
        }
    }
    Ok(BulkBody { items, tables })
}

/// What an action line asks: its kind (`index`, `create`, ...), its table
/// (`_index`, else the path's) and whether that is a valid table name
/// (checked once per action line), and its `_id`. Cloned for every
/// document under a repeated action line: sharing its strings makes that
/// free.
#[derive(Debug, Clone)]
struct Action {
    kind: Arc<str>,
    table: Option<Arc<str>>,
    valid: bool,
    id: Value,
}

fn read_action(line: &[u8], default_index: Option<&str>) -> Result<Action, String> {
    let action: Value =
        serde_json::from_slice(line).map_err(|error| format!("bad action line: {error}"))?;
    let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
        return Err("an action line must be an object like {\"index\": {}}".to_string());
    };
    let table = meta.get("_index").and_then(Value::as_str).or(default_index);
    Ok(Action {
        kind: kind.as_str().into(),
        table: table.map(Arc::from),
        valid: table.is_some_and(|t| shoal_contract::table_names::validate_table_name(t).is_ok()),
        id: meta.get("_id").cloned().unwrap_or(Value::Null),
    })
}

/// `range` of `bytes` without its leading and trailing whitespace.
fn trimmed(bytes: &[u8], range: Range<usize>) -> Range<usize> {
    let line = &bytes[range.clone()];
    let start = range.start + (line.len() - line.trim_ascii_start().len());
    let end = range.end - (line.len() - line.trim_ascii_end().len());
    start..end.max(start)
}

/// Sets the statuses of one table's documents after storing them (errors'
/// lines are item positions): 400 for those rejected for a bad value; on a
/// `failure`, its status for those not held by leaves.
fn mark_outcome(items: &mut [BulkItem], stored: &Stored, failure: Option<(u16, String)>) {
    for error in &stored.errors {
        items[error.line].set_status(400, Some(&error.reason));
    }
    let Some((status, reason)) = failure else {
        return;
    };
    for &position in &stored.pending {
        items[position].set_status(status, Some(&reason));
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
        let mut items: Vec<BulkItem> = (0..5)
            .map(|i| BulkItem::new("index", "t", json!(i), 201, None))
            .collect();
        // Item 3 belongs to another table; item 1 had a bad value; of the
        // good ones (0, 2, 4) the first is held when no leaf takes the rest.
        let stored = Stored {
            accepted: 1,
            errors: vec![RowError {
                line: 1,
                reason: "conflicts".to_string(),
            }],
            pending: vec![2, 4],
        };
        let failure = Some((429, "no leaf".to_string()));
        mark_outcome(&mut items, &stored, failure);
        let statuses: Vec<u16> = items.iter().map(|item| item.status).collect();
        assert_eq!(statuses, vec![201, 400, 429, 201, 429]);
        let answer = serde_json::to_value(&items).unwrap();
        assert_eq!(answer[1]["index"]["error"]["reason"], json!("conflicts"));
        assert_eq!(
            answer[2]["index"]["error"]["type"],
            json!("es_rejected_execution_exception")
        );
    }

    /// Each action's item and each document's table, whether the action
    /// line repeats the one before (read once, its strings shared) or not.
    #[test]
    fn actions_give_their_items_and_documents_their_tables() {
        let body = concat!(
            "{\"index\":{}}\n{\"a\":1}\n",
            "{\"index\":{}}\n{\"a\":2}\n",
            "{\"create\":{\"_index\":\"other\",\"_id\":\"x\"}}\n{\"a\":3}\n",
            "{\"delete\":{\"_index\":\"Bad Name\"}}\n",
            "{\"update\":{\"_index\":\"other\"}}\n{\"doc\":{}}\n",
            "{\"index\":{\"_index\":\"Bad Name\"}}\n{\"a\":4}\n",
            "{\"index\":{}}\n{\"a\":5}\n",
            "{\"index\":{}}\n",
        );
        let parsed = parse_bulk(body.as_bytes(), Some("logs")).unwrap();
        let seen: Vec<(&str, &str, u16)> = parsed
            .items
            .iter()
            .map(|item| (&*item.kind, &*item.index, item.status))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("index", "logs", 201),
                ("index", "logs", 201),
                ("create", "other", 201),
                ("delete", "Bad Name", 400),
                ("update", "other", 400),
                ("index", "", 400),
                ("index", "logs", 201),
                ("index", "logs", 400),
            ]
        );
        assert_eq!(parsed.items[2].id, json!("x"));
        assert!(Arc::ptr_eq(&parsed.items[0].index, &parsed.items[1].index));
        let documents = |table: &str| -> Vec<(usize, &str)> {
            parsed.tables[table]
                .iter()
                .map(|(position, range)| (*position, &body[range.clone()]))
                .collect()
        };
        assert_eq!(parsed.tables.len(), 2);
        assert_eq!(
            documents("logs"),
            vec![(0, "{\"a\":1}"), (1, "{\"a\":2}"), (6, "{\"a\":5}")]
        );
        assert_eq!(documents("other"), vec![(2, "{\"a\":3}")]);
        let reason = |at: usize| parsed.items[at].error.clone().unwrap().1;
        assert_eq!(reason(7), "the action has no document line");
        assert_eq!(reason(5), "no valid _index for this document");
    }
}

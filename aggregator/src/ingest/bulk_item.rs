//! The `_bulk` answer: one item per action with the `status` shippers read
//! (201 stored, 400 refused, 429 retry), written straight to JSON by serde
//! (a `_bulk` of 30,000 documents answers 30,000 items: no
//! `serde_json::Value` tree per item). Keys come in the order
//! Elasticsearch clients saw before: sorted. [`answer_json`] writes an item
//! equal to the one before it (most are: same action, index, no `_id`,
//! stored) by copying that one's bytes instead of serializing it again.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// One action's outcome. Its action and index are shared with the other
/// items of the same action line (nearly all of a request's): an item per
/// document allocates nothing when its action has no `_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    /// `index`, `create`, ...
    pub kind: Arc<str>,
    pub index: Arc<str>,
    pub id: Value,
    pub status: u16,
    /// The error's type and reason; `None` for a stored document.
    pub error: Option<(&'static str, String)>,
}

impl BulkItem {
    /// An item whose `reason`, if any, is a mapping error.
    pub fn new(kind: &str, index: &str, id: Value, status: u16, reason: Option<&str>) -> Self {
        Self::shared(kind.into(), index.into(), id, status, reason)
    }

    /// [`Self::new`] with the action and index of other items.
    pub fn shared(
        kind: Arc<str>,
        index: Arc<str>,
        id: Value,
        status: u16,
        reason: Option<&str>,
    ) -> Self {
        Self {
            kind,
            index,
            id,
            status,
            error: reason.map(|reason| ("mapper_parsing_exception", reason.to_string())),
        }
    }

    /// Changes the status after storing; a `reason` is the error's.
    pub fn set_status(&mut self, status: u16, reason: Option<&str>) {
        self.status = status;
        if let Some(reason) = reason {
            let kind = match status {
                429 => "es_rejected_execution_exception",
                403 => "security_exception",
                _ => "mapper_parsing_exception",
            };
            self.error = Some((kind, reason.to_string()));
        }
    }
}

impl Serialize for BulkItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut outer = serializer.serialize_map(Some(1))?;
        outer.serialize_entry(&*self.kind, &Inner(self))?;
        outer.end()
    }
}

/// What an item says under its action's name.
struct Inner<'a>(&'a BulkItem);

impl Serialize for Inner<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let item = self.0;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("_id", &item.id)?;
        map.serialize_entry("_index", &*item.index)?;
        match &item.error {
            Some((kind, reason)) => map.serialize_entry(
                "error",
                &ErrorBody {
                    reason,
                    r#type: kind,
                },
            )?,
            None => map.serialize_entry("result", "created")?,
        }
        map.serialize_entry("status", &item.status)?;
        map.end()
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    reason: &'a str,
    r#type: &'a str,
}

/// The whole answer.
#[derive(Serialize)]
pub struct BulkAnswer<'a> {
    pub errors: bool,
    pub items: &'a [BulkItem],
    pub took: u64,
}

/// `answer` as the JSON serde writes for it, each run of equal items
/// serialized once (a 34,000-item answer took a tenth of the server's
/// time per `_bulk` request when every item was serialized).
pub fn answer_json(answer: &BulkAnswer) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + answer.items.len() * 80);
    out.extend_from_slice(b"{\"errors\":");
    serde_json::to_writer(&mut out, &answer.errors)?;
    out.extend_from_slice(b",\"items\":[");
    let mut previous: Option<(&BulkItem, std::ops::Range<usize>)> = None;
    for (position, item) in answer.items.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        match &previous {
            // Only ids without numbers: `0.0` and `-0.0` (alone or inside
            // an array or object) are equal but print apart.
            Some((before, bytes))
                if *before == item && matches!(item.id, Value::Null | Value::String(_)) =>
            {
                out.extend_from_within(bytes.clone())
            }
            _ => {
                let start = out.len();
                serde_json::to_writer(&mut out, item)?;
                previous = Some((item, start..out.len()));
            }
        }
    }
    out.extend_from_slice(b"],\"took\":");
    serde_json::to_writer(&mut out, &answer.took)?;
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_read_as_the_json_they_replaced() {
        let stored = BulkItem::new("index", "t", json!("a"), 201, None);
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            json!({"index": {"_id": "a", "_index": "t", "result": "created", "status": 201}})
        );
        let mut retried = BulkItem::new("create", "t", Value::Null, 201, None);
        retried.set_status(429, Some("no leaf"));
        assert_eq!(
            serde_json::to_string(&retried).unwrap(),
            r#"{"create":{"_id":null,"_index":"t","error":{"reason":"no leaf","type":"es_rejected_execution_exception"},"status":429}}"#
        );
    }

    #[test]
    fn the_answer_reads_as_serde_writes_it() {
        let mut items: Vec<BulkItem> = (0..9)
            .map(|_| BulkItem::new("index", "t", Value::Null, 201, None))
            .collect();
        items[2].id = json!("x");
        items[3].id = json!("x");
        items.push(BulkItem::new("index", "t", json!(0.0), 201, None));
        items.push(BulkItem::new("index", "t", json!(-0.0), 201, None));
        items.push(BulkItem::new("index", "t", json!([0.0]), 201, None));
        items.push(BulkItem::new("index", "t", json!([-0.0]), 201, None));
        items[4].set_status(429, Some("no leaf"));
        items[5].kind = "create".into();
        items[6].index = "u\"v".into();
        items[8].set_status(400, Some("bad \u{1} value"));
        for (errors, items) in [
            (true, &items[..]),
            (false, &items[..0]),
            (false, &items[..2]),
        ] {
            let answer = BulkAnswer {
                errors,
                items,
                took: 17,
            };
            let fast = answer_json(&answer).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                serde_json::to_string(&answer).unwrap()
            );
        }
    }
}

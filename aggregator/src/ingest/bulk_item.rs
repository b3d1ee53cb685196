//! The `_bulk` answer: one item per action with the `status` shippers read
//! (201 stored, 400 refused, 429 retry), written straight to JSON by serde
//! (a `_bulk` of 30,000 documents answers 30,000 items: no
//! `serde_json::Value` tree per item). Keys come in the order
//! Elasticsearch clients saw before: sorted.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// One action's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    /// `index`, `create`, ...
    pub kind: String,
    pub index: String,
    pub id: Value,
    pub status: u16,
    /// The error's type and reason; `None` for a stored document.
    pub error: Option<(&'static str, String)>,
}

impl BulkItem {
    /// An item whose `reason`, if any, is a mapping error.
    pub fn new(kind: &str, index: &str, id: Value, status: u16, reason: Option<&str>) -> Self {
        Self {
            kind: kind.to_string(),
            index: index.to_string(),
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
        outer.serialize_entry(&self.kind, &Inner(self))?;
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
        map.serialize_entry("_index", &item.index)?;
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
}

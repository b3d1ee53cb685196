//! An OTLP export's body made ready to store: planned from the body as it
//! came when the view ([`otlp_view`]) reads it, else decoded by prost and
//! written again as prost writes it (which the view reads), or refused
//! with prost's reason.
//!
//! Every record is read as prost would read it before any of it is
//! stored, but not always twice: an export whose records all go to one
//! table (nearly every export) has its records read only while they are
//! converted, which happens before anything is stored; a record the view
//! gives up on there ([`ConvertError::Unread`]) sends the body to
//! [`reread`]. Records of several tables are checked here first, as one
//! table may be stored before the next one's records are read, and so are
//! records no table takes (their resource was rejected), which nothing
//! else reads.
//!
//! [`otlp_view`]: crate::ingest::otlp_view
//! [`ConvertError::Unread`]: crate::ingest::otlp_columns::ConvertError::Unread

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use crate::ingest::otlp_columns::{OtlpPlan, plan};
use crate::ingest::otlp_view::RequestView;

/// An export ready to store.
#[derive(Debug)]
pub struct Prepared {
    /// The body the view reads: as it came, or prost's encoding of it.
    pub body: Bytes,
    pub plan: Arc<OtlpPlan>,
    /// Every record was read already: converting one cannot give up.
    pub checked: bool,
}

/// Why an export could not be prepared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// The body is not an `ExportLogsServiceRequest` (prost's reason).
    #[error("{0}")]
    NotRequest(String),
    /// prost's encoding was not read in place (a bug, not a client's).
    #[error("the export was not read in place after prost decoded it")]
    Unread,
}

/// Prepares `body`, an `ExportLogsServiceRequest`; `table` (if given)
/// takes every record.
pub fn prepare(body: Bytes, table: Option<&str>) -> Result<Prepared, ReadError> {
    match in_place(&body, table) {
        Some((plan, checked)) => Ok(Prepared {
            body,
            plan: Arc::new(plan),
            checked,
        }),
        None => reread(&body, table),
    }
}

/// The plan of `body` as it came, and whether its records were checked;
/// `None` when the view gives up on it.
fn in_place(body: &[u8], table: Option<&str>) -> Option<(OtlpPlan, bool)> {
    let view = RequestView::read(body).ok()?;
    let plan = plan(&view, table);
    let checked = plan.tables.len() != 1 || !plan.errors.is_empty();
    if checked {
        view.check_records().ok()?;
    }
    Some((plan, checked))
}

/// Whether prost reads `body` (`Err` with its reason when not): read whole
/// in place, else decoded. For an export refused for another reason before
/// its records were read, which must be refused for its bytes first.
pub fn check(body: &[u8]) -> Result<(), ReadError> {
    if RequestView::read(body)
        .and_then(|view| view.check_records())
        .is_ok()
    {
        return Ok(());
    }
    ExportLogsServiceRequest::decode(body)
        .map(drop)
        .map_err(|error| ReadError::NotRequest(error.to_string()))
}

/// Prepares `body` by way of prost: decoded, written again, and read (and
/// checked) in place.
pub fn reread(body: &[u8], table: Option<&str>) -> Result<Prepared, ReadError> {
    let request = ExportLogsServiceRequest::decode(body)
        .map_err(|error| ReadError::NotRequest(error.to_string()))?;
    let body = Bytes::from(request.encode_to_vec());
    let view = RequestView::read(&body).map_err(|_| ReadError::Unread)?;
    view.check_records().map_err(|_| ReadError::Unread)?;
    let plan = Arc::new(plan(&view, table));
    Ok(Prepared {
        body,
        plan,
        checked: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decode_lines::Resume;
    use crate::ingest::otlp_columns::{ConvertError, convert_table};
    use crate::ingest::otlp_view::{ValueView, read_record};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::encoding::{WireType, encode_key, encode_varint};

    fn text(value: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        })
    }

    /// `message` as field `field` of a message.
    fn field(field: u32, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(field, WireType::LengthDelimited, &mut out);
        encode_varint(message.len() as u64, &mut out);
        out.extend_from_slice(message);
        out
    }

    /// A `ResourceLogs` of `service`, its scope holding `records` (bytes).
    fn resource(service: &str, records: &[Vec<u8>]) -> Vec<u8> {
        let attributes = Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: text(service),
                ..Default::default()
            }],
            ..Default::default()
        };
        let scope: Vec<u8> = records.iter().flat_map(|r| field(2, r)).collect();
        let mut out = field(1, &attributes.encode_to_vec());
        out.extend(field(2, &scope));
        out
    }

    fn record(body: &str) -> Vec<u8> {
        LogRecord {
            body: text(body),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// A record with its body sent twice: prost merges the two, the view
    /// gives up on it.
    fn odd_record() -> Vec<u8> {
        let mut twice = record("x");
        twice.extend(record("x"));
        twice
    }

    fn export(resources: &[Vec<u8>]) -> Bytes {
        resources
            .iter()
            .flat_map(|r| field(1, r))
            .collect::<Vec<u8>>()
            .into()
    }

    /// The body of the first record `prepared` reads.
    fn first_body(prepared: &Prepared) -> Option<String> {
        let view = RequestView::read(&prepared.body).unwrap();
        let record = read_record(view.records[0], &mut Vec::new()).unwrap();
        match record.body {
            Some(ValueView::Str(text)) => Some(text.to_string()),
            _ => None,
        }
    }

    /// One table's records are read while converted, and a record the
    /// view gives up on sends the body to prost before any is stored.
    #[test]
    fn one_table_is_read_while_converted() {
        let body = export(&[resource("svc", &[record("a"), odd_record()])]);
        let prepared = prepare(body.clone(), None).unwrap();
        assert_eq!(prepared.body, body, "taken as it came");
        assert!(!prepared.checked);
        assert_eq!(prepared.plan.tables, vec!["svc".to_string()]);
        let view = RequestView::read_records(&prepared.body).unwrap();
        let converted = convert_table(&view, &prepared.plan, "svc", None, &Resume::default());
        assert_eq!(converted.err(), Some(ConvertError::Unread));
        let again = reread(&prepared.body, None).unwrap();
        assert!(again.checked);
        assert_ne!(again.body, body);
        let view = RequestView::read_records(&again.body).unwrap();
        let converted = convert_table(&view, &again.plan, "svc", None, &Resume::default());
        let batch = converted.unwrap().batch.unwrap();
        assert_eq!(batch.num_rows(), 2);
        // A readable body is taken as it came, and converts at once.
        let plain = export(&[resource("svc", &[record("a"), record("x")])]);
        let prepared = prepare(plain.clone(), None).unwrap();
        assert_eq!((prepared.body.clone(), prepared.checked), (plain, false));
        let view = RequestView::read_records(&prepared.body).unwrap();
        let converted = convert_table(&view, &prepared.plan, "svc", None, &Resume::default());
        assert_eq!(converted.unwrap().batch.unwrap(), batch);
    }

    /// Records of several tables, or of a rejected resource, are checked
    /// before anything is stored: prost reads the body first.
    #[test]
    fn several_tables_are_checked_first() {
        let two = export(&[
            resource("a", &[record("a")]),
            resource("b", &[odd_record()]),
        ]);
        let prepared = prepare(two.clone(), None).unwrap();
        assert!(prepared.checked);
        assert_ne!(prepared.body, two, "prost's encoding");
        assert_eq!(first_body(&prepared).as_deref(), Some("a"));
        let readable = export(&[resource("a", &[record("a")]), resource("b", &[record("b")])]);
        let prepared = prepare(readable.clone(), None).unwrap();
        assert_eq!((prepared.body, prepared.checked), (readable, true));
        // A resource whose attributes cannot be stored: its records are
        // rejected without being converted, so they are checked here.
        // (a nested attribute with an empty name has no column name)
        let empty_key = KeyValue {
            key: String::new(),
            value: text("v"),
            ..Default::default()
        };
        let list = any_value::Value::KvlistValue(KeyValueList {
            values: vec![empty_key],
        });
        let nested = KeyValue {
            key: "http".into(),
            value: Some(AnyValue { value: Some(list) }),
            ..Default::default()
        };
        let rejected = Resource {
            attributes: vec![nested],
            ..Default::default()
        };
        let mut other = field(1, &rejected.encode_to_vec());
        other.extend(field(2, &field(2, &odd_record())));
        let body = export(&[resource("a", &[record("a")]), other]);
        let prepared = prepare(body.clone(), None).unwrap();
        assert_eq!(prepared.plan.errors.len(), 1, "{:?}", prepared.plan.errors);
        assert!(prepared.checked);
        assert_ne!(prepared.body, body);
    }

    /// Bytes prost refuses are refused with its reason, even when the
    /// view reads the request down to its records.
    #[test]
    fn what_prost_refuses_is_refused() {
        let mut broken = record("x");
        broken.push(0x0a); // a length-delimited field 1 without its length
        let body = export(&[resource("svc", &[broken])]);
        let prepared = prepare(body, None).unwrap();
        let view = RequestView::read_records(&prepared.body).unwrap();
        let converted = convert_table(&view, &prepared.plan, "svc", None, &Resume::default());
        assert_eq!(converted.err(), Some(ConvertError::Unread));
        let refused = reread(&prepared.body, None);
        assert!(
            matches!(refused, Err(ReadError::NotRequest(_))),
            "{refused:?}"
        );
        let truncated = export(&[resource("svc", &[record("x")])]);
        let truncated = truncated.slice(..truncated.len() - 1);
        assert!(matches!(
            prepare(truncated, None),
            Err(ReadError::NotRequest(_))
        ));
    }
}

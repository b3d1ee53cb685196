//! The shape of a log record, learned from one the general way converted
//! ([`record_fields`] then [`ColumnSet::push_row`]), so that records shaped
//! like it go straight to their columns: each value staged with its
//! column's slot ([`ColumnSet::push_staged`]) without a field name per
//! value, a name lookup per field, or the sort of nested attributes. As
//! [`json_shape`] does for NDJSON lines.
//!
//! A record has the shape when the same record columns are set (time,
//! severity, body, ids, event, scope), its resource's attributes are the
//! same map, and its attributes have the same keys in the same order, each
//! a scalar where the learned one was and an array of plain strings where
//! that was one. Every field then has the name it had in the learned
//! record, and so its column. A shape is learned only from a record whose
//! fields each had a column of their own (no name given twice, no null
//! value without a column). Anything else (a body that is not a string, a
//! time out of range, a value its column does not take as it is) is read
//! the general way, which converts it or says why not.
//!
//! [`record_fields`]: crate::ingest::otlp_columns
//! [`json_shape`]: crate::ingest::json_shape

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::ingest::column_set::{ColumnSet, Fields};
use crate::ingest::otlp_attributes::scalar_of;
use crate::ingest::otlp_view::{AttributeView, RecordView, ValueView, plain_strings};
use crate::ingest::scalar::Scalar;

/// The record columns, in the order `record_fields` gives them (bit `i`
/// of a shape's `set` is column `i`): time, severity, severity_number,
/// body, trace_id, span_id, event_name, scope.name, scope.version.
const RECORD_COLUMNS: usize = 9;

/// A record's resource columns and its scope's name and version.
pub type Context<'v, 'a> = (&'v Map<String, Value>, &'a str, &'a str);

/// A learned record shape: the slot of each field it gives.
#[derive(Debug)]
pub struct OtlpShape {
    /// Which record columns the record sets (bit `i`: [`RECORD_COLUMNS`]).
    set: u16,
    /// The slot of each record column set, in [`RECORD_COLUMNS`] order.
    record_slots: Vec<usize>,
    /// The resource's attributes (their map's address, compared and never
    /// read) and their slots.
    resource: usize,
    resource_slots: Vec<usize>,
    /// Each attribute's key, whether it is a string set, and its slot.
    attributes: Vec<(Box<[u8]>, bool, usize)>,
}

impl OtlpShape {
    /// The shape of a record converted the general way into `set`, its
    /// fields `fields` (as `record_fields` gave them); `None` when a field
    /// has no column of its own.
    pub fn learn(
        record: &RecordView,
        attributes: &[AttributeView],
        (resource, scope_name, scope_version): Context,
        fields: &Fields,
        set: &ColumnSet,
    ) -> Option<Self> {
        let slots = fields
            .iter()
            .map(|(name, _)| set.slot(name))
            .collect::<Option<Vec<usize>>>()?;
        // A column given twice: sorted, not searched per field (a record
        // may have a thousand).
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
            return None;
        }
        let present = record_columns(record, scope_name, scope_version)?;
        let record_count = present.count_ones() as usize;
        let resource_end = record_count + resource.len();
        // Attributes come scalars first, then string sets sorted by key.
        let mut sets: Vec<(&str, usize)> = Vec::new();
        let mut shape_attributes = Vec::with_capacity(attributes.len());
        let mut next = resource_end;
        for &(key, value) in attributes {
            let is_set = match value {
                ValueView::Array(bytes) => plain_strings(bytes, |_| {}).then_some(true)?,
                ValueView::Kvlist(_) => return None,
                _ => false,
            };
            let slot = match is_set {
                true => {
                    sets.push((key, shape_attributes.len()));
                    usize::MAX
                }
                false => {
                    next += 1;
                    *slots.get(next - 1)?
                }
            };
            shape_attributes.push((Box::from(key.as_bytes()), is_set, slot));
        }
        sets.sort_by(|a, b| a.0.cmp(b.0));
        for (_, at) in sets {
            next += 1;
            shape_attributes[at].2 = *slots.get(next - 1)?;
        }
        if next != slots.len() {
            return None;
        }
        Some(Self {
            set: present,
            record_slots: slots[..record_count].to_vec(),
            resource: address(resource),
            resource_slots: slots[record_count..resource_end].to_vec(),
            attributes: shape_attributes,
        })
    }

    /// Stages the values of a record with this shape into `staged` (cleared
    /// first) and says `true`; `false` when the record has another shape,
    /// or a value only the general way converts (or refuses).
    pub fn stage<'a>(
        &self,
        record: &RecordView<'a>,
        attributes: &[AttributeView<'a>],
        (resource, scope_name, scope_version): Context<'a, 'a>,
        staged: &mut Vec<(usize, Scalar<'a>)>,
    ) -> bool {
        staged.clear();
        if record_columns(record, scope_name, scope_version) != Some(self.set)
            || address(resource) != self.resource
            || attributes.len() != self.attributes.len()
        {
            return false;
        }
        let mut slots = self.record_slots.iter().copied();
        let mut push = |value: Scalar<'a>| {
            if let Some(slot) = slots.next() {
                staged.push((slot, value));
            }
        };
        let bit = |i: usize| self.set & (1 << i) != 0;
        if bit(0) {
            let Ok(micros) = i64::try_from(record_nanos(record) / 1_000) else {
                return false;
            };
            push(Scalar::Int(micros));
        }
        if bit(1) {
            push(Scalar::Str(Cow::Borrowed(severity(record))));
        }
        if bit(2) {
            push(Scalar::Int(i64::from(record.severity_number)));
        }
        if bit(3) {
            match record.body {
                Some(ValueView::Str(text)) => push(Scalar::Str(Cow::Borrowed(text))),
                _ => return false,
            }
        }
        for (i, bytes) in [(4, record.trace_id), (5, record.span_id)] {
            if bit(i) {
                push(Scalar::Str(Cow::Owned(const_hex::encode(bytes))));
            }
        }
        for (i, text) in [(6, record.event_name), (7, scope_name), (8, scope_version)] {
            if bit(i) {
                push(Scalar::Str(Cow::Borrowed(text)));
            }
        }
        for ((_, value), &slot) in resource.iter().zip(&self.resource_slots) {
            staged.push((slot, Scalar::from_value(value)));
        }
        for (&(key, value), (learned, is_set, slot)) in attributes.iter().zip(&self.attributes) {
            if key.as_bytes() != &learned[..] {
                return false;
            }
            let value = match (value, is_set) {
                (ValueView::Array(bytes), true) => {
                    let mut items = Vec::new();
                    if !plain_strings(bytes, |text| items.push(Cow::Borrowed(text))) {
                        return false;
                    }
                    Scalar::Set(items)
                }
                (ValueView::Array(_) | ValueView::Kvlist(_), _) | (_, true) => return false,
                (scalar, false) => scalar_of(scalar),
            };
            staged.push((*slot, value));
        }
        true
    }
}

/// Where a resource's attributes are: the records of one resource share
/// them.
fn address(resource: &Map<String, Value>) -> usize {
    resource as *const Map<String, Value> as usize
}

/// The record's time in nanoseconds: its own, else when it was observed.
pub fn record_nanos(record: &RecordView) -> u64 {
    match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        nanos => nanos,
    }
}

/// The record's severity: its text, else the name of its number.
pub fn severity<'a>(record: &RecordView<'a>) -> &'a str {
    match record.severity_text.is_empty() {
        true => crate::ingest::otlp_rows::severity_name(record.severity_number),
        false => record.severity_text,
    }
}

/// Which record columns ([`RECORD_COLUMNS`]) the record sets, as
/// `record_fields` decides;
/// `None` for a body that is not a string (only the general way writes
/// those as JSON).
fn record_columns(record: &RecordView, scope_name: &str, scope_version: &str) -> Option<u16> {
    let ids = |bytes: &[u8]| bytes.iter().any(|&b| b != 0);
    let body = match record.body {
        None => false,
        Some(ValueView::Str(_)) => true,
        Some(_) => return None,
    };
    let flags: [bool; RECORD_COLUMNS] = [
        record_nanos(record) != 0,
        !severity(record).is_empty(),
        record.severity_number != 0,
        body,
        ids(record.trace_id),
        ids(record.span_id),
        !record.event_name.is_empty(),
        !scope_name.is_empty(),
        !scope_version.is_empty(),
    ];
    Some(
        flags
            .iter()
            .enumerate()
            .fold(0, |set, (i, &on)| set | (u16::from(on) << i)),
    )
}

#[cfg(test)]
#[path = "otlp_shape_tests.rs"]
mod tests;

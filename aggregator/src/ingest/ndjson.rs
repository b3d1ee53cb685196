//! An NDJSON (or JSON array) request body to one Arrow batch: the body is
//! cut into lines where it stands (blank lines and a missing final newline
//! are fine, a line over [`MAX_LINE_BYTES`] is rejected) and the lines are
//! decoded in parallel ([`decode_lines`]). A body that starts with `[` is
//! one JSON array of objects, each numbered by its position, read whole.

use crate::fleet::TableView;
use crate::ingest::decode_lines::{Decoded, Line, LineRules, Resume, decode_lines};
use crate::ingest::json_rows::{MAX_LINE_BYTES, RowError, parse_body};
use crate::ingest::to_arrow::rows_to_decoded;

/// Why a body gave no rows at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// No line is JSON (HTTP 422: shippers drop, not retry).
    #[error("{0}")]
    NotJson(String),
    /// The rows could not be made into a batch.
    #[error("decoding the rows: {0}")]
    Internal(String),
}

/// Decodes `body` for a table the fleet knows as `known`, the rows'
/// time in `time_field` (else `time`, `timestamp`, ...).
pub fn decode_body(
    body: &[u8],
    time_field: Option<&str>,
    known: Option<&TableView>,
    resume: &Resume,
) -> Result<Decoded, DecodeError> {
    if body.trim_ascii_start().starts_with(b"[") {
        let parsed = parse_body(body, time_field).map_err(DecodeError::NotJson)?;
        let rows = parsed.rows.iter().filter(|row| resume.wants(row.line));
        let mut decoded = rows_to_decoded(known, rows).map_err(DecodeError::Internal)?;
        let errors = parsed.errors.into_iter().filter(|e| resume.wants(e.line));
        decoded.errors.extend(errors);
        decoded.errors.sort_by_key(|e| e.line);
        return Ok(decoded);
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut too_long = Vec::new();
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (index, end) in ends.enumerate() {
        let (number, line) = (index + 1, body[start..end].trim_ascii());
        start = end + 1;
        if line.is_empty() || !resume.wants(number) {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            too_long.push(RowError {
                line: number,
                reason: format!(
                    "the line is {} bytes, over the {MAX_LINE_BYTES}-byte limit",
                    line.len()
                ),
            });
            continue;
        }
        lines.push((number, line));
    }
    let rules = LineRules {
        time_field,
        ..LineRules::default()
    };
    let mut decoded = decode_lines(&lines, rules, known, resume).map_err(DecodeError::Internal)?;
    if !too_long.is_empty() {
        decoded.errors.extend(too_long);
        decoded.errors.sort_by_key(|e| e.line);
    }
    if !decoded.saw_json
        && let Some(first) = decoded.errors.first()
    {
        return Err(DecodeError::NotJson(format!(
            "the body is not JSON: line {}: {}",
            first.line, first.reason
        )));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decode_lines::{decode_chunk, decode_lines_cut, start_columns};
    use crate::ingest::merge::merge_chunks;
    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    use shoal_contract::column_type::ColumnType;

    fn decode(body: &[u8]) -> Decoded {
        decode_body(body, None, None, &Resume::default()).unwrap()
    }

    fn text(batch: &RecordBatch, column: &str, row: usize) -> String {
        let array = batch.column_by_name(column).unwrap();
        arrow::util::display::array_value_to_string(array, row).unwrap()
    }

    #[test]
    fn lines_are_flattened_and_timed_and_errors_keep_their_line() {
        let body = b"{\"ts\": 1763000000, \"user\": {\"id\": 7, \"geo\": {\"cc\": \"fr\"}}, \"tags\": [\"a\", \"b\"], \"mixed\": [1, \"x\", {\"b\": 1, \"a\": 2}]}\n\n\
            not json\n[1, 2]\n{\"@timestamp\": \"2026-11-19T10:00:00.5Z\"}";
        let decoded = decode(body);
        let batch = decoded.batch.unwrap();
        assert_eq!(decoded.lines, vec![1, 5]);
        let times = batch.column_by_name("time").unwrap();
        let times = times.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(times.value(0), 1_763_000_000_000_000);
        assert_eq!(times.value(1), 1_795_082_400_500_000);
        assert_eq!(text(&batch, "user.id", 0), "7");
        assert_eq!(text(&batch, "user.geo.cc", 0), "fr");
        assert_eq!(text(&batch, "tags", 0), "[a, b]");
        // Other arrays are their JSON text, objects' keys sorted.
        assert_eq!(text(&batch, "mixed", 0), "[1,\"x\",{\"a\":2,\"b\":1}]");
        assert!(batch.column_by_name("ts").is_none());
        let errors: Vec<(usize, bool)> = decoded
            .errors
            .iter()
            .map(|e| (e.line, e.reason.contains("an array")))
            .collect();
        assert_eq!(errors, vec![(3, false), (4, true)]);
    }

    #[test]
    fn a_value_of_the_wrong_type_rejects_only_its_row() {
        let body = b"{\"n\": 1, \"s\": \"a\"}\n{\"n\": \"two\"}\n{\"n\": 3, \"f\": 1}\n{\"f\": 2.5}\n{\"s\": 5, \"b\": true}\n{\"b\": 1}";
        let known = TableView {
            columns: vec![("n".into(), ColumnType::Integer)],
            ..Default::default()
        };
        let decoded = decode_body(body, None, Some(&known), &Resume::default()).unwrap();
        let reasons: Vec<(usize, &str)> = decoded
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (2, "column \"n\" is integer, the value is a string"),
                (6, "column \"b\" is boolean, the value is an integer")
            ]
        );
        let batch = decoded.batch.unwrap();
        assert_eq!(batch.num_rows(), 4);
        // Integers then a float in a new column make a float column.
        let floats = batch.column_by_name("f").unwrap();
        let floats = floats.as_primitive::<Float64Type>();
        assert_eq!((floats.value(1), floats.value(2)), (1.0, 2.5));
        // A number in a string column is its JSON text.
        assert_eq!(text(&batch, "s", 3), "5");
    }

    #[test]
    fn a_key_given_twice_counts_once_with_its_last_value() {
        let decoded = decode(b"{\"a\": 1, \"a\": 2, \"b\": 1, \"b\": null}\n{\"a\": 3}");
        let batch = decoded.batch.unwrap();
        let a = batch.column_by_name("a").unwrap();
        assert_eq!(a.as_primitive::<Int64Type>().values().to_vec(), vec![2, 3]);
        assert!(batch.column_by_name("b").is_none());
    }

    #[test]
    fn hostile_lines_are_row_errors_and_the_rest_is_stored() {
        let mut body = format!("{}1{}\n", "{\"a\":".repeat(1000), "}".repeat(1000)).into_bytes();
        body.extend(format!("{}1{}\n", "{\"a\":".repeat(70), "}".repeat(70)).as_bytes());
        body.extend_from_slice(b"{\"bad\": \"\xff\"}\n{\"\": 1}\n{\"a\": {\"\": 2}}\n");
        body.extend_from_slice(b"{\"time\": 1e22}\n{\"ok\": 1} trailing\n");
        body.extend(format!("{{\"big\": \"{}\"}}\n", "x".repeat(MAX_LINE_BYTES)).as_bytes());
        body.extend(format!("{{\"{}\": 1}}\n", "k".repeat(300)).as_bytes());
        body.extend_from_slice(b"{\"ok\": 1}\n");
        let decoded = decode(&body);
        assert_eq!(decoded.lines, vec![10]);
        let reasons: Vec<String> = decoded.errors.iter().map(|e| e.reason.clone()).collect();
        let expected = [
            "recursion limit",
            "nested more than 64 deep",
            "invalid UTF-8 at byte",
            "a field has an empty name",
            "a field inside \"a\" has an empty name",
            "outside the times",
            "trailing characters",
            "over the 1048576-byte limit",
            "over the 256-byte limit",
        ];
        assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
        for (reason, expected) in reasons.iter().zip(expected) {
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
        }
    }

    #[test]
    fn a_body_with_no_json_at_all_is_refused_whole() {
        let refused = decode_body(b"hello\nworld", None, None, &Resume::default());
        assert!(matches!(refused, Err(DecodeError::NotJson(_))));
        assert!(decode(b"").batch.is_none());
        let array = decode(b" [{\"a\": 1}, 2, {\"a\": 3}]");
        assert_eq!(array.lines, vec![1, 3]);
        assert_eq!(array.errors[0].line, 2);
    }

    #[test]
    fn the_named_time_field_wins_and_a_retry_decodes_only_the_rest() {
        let body = b"{\"when\": \"2026-11-19T10:00:00Z\", \"time\": \"x\"}\n{\"when\": null}\n{\"when\": \"no\"}\n{\"n\": 4}";
        let decoded = decode_body(body, Some("when"), None, &Resume::default()).unwrap();
        assert_eq!(decoded.lines, vec![1, 2, 4]);
        assert!(decoded.errors[0].reason.starts_with("field \"when\""));
        let resume = Resume {
            from_line: 2,
            skip: [3].into(),
        };
        let decoded = decode_body(body, Some("when"), None, &resume).unwrap();
        assert_eq!(decoded.lines, vec![2, 4]);
        assert!(decoded.errors.is_empty());
    }

    /// `body` decoded in two parts (on two cores, where there are) and on
    /// one.
    fn on_cores_and_on_one(body: &str) -> (Decoded, Decoded) {
        let lines: Vec<Line> = body
            .as_bytes()
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(i, line)| (i + 1, line))
            .collect();
        let resume = Resume::default();
        let rules = LineRules::default();
        let parallel = decode_lines_cut(&lines, rules, None, &resume, 2).unwrap();
        let start = start_columns(None);
        let one = decode_chunk(&lines, rules, start.clone(), &resume);
        let redo = |_: usize, _: Vec<(String, ColumnType, bool)>| unreachable!();
        let sequential = merge_chunks(vec![one], &start, redo).unwrap().unwrap();
        (parallel, sequential)
    }

    /// Lines decoded on several cores give what one core gives, even when
    /// the second half learns a column's type differently.
    #[test]
    fn chunks_merge_as_one_core_would_decode() {
        let mut body = String::new();
        for i in 0..40_000 {
            body.push_str(&match (i < 20_000, i % 2) {
                (true, _) => format!("{{\"k\": {i}, \"s\": \"v{i}\", \"f\": 1}}\n"),
                (false, 0) => "{\"k\": \"x\"}\n".to_string(),
                (false, _) => format!("{{\"s\": {i}, \"f\": 0.5, \"late\": [\"a\"]}}\n"),
            });
        }
        body.push_str("{\"k\": 1, \"late\": 1}\n");
        let (parallel, sequential) = on_cores_and_on_one(&body);
        assert_eq!(parallel.lines, sequential.lines);
        assert_eq!(parallel.errors, sequential.errors);
        assert_eq!(parallel.errors.len(), 10_001);
        assert_eq!(parallel.batch, sequential.batch);
        let batch = parallel.batch.unwrap();
        assert_eq!(text(&batch, "s", 19_999), "v19999");
        assert_eq!(text(&batch, "s", 20_000), "20001");
        assert_eq!(
            batch.column_by_name("f").unwrap().data_type().to_string(),
            "Float64"
        );
    }

    /// An integer past i64 in a column the request made widens it, in one
    /// chunk as in two (a later chunk that starts with it learns Float).
    #[test]
    fn an_integer_past_sixty_four_bits_widens_alike_in_any_chunk() {
        let mut body = String::new();
        for i in 0..40_000 {
            // Around the middle, where a second chunk starts.
            body.push_str(&match i {
                15_000..25_000 => "{\"x\": 18446744073709551615}\n".to_string(),
                _ => format!("{{\"x\": {i}}}\n"),
            });
        }
        let (parallel, sequential) = on_cores_and_on_one(&body);
        assert!(sequential.errors.is_empty(), "{:?}", sequential.errors);
        assert_eq!(parallel.errors, sequential.errors);
        assert_eq!(parallel.batch, sequential.batch);
        let batch = parallel.batch.unwrap();
        assert_eq!(batch.num_rows(), 40_000);
        assert_eq!(
            batch.column_by_name("x").unwrap().data_type().to_string(),
            "Float64"
        );
    }
}

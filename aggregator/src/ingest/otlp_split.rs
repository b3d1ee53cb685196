//! A large OTLP export turned into rows on all cores: its records are cut
//! into parts (each with a copy of its resource and scope), each part is
//! turned into rows by [`rows_from_request`] on a thread of its own, and
//! the parts' rows are put back in order, numbered as one request.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};

use crate::ingest::otlp_rows::{OtlpRows, rows_from_request};
use crate::ingest::parallel::{parts_for, run_parts};

/// Records below which one core does it all.
const MIN_PART_RECORDS: usize = 8_192;

/// [`rows_from_request`], on as many cores as the records are worth.
pub fn rows_on_all_cores(
    request: ExportLogsServiceRequest,
    table: Option<&str>,
) -> Result<OtlpRows, String> {
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    let parts = parts_for(records, MIN_PART_RECORDS);
    if parts == 1 {
        return Ok(rows_from_request(request, table));
    }
    let parts = split(request, records.div_ceil(parts));
    let done = run_parts(parts, |part| rows_from_request(part, table))?;
    let mut out = OtlpRows::default();
    for part in done {
        let offset = out.records;
        for (table, rows) in part.tables {
            let merged = out.tables.entry(table).or_default();
            merged.extend(rows.into_iter().map(|mut row| {
                row.line += offset;
                row
            }));
        }
        out.errors.extend(part.errors.into_iter().map(|mut error| {
            error.line += offset;
            error
        }));
        out.records += part.records;
    }
    Ok(out)
}

/// `request` cut into requests of at most `per_part` records, in order.
fn split(request: ExportLogsServiceRequest, per_part: usize) -> Vec<ExportLogsServiceRequest> {
    let mut parts = Vec::new();
    let mut part = ExportLogsServiceRequest::default();
    let mut in_part = 0;
    for resource_logs in request.resource_logs {
        let ResourceLogs {
            resource: kept,
            scope_logs,
            schema_url,
        } = resource_logs;
        let empty_resource = || ResourceLogs {
            resource: kept.clone(),
            scope_logs: Vec::new(),
            schema_url: schema_url.clone(),
        };
        let mut resource = empty_resource();
        for scope_logs in scope_logs {
            let ScopeLogs {
                scope,
                log_records,
                schema_url,
            } = scope_logs;
            let mut records = log_records.into_iter().peekable();
            loop {
                let take = per_part - in_part;
                let log_records: Vec<_> = records.by_ref().take(take).collect();
                in_part += log_records.len();
                resource.scope_logs.push(ScopeLogs {
                    scope: scope.clone(),
                    log_records,
                    schema_url: schema_url.clone(),
                });
                if in_part < per_part {
                    break;
                }
                part.resource_logs
                    .push(std::mem::replace(&mut resource, empty_resource()));
                parts.push(std::mem::take(&mut part));
                in_part = 0;
                if records.peek().is_none() {
                    break;
                }
            }
        }
        if !resource.scope_logs.is_empty() {
            part.resource_logs.push(resource);
        }
    }
    if !part.resource_logs.is_empty() {
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    #[test]
    fn parts_keep_every_record_in_order() {
        let records = |n: u64| {
            (0..n)
                .map(|i| LogRecord {
                    time_unix_nano: 1_763_000_000_000_000_000 + i,
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![
                    ScopeLogs {
                        log_records: records(7),
                        ..Default::default()
                    },
                    ScopeLogs {
                        log_records: records(5),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        };
        let one = rows_from_request(request.clone(), Some("t"));
        let parts = split(request, 4);
        assert_eq!(parts.len(), 3);
        let mut line = 0;
        for part in parts {
            let rows = rows_from_request(part, Some("t"));
            for row in &rows.tables["t"] {
                assert_eq!(row.fields, one.tables["t"][line + row.line - 1].fields);
            }
            line += rows.records;
        }
        assert_eq!(line, 12);
    }
}

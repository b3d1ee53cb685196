//! OpenTelemetry logs (OTLP) against real processes: the OpenTelemetry
//! Python SDK's exporters over gRPC and HTTP, OTLP's JSON encoding (the
//! example from the specification), gzip-compressed protobuf, the
//! `x-shoal-table` header, partial success for a record with a bad value,
//! a gRPC export over the body limit, and the retryable answers when no
//! leaf can take rows.
//!
//! The SDK test needs a Python with the OpenTelemetry SDK and exporters,
//! named by `SHOAL_PYTHON` (`.ci/run` makes one and requires it); without
//! it elsewhere that test says so and is skipped.

mod common;

use std::io::Write;

use common::secured::SecuredStack;
use common::stack::Stack;
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::json;

/// The log example of the OTLP specification (`examples/logs.json`), with a
/// second record whose integer attribute is a string.
const SPEC_EXAMPLE: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"my.service"}}]},
 "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
 "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000",
  "severityNumber":10,"severityText":"Information",
  "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
  "body":{"stringValue":"Example log record"},
  "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},
   {"key":"boolean.attribute","value":{"boolValue":true}},
   {"key":"int.attribute","value":{"intValue":"10"}},
   {"key":"double.attribute","value":{"doubleValue":637.704}},
   {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}},
   {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}}]},
  {"timeUnixNano":"1544712660400000000","body":{"stringValue":"second"},
   "attributes":[{"key":"int.attribute","value":{"stringValue":"not a number"}}]}]}]}]}"#;

/// `google.rpc.Status`, as failed OTLP/HTTP answers carry it.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn request(service: &str, records: usize) -> ExportLogsServiceRequest {
    let text = |value: String| AnyValue {
        value: Some(any_value::Value::StringValue(value)),
    };
    let log_records = (0..records)
        .map(|number| LogRecord {
            time_unix_nano: 1_763_000_000_000_000_000 + number as u64 * 1_000_000,
            severity_number: 9,
            body: Some(text(format!("record {number}"))),
            attributes: vec![KeyValue {
                key: "record.number".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(number as i64)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(text(service.to_string())),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn post_protobuf(
    stack: &Stack,
    body: &[u8],
    gzipped: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = vec![("content-type", "application/x-protobuf")];
    if gzipped {
        headers.push(("content-encoding", "gzip"));
    }
    http_request(stack.aggregator.http, "POST", "/v1/logs", &headers, body)
}

async fn export_grpc(
    stack: &Stack,
    table: &str,
    request: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, tonic::Status> {
    export_grpc_with(stack, table, request, false).await
}

/// [`export_grpc`], the request gzip-compressed if `compressed`.
async fn export_grpc_with(
    stack: &Stack,
    table: &str,
    request: ExportLogsServiceRequest,
    compressed: bool,
) -> Result<ExportLogsServiceResponse, tonic::Status> {
    let mut client = LogsServiceClient::connect(format!("http://{}", stack.aggregator.flight))
        .await
        .expect("connect");
    if compressed {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("x-shoal-table", table.parse().expect("metadata"));
    client
        .export(request)
        .await
        .map(tonic::Response::into_inner)
}

#[test]
fn otlp_json_protobuf_and_grpc_are_stored_with_partial_success() {
    let mut stack = Stack::start(2);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // OTLP/JSON: the specification's example; the second record is rejected.
    let (status, answer) = stack.post(
        "/v1/logs",
        &[("content-type", "application/json")],
        SPEC_EXAMPLE.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], json!(1));
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("log record 2") && message.contains("\"int.attribute\" is integer"),
        "{message}"
    );
    let answer = stack.eventually(
        r#"SELECT count(*), min(trace_id), min(span_id), min(severity), min("map.attribute.some.map.key"),
                  min("int.attribute"), min("scope.name"), CAST(min(time) AS VARCHAR), min(body)
           FROM "my.service""#,
        json!(1),
    );
    assert_eq!(
        answer["rows"][0],
        json!([
            1,
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b174",
            "Information",
            "some value",
            10,
            "my.library",
            "2018-12-13T14:51:00.300Z",
            "Example log record"
        ])
    );

    // Protobuf, gzip-compressed, the way collectors send it.
    let body = request("pb-svc", 3).encode_to_vec();
    let (status, _, answer) = post_protobuf(&stack, &gzip(&body), true);
    assert_eq!(status, 200);
    let answer = ExportLogsServiceResponse::decode(answer.as_slice()).expect("protobuf answer");
    assert_eq!(answer.partial_success, None);
    stack.eventually(
        r#"SELECT count(*), sum("record.number") FROM "pb-svc""#,
        json!(3),
    );

    // A record whose body is sent twice: read in place, the request would
    // not mean what prost makes of it (the later body wins), so prost
    // decodes it and the rows are prost's.
    let mut record = LogRecord {
        time_unix_nano: 1_763_000_000_000_000_000,
        ..Default::default()
    }
    .encode_to_vec();
    for text in ["first", "second"] {
        let body = AnyValue {
            value: Some(any_value::Value::StringValue(text.into())),
        };
        prost::encoding::message::encode(5, &body, &mut record);
    }
    let mut scope = Vec::new();
    prost::encoding::bytes::encode(2, &record, &mut scope);
    let mut resource_logs = Vec::new();
    prost::encoding::bytes::encode(2, &scope, &mut resource_logs);
    let mut odd = Vec::new();
    prost::encoding::bytes::encode(1, &resource_logs, &mut odd);
    let (status, _, _) = post_protobuf(&stack, &odd, false);
    assert_eq!(status, 200);
    let answer = stack.eventually("SELECT count(*), min(body) FROM otel_logs", json!(1));
    assert_eq!(answer["rows"][0], json!([1, "second"]));

    // gRPC, the table named by metadata.
    let answer = runtime
        .block_on(export_grpc(&stack, "grpc_logs", request("ignored", 4)))
        .expect("export");
    assert_eq!(answer.partial_success, None);
    let answer = stack.eventually(
        "SELECT count(*), min(severity), max(\"record.number\") FROM grpc_logs",
        json!(4),
    );
    assert_eq!(answer["rows"][0], json!([4, "INFO", 3]));

    // Over the 64 MiB body limit, plain or only once decompressed:
    // INVALID_ARGUMENT naming the limit, which exporters do not retry.
    let mut huge = request("huge", 1);
    huge.resource_logs[0].scope_logs[0].log_records[0].body = Some(AnyValue {
        value: Some(any_value::Value::StringValue("x".repeat(65 << 20))),
    });
    for compressed in [false, true] {
        let refused = runtime
            .block_on(export_grpc_with(&stack, "huge", huge.clone(), compressed))
            .expect_err("over the limit");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused}");
        assert!(refused.message().contains("--max-body"), "{refused}");
    }

    // Not protobuf: 400 with a google.rpc.Status, not retried by exporters.
    let (status, _, answer) = post_protobuf(&stack, b"\xff\xff\xff not protobuf", false);
    assert_eq!(status, 400);
    let answer = RpcStatus::decode(answer.as_slice()).expect("status answer");
    assert_eq!(answer.code, tonic::Code::InvalidArgument as i32);
    assert!(answer.message.contains("protobuf"), "{}", answer.message);

    // No leaf: 503 with Retry-After over HTTP, UNAVAILABLE over gRPC; both
    // are retryable for OTLP exporters.
    for leaf in &mut stack.leaves {
        leaf.kill();
    }
    let (status, headers, _) = post_protobuf(&stack, &body, false);
    assert_eq!(status, 503);
    assert!(headers.iter().any(|(name, _)| name == "retry-after"));
    let refused = runtime
        .block_on(export_grpc(&stack, "grpc_logs", request("x", 1)))
        .expect_err("no leaf");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
}

#[test]
fn the_opentelemetry_python_sdk_exports_over_grpc_and_http() {
    let Some(python) = client_tool("SHOAL_PYTHON") else {
        return;
    };
    // The exporters send the token as `authorization: Bearer T`.
    let stack = SecuredStack::start(2, &[], &[]);
    let run = |protocol: &str, endpoint: String, service: &str, count: usize| -> String {
        let count = count.to_string();
        let printed = run_python(
            &python,
            "otel_client.py",
            &[protocol, &endpoint, service, &count, &stack.tokens.shipper],
        );
        let trace_id = printed
            .lines()
            .find_map(|line| line.strip_prefix("otel ok "))
            .unwrap_or_else(|| panic!("{printed}"));
        trace_id.trim().to_string()
    };
    let grpc_trace = run(
        "grpc",
        format!("http://{}", stack.aggregator.flight),
        "checkout",
        500,
    );
    let http_trace = run(
        "http",
        format!("http://{}", stack.aggregator.http),
        "storefront",
        300,
    );
    for (table, count, trace) in [
        ("checkout", 500, grpc_trace),
        ("storefront", 300, http_trace),
    ] {
        let answer = stack.eventually(
            &format!(
                r#"SELECT count(*), count(DISTINCT "request.number"), min(trace_id), max(trace_id),
                          sum(CASE WHEN severity = 'WARN' THEN 1 ELSE 0 END), min("service.name"),
                          min(body)
                   FROM {table}"#
            ),
            json!(count),
        );
        assert_eq!(
            answer["rows"][0],
            json!([
                count,
                count,
                trace,
                trace,
                count / 10,
                table,
                "request 0 done"
            ]),
            "{table}"
        );
    }
}

//! Every entry point × {no token, wrong token, token of another role or
//! table, right token}, against real leaves and an aggregator that require
//! a cluster secret and tokens; what a user token cannot reach between
//! tiers; and the refusal to listen beyond loopback without credentials.

mod common;

use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementIngest, CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo, HandshakeRequest, Ticket};
use common::secured::{SecuredStack, basic, bearer};
use common::*;
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use prost::Message;
use serde_json::{Value, json};
use std::sync::Arc;
use tonic::Code;
use tonic::metadata::MetadataValue;

/// One HTTP entry point: how to call it, and whether a token for other
/// tables is refused (403) or only sees less (200).
struct Entry {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    role: &'static str,
}

/// Ingest comes first, so the table exists when it is queried.
fn entries() -> Vec<Entry> {
    let otlp = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1763000000000000000", "body": {"stringValue": "hello"}}
    ]}]}]});
    vec![
        Entry {
            name: "ingest",
            method: "POST",
            path: "/api/v1/ingest/requests",
            content_type: "application/x-ndjson",
            body: b"{\"service\": \"a\", \"n\": 1}\n".to_vec(),
            role: "ingest",
        },
        Entry {
            name: "query",
            method: "POST",
            path: "/api/v1/query",
            content_type: "application/json",
            body: json!({"sql": "SELECT count(*) FROM requests"})
                .to_string()
                .into_bytes(),
            role: "read",
        },
        Entry {
            name: "_bulk",
            method: "POST",
            path: "/requests/_bulk",
            content_type: "application/x-ndjson",
            body: b"{\"index\": {}}\n{\"service\": \"b\", \"n\": 2}\n".to_vec(),
            role: "ingest",
        },
        Entry {
            name: "otlp http",
            method: "POST",
            path: "/v1/logs",
            content_type: "application/json",
            body: otlp.to_string().into_bytes(),
            role: "ingest",
        },
        Entry {
            name: "tables",
            method: "GET",
            path: "/api/v1/tables",
            content_type: "application/json",
            body: Vec::new(),
            role: "read",
        },
        Entry {
            name: "metrics",
            method: "GET",
            path: "/metrics",
            content_type: "application/json",
            body: Vec::new(),
            role: "read",
        },
    ]
}

fn call(stack: &SecuredStack, entry: &Entry, authorization: Option<&str>) -> (u16, Value) {
    let mut headers = vec![
        ("content-type", entry.content_type),
        ("x-shoal-table", "requests"),
    ];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    let (status, _, body) = http_request(
        stack.aggregator.http,
        entry.method,
        entry.path,
        &headers,
        &entry.body,
    );
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn every_http_entry_point_checks_the_token() {
    let stack = SecuredStack::start(2, &[], &[]);
    let tokens = &stack.tokens;
    for entry in entries() {
        let name = entry.name;
        let (status, answer) = call(&stack, &entry, None);
        assert_eq!(status, 401, "{name} without a token: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains("requires a token"),
            "{name}: {answer}"
        );
        let (status, answer) = call(&stack, &entry, Some(&bearer("shoal_wrong")));
        assert_eq!(status, 401, "{name} with a wrong token: {answer}");
        let (status, _) = call(&stack, &entry, Some("Digest nonsense"));
        assert_eq!(status, 401, "{name} with another scheme");
        let other_role = match entry.role {
            "read" => &tokens.writer,
            _ => &tokens.reader,
        };
        let (status, answer) = call(&stack, &entry, Some(&bearer(other_role)));
        assert_eq!(status, 403, "{name} with a token of another role: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains("may not"),
            "{name}: {answer}"
        );
        let right = match entry.role {
            "read" => &tokens.reader,
            _ => &tokens.writer,
        };
        let (status, answer) = call(&stack, &entry, Some(&bearer(right)));
        assert_eq!(status, 200, "{name} with the right token: {answer}");
        // Shippers only do Basic, with the token as the password.
        let (status, answer) = call(&stack, &entry, Some(&basic("shipper", right)));
        assert_eq!(status, 200, "{name} with Basic: {answer}");
        let admin = bearer(&tokens.admin);
        let (status, answer) = call(&stack, &entry, Some(&admin));
        assert_eq!(status, 200, "{name} with an admin token: {answer}");
    }
}

#[test]
fn table_globs_limit_what_a_token_reaches() {
    let stack = SecuredStack::start(2, &[], &[]);
    let tokens = &stack.tokens;
    let http = stack.aggregator.http;
    let ingest = |path: &str, token: &str| {
        let (status, _, body) = http_request(
            http,
            "POST",
            path,
            &[
                ("content-type", "application/x-ndjson"),
                ("authorization", &bearer(token)),
            ],
            b"{\"n\": 1}\n{\"n\": 2}\n",
        );
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    assert_eq!(ingest("/api/v1/ingest/requests", &tokens.writer).0, 200);
    assert_eq!(
        ingest("/api/v1/ingest/other_logs", &tokens.other_writer).0,
        200
    );
    let (status, answer) = ingest("/api/v1/ingest/other_logs", &tokens.writer);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("\"other_logs\""),
        "{answer}"
    );
    // _bulk answers item by item: the refused items say 403.
    let (status, _, body) = http_request(
        http,
        "POST",
        "/_bulk",
        &[
            ("content-type", "application/x-ndjson"),
            ("authorization", &bearer(&tokens.writer)),
        ],
        b"{\"index\": {\"_index\": \"requests\"}}\n{\"n\": 3}\n{\"index\": {\"_index\": \"other_logs\"}}\n{\"n\": 4}\n",
    );
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let statuses: Vec<u64> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["index"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 403], "{answer}");

    let query =
        |sql: &str, token: &str| http_query(http, sql, &[("authorization", &bearer(token))]);
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = query("SELECT count(*) FROM requests", &tokens.reader).1;
        if answer["rows"][0][0] == json!(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(answer["rows"][0][0], json!(3), "{answer}");
    let (status, answer) = query("SELECT count(*) FROM other_logs", &tokens.reader);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("\"other_logs\""),
        "{answer}"
    );
    // A join that reaches a forbidden table is refused whole.
    let (status, _) = query(
        "SELECT count(*) FROM requests r JOIN other_logs o ON r.n = o.n",
        &tokens.reader,
    );
    assert_eq!(status, 403);
    let (status, answer) = query("SELECT count(*) FROM other_logs", &tokens.other_reader);
    assert_eq!(
        (status, answer["rows"][0][0].clone()),
        (200, json!(2)),
        "{answer}"
    );
    // The catalog shows a token only its tables.
    let (_, _, body) = http_request(
        http,
        "GET",
        "/api/v1/tables",
        &[("authorization", &bearer(&tokens.reader))],
        b"",
    );
    let listed: Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = listed["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["requests"], "{listed}");
    let (status, answer) = query("SHOW TABLES", &tokens.reader);
    assert_eq!(status, 200);
    assert!(!answer.to_string().contains("other_logs"), "{answer}");

    // DROP TABLE: admins only; then the table is gone from every leaf.
    let (status, answer) = query("DROP TABLE other_logs", &tokens.other_reader);
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = query("DROP TABLE other_logs", &tokens.admin);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"][0], json!(["other_logs", 2, 2]), "{answer}");
    let (status, answer) = query("SELECT count(*) FROM other_logs", &tokens.admin);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("not found"),
        "{answer}"
    );
    for leaf in &stack.leaves {
        assert!(!leaf.data_dir.join("tables/other_logs").exists());
    }
}

async fn flight_client(stack: &SecuredStack) -> FlightServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(stack.aggregator.flight_endpoint())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    FlightServiceClient::new(channel)
}

fn with_auth<T>(message: T, authorization: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = authorization {
        let value: MetadataValue<_> = value.parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn flight_query(
    stack: &SecuredStack,
    sql: &str,
    authorization: Option<&str>,
) -> Result<FlightInfo, tonic::Status> {
    let command = CommandStatementQuery {
        query: sql.to_string(),
        transaction_id: None,
    };
    let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
    let mut client = flight_client(stack).await;
    client
        .get_flight_info(with_auth(descriptor, authorization))
        .await
        .map(|r| r.into_inner())
}

async fn flight_ingest(
    stack: &SecuredStack,
    table: &str,
    authorization: Option<&str>,
) -> Result<(), tonic::Status> {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
    let command = CommandStatementIngest {
        table: table.to_string(),
        ..Default::default()
    };
    let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
    let data = arrow_flight::encode::FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(descriptor))
        .build(futures::stream::iter([Ok(batch)]))
        .map(|item| item.expect("encode"));
    let mut client = flight_client(stack).await;
    let mut answers = client
        .do_put(with_auth(data, authorization))
        .await?
        .into_inner();
    while let Some(answer) = answers.next().await {
        answer?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn flight_sql_otlp_grpc_and_internal_calls_check_credentials() {
    let stack = tokio::task::spawn_blocking(|| SecuredStack::start(2, &[], &[]))
        .await
        .unwrap();
    let tokens = &stack.tokens;
    let sql = "SELECT count(*) FROM requests";

    // Flight SQL bulk ingest: ingest role and table.
    let code = |result: Result<(), tonic::Status>| result.err().map(|s| s.code());
    assert_eq!(
        code(flight_ingest(&stack, "requests", None).await),
        Some(Code::Unauthenticated)
    );
    let reader = bearer(&tokens.reader);
    let writer = bearer(&tokens.writer);
    let wrong = bearer("shoal_nope");
    assert_eq!(
        code(flight_ingest(&stack, "requests", Some(&wrong)).await),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(flight_ingest(&stack, "requests", Some(&reader)).await),
        Some(Code::PermissionDenied)
    );
    let other_writer = bearer(&tokens.other_writer);
    assert_eq!(
        code(flight_ingest(&stack, "requests", Some(&other_writer)).await),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(flight_ingest(&stack, "requests", Some(&writer)).await),
        None
    );

    // Flight SQL queries: read role and table.
    let code = |result: Result<FlightInfo, tonic::Status>| result.err().map(|s| s.code());
    assert_eq!(
        code(flight_query(&stack, sql, None).await),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(flight_query(&stack, sql, Some(&wrong)).await),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(flight_query(&stack, sql, Some(&writer)).await),
        Some(Code::PermissionDenied)
    );
    let other_reader = bearer(&tokens.other_reader);
    assert_eq!(
        code(flight_query(&stack, sql, Some(&other_reader)).await),
        Some(Code::PermissionDenied)
    );
    let mut answered = false;
    for _ in 0..50 {
        let info = flight_query(&stack, sql, Some(&reader))
            .await
            .expect("query");
        let completeness: Value = serde_json::from_slice(&info.app_metadata).unwrap();
        if info.total_records == 1 && completeness["leaves_answered"] == json!(2) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered);

    // Handshake: Basic with the token as password gives it back as a bearer.
    let mut client = flight_client(&stack).await;
    let handshake = futures::stream::iter([HandshakeRequest::default()]);
    let response = client
        .handshake(with_auth(
            handshake,
            Some(&basic("analyst", &tokens.reader)),
        ))
        .await
        .expect("handshake");
    let returned = response
        .metadata()
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(returned, bearer(&tokens.reader));
    let handshake = futures::stream::iter([HandshakeRequest::default()]);
    let refused = client
        .handshake(with_auth(handshake, Some(&basic("analyst", "shoal_wrong"))))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // OTLP gRPC: ingest role and table.
    let endpoint = stack.aggregator.flight_endpoint();
    let export = |authorization: Option<String>, table: &'static str| {
        let endpoint = endpoint.clone();
        async move {
            let mut client = LogsServiceClient::connect(endpoint).await.unwrap();
            let mut request = with_auth(
                ExportLogsServiceRequest::default(),
                authorization.as_deref(),
            );
            request
                .metadata_mut()
                .insert("x-shoal-table", table.parse().unwrap());
            client.export(request).await.err().map(|s| s.code())
        }
    };
    assert_eq!(export(None, "requests").await, Some(Code::Unauthenticated));
    assert_eq!(
        export(Some(reader.clone()), "requests").await,
        Some(Code::PermissionDenied)
    );
    assert_eq!(export(Some(writer.clone()), "requests").await, None);

    // Internal calls: a fragment ticket and the shoal.v1.Leaf service are
    // for Shoal's own processes, whatever user token comes with them.
    let fragment = shoal_proto::TicketRequest::Fragment(shoal_proto::FragmentRequest {
        plan: Vec::new(),
        deadline_millis: 1_000,
        query_id: "x".into(),
        as_of_micros: 0,
    });
    let admin = bearer(&tokens.admin);
    let ticket = Ticket {
        ticket: fragment.encode_ticket().into(),
    };
    let refused = client
        .do_get(with_auth(ticket.clone(), Some(&admin)))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    let mut child = shoal_proto::LeafClient::connect(stack.aggregator.flight_endpoint())
        .await
        .unwrap();
    let refused = child
        .status(with_auth(shoal_proto::StatusRequest {}, Some(&admin)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Leaves refuse every call without the cluster secret, and take it with.
    for leaf in &stack.leaves {
        let mut client = shoal_proto::LeafClient::connect(leaf.endpoint())
            .await
            .unwrap();
        let refused = client
            .status(with_auth(shoal_proto::StatusRequest {}, Some(&admin)))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
        let channel = tonic::transport::Channel::from_shared(leaf.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut flight = FlightServiceClient::new(channel);
        let refused = flight.do_get(ticket.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        let mut request = tonic::Request::new(shoal_proto::StatusRequest {});
        let secret = std::fs::read_to_string(&stack.secret_file).unwrap();
        request
            .metadata_mut()
            .insert("x-shoal-cluster-secret", secret.trim().parse().unwrap());
        let status = client
            .status(request)
            .await
            .expect("status with the secret");
        assert!(status.into_inner().ready);
    }
}

#[test]
fn the_python_adbc_driver_logs_in_with_a_password_and_with_a_bearer_header() {
    let Some(python) = client_tool("SHOAL_PYTHON") else {
        return;
    };
    let stack = SecuredStack::start(2, &[], &[]);
    let endpoint = format!("grpc://{}", stack.aggregator.flight);
    let printed = run_python(
        &python,
        "adbc_auth_client.py",
        &[&endpoint, &stack.tokens.writer, &stack.tokens.reader, ""],
    );
    assert!(printed.contains("adbc auth ok"), "{printed}");
}

#[test]
fn beyond_loopback_a_process_needs_credentials_or_insecure() {
    let dir = shm_tempdir();
    let refused = LeafProcess::try_start_on("0.0.0.0:0", dir.path(), &[]).err();
    let refused = refused.expect("a leaf on 0.0.0.0 without a secret must not start");
    assert!(refused.contains("--cluster-secret-file"), "{refused}");
    assert!(refused.contains("--insecure"), "{refused}");
    let leaf =
        LeafProcess::try_start_on("0.0.0.0:0", dir.path(), &["--insecure"]).expect("insecure leaf");

    let output = std::process::Command::new(shoal_binary())
        .args([
            "aggregator",
            "--flight",
            "127.0.0.1:0",
            "--http",
            "0.0.0.0:0",
            "--leaves",
        ])
        .arg(format!("127.0.0.1:{}", leaf.address.port()))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("without --auth-file"), "{printed}");
    assert!(printed.contains("--insecure"), "{printed}");
}

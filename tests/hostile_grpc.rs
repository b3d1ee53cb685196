//! Hostile gRPC calls to leaves and the aggregator: plan fragments outside
//! Shoal's own nodes (a CsvScan of /etc/passwd, an endless sort, a FINAL
//! aggregate, undecodable bytes), tickets that are not Shoal's, leaf scans
//! and ingests naming paths or carrying garbage, scan filters and Flight
//! SQL statements deep enough to exhaust a stack, forged Flight SQL
//! handles, statements that would write, and out of range deadlines.
//!
//! Each case asserts the exact gRPC code and a message naming what was
//! wrong (and that nothing of /etc/passwd came back), and after each one
//! every process is checked: the leaves are still running, and
//! `SELECT count(*)` through the aggregator answers with the expected count
//! from every leaf.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{
    ActionCreatePreparedStatementRequest, CommandPreparedStatementQuery, CommandStatementQuery,
    ProstMessageExt, TicketStatementQuery,
};
use arrow_flight::{Action, FlightDescriptor, Ticket};
use common::hostile::*;
use common::stack::Stack;
use common::*;
use datafusion_proto::protobuf::physical_plan_node::PhysicalPlanType;
use datafusion_proto::protobuf::{
    AggregateExecNode, AggregateMode, CsvScanExecNode, FileGroup, FileScanExecConf,
    GenerateSeriesArgsInt64, GenerateSeriesNode, PartitionedFile, PhysicalExtensionNode,
    PhysicalPlanNode, SortExecNode, generate_series_node,
};
use futures::TryStreamExt;
use prost::Message;
use serde_json::json;
use shoal_proto::{FragmentRequest, IngestRequest, TableScanNode, TicketRequest};
use tonic::Code;

/// Asserts a gRPC outcome is `code` with a message holding `needle`.
fn assert_grpc<T: std::fmt::Debug>(
    case: &str,
    outcome: Result<T, tonic::Status>,
    code: Code,
    needles: &[&str],
) {
    match outcome {
        Ok(value) => panic!("{case}: expected {code:?}, got an answer: {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{case}: {status:?}");
            for needle in needles {
                assert!(
                    status.message().contains(needle),
                    "{case}: {needle:?} is not in {:?}",
                    status.message()
                );
            }
        }
    }
}

async fn flight_client(endpoint: &str) -> FlightServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    FlightServiceClient::new(channel).max_decoding_message_size(256 << 20)
}

/// `DoGet` of raw ticket bytes: the rows and their text (so a test can
/// show that nothing of a file came back), or the status.
async fn do_get(endpoint: &str, ticket: Vec<u8>) -> Result<(usize, String), tonic::Status> {
    let mut client = flight_client(endpoint).await;
    let response = client.do_get(Ticket::new(ticket)).await?;
    let mut stream = response.into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.message().await? {
        messages.push(message);
    }
    let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
        futures::stream::iter(messages.into_iter().map(Ok)),
    )
    .try_collect()
    .await
    .map_err(|e| tonic::Status::internal(format!("the test could not decode: {e}")))?;
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((row_count(&batches), text))
}

/// `GetFlightInfo` of a Flight SQL command, with extra metadata.
async fn get_flight_info(
    endpoint: &str,
    command: Vec<u8>,
    metadata: &[(&'static str, &str)],
) -> Result<arrow_flight::FlightInfo, tonic::Status> {
    let mut client = flight_client(endpoint).await;
    let mut request = tonic::Request::new(FlightDescriptor::new_cmd(command));
    for (name, value) in metadata {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("metadata value"));
    }
    client
        .get_flight_info(request)
        .await
        .map(|r| r.into_inner())
}

/// A fragment ticket holding `plan`.
fn fragment_ticket(plan: Vec<u8>) -> Vec<u8> {
    TicketRequest::Fragment(FragmentRequest {
        plan,
        deadline_millis: 5_000,
        query_id: "hostile".to_string(),
        as_of_micros: 0,
    })
    .encode_ticket()
}

fn proto_schema(fields: Vec<Field>) -> datafusion_proto::protobuf::Schema {
    let schema = datafusion::arrow::datatypes::Schema::new(fields);
    (&schema).try_into().expect("schema to protobuf")
}

fn node(plan: PhysicalPlanType) -> PhysicalPlanNode {
    PhysicalPlanNode {
        physical_plan_type: Some(plan),
    }
}

/// A `CsvScan` of /etc/passwd, as complete as datafusion-proto describes
/// one, so nothing but the policy stops it.
fn csv_scan_of_etc_passwd() -> Vec<u8> {
    let size = std::fs::metadata("/etc/passwd").map_or(4096, |m| m.len());
    node(PhysicalPlanType::CsvScan(CsvScanExecNode {
        base_conf: Some(FileScanExecConf {
            file_groups: vec![FileGroup {
                files: vec![PartitionedFile {
                    path: "/etc/passwd".to_string(),
                    size,
                    ..Default::default()
                }],
            }],
            schema: Some(proto_schema(vec![Field::new("user", DataType::Utf8, true)])),
            object_store_url: "file://".to_string(),
            ..Default::default()
        }),
        has_header: false,
        delimiter: ":".to_string(),
        quote: "\"".to_string(),
        ..Default::default()
    }))
    .encode_to_vec()
}

/// `generate_series(0, i64::MAX)` under a `Sort`: a fragment that would
/// make a leaf sort 2^63 rows.
fn sorted_endless_series() -> Vec<u8> {
    let series = node(PhysicalPlanType::GenerateSeries(GenerateSeriesNode {
        schema: Some(proto_schema(vec![Field::new(
            "value",
            DataType::Int64,
            false,
        )])),
        target_batch_size: 8192,
        args: Some(generate_series_node::Args::Int64Args(
            GenerateSeriesArgsInt64 {
                start: 0,
                end: i64::MAX,
                step: 1,
                include_end: true,
                name: 0,
            },
        )),
    }));
    node(PhysicalPlanType::Sort(Box::new(SortExecNode {
        input: Some(Box::new(series)),
        fetch: -1,
        ..Default::default()
    })))
    .encode_to_vec()
}

/// How queries read a string column (what the aggregator sends).
fn string_column() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Shoal's own table scan node, naming `table`, of one column `user` typed
/// `user_type`.
fn table_scan(table: &str, user_type: DataType) -> PhysicalPlanNode {
    let scan = TableScanNode {
        table: table.to_string(),
        schema: proto_schema(vec![Field::new("user", user_type, true)]).encode_to_vec(),
        projection: None,
        filters: Vec::new(),
        limit: None,
    };
    node(PhysicalPlanType::Extension(PhysicalExtensionNode {
        node: scan.encode_to_vec(),
        inputs: Vec::new(),
    }))
}

/// A `FINAL` aggregate over a scan: leaves run partial aggregates only.
fn final_aggregate() -> Vec<u8> {
    node(PhysicalPlanType::Aggregate(Box::new(AggregateExecNode {
        mode: AggregateMode::Final as i32,
        input: Some(Box::new(table_scan("hostile", string_column()))),
        ..Default::default()
    })))
    .encode_to_vec()
}

// ---------------------------------------------------------------------------
// gRPC: plan fragments, leaf calls and Flight SQL
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refuses_hostile_fragments_tickets_and_handles() {
    let stack = Stack::start(2);
    // Ten rows on each leaf, so both hold the table.
    for leaf in &stack.leaves {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("n", DataType::Int64, false),
                Field::new("user", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(0..10)) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    (0..10).map(|i| format!("u{i}")),
                )),
            ],
        )
        .unwrap();
        ingest(&mut leaf.client().await, "hostile", &[batch])
            .await
            .expect("ingest");
    }
    stack.eventually("SELECT count(*) FROM hostile", json!(20));
    assert_alive(&stack, "seeding", "hostile", 20);
    let aggregator = stack.aggregator.flight_endpoint();
    let leaves: Vec<String> = stack.leaves.iter().map(|l| l.endpoint()).collect();

    // -- Plan fragments outside Shoal's own nodes, to a leaf and to the
    // aggregator's Flight port (which answers a parent's fragments).
    let fragments: [(&str, Vec<u8>, &str); 4] = [
        (
            "a CsvScan of /etc/passwd",
            csv_scan_of_etc_passwd(),
            "a CsvScan node",
        ),
        (
            "an endless GenerateSeries under a Sort",
            sorted_endless_series(),
            "a GenerateSeries node",
        ),
        (
            "an undecodable plan",
            b"\xff\xff\xff\xff\x0f".to_vec(),
            "not a physical plan",
        ),
        (
            "a FINAL aggregate",
            final_aggregate(),
            "an aggregate in mode",
        ),
    ];
    for (what, plan, named) in fragments {
        for (to, endpoint) in [("the leaf", &leaves[0]), ("the aggregator", &aggregator)] {
            let case = format!("{what}, sent to {to}");
            let outcome = do_get(endpoint, fragment_ticket(plan.clone())).await;
            if let Ok((_, text)) = &outcome {
                assert!(!leaks_passwd(text), "{case}: /etc/passwd came back");
            }
            assert_grpc(
                &case,
                outcome,
                Code::InvalidArgument,
                &["plan fragment refused", named],
            );
            assert_alive(&stack, &case, "hostile", 20);
        }
    }

    // A scan of a table named like a path finds nothing, and reads nothing.
    let case = "Shoal's scan node naming ../../../etc/passwd";
    let outcome = do_get(
        &leaves[0],
        fragment_ticket(table_scan("../../../etc/passwd", string_column()).encode_to_vec()),
    )
    .await;
    match &outcome {
        Ok((rows, text)) => {
            assert!(!leaks_passwd(text), "{case}: /etc/passwd came back");
            assert_eq!(*rows, 0, "{case}: {text}");
        }
        Err(status) => panic!("{case}: {status:?}"),
    }
    assert_alive(&stack, case, "hostile", 20);

    // A scan may ask only for the types Shoal's columns are read as: a
    // leaf makes nulls of the asked type for a column its rows lack, and
    // arrow panics on some (a dictionary keyed by text, found by fuzzing).
    let text_keyed = DataType::Dictionary(Box::new(DataType::Utf8), Box::new(DataType::Utf8));
    for (what, user_type) in [("plain text", DataType::Utf8), ("text-keyed", text_keyed)] {
        for (to, endpoint) in [("the leaf", &leaves[0]), ("the aggregator", &aggregator)] {
            let case = format!("a scan asking for a {what} column, sent to {to}");
            let plan = table_scan("logs", user_type.clone()).encode_to_vec();
            assert_grpc(
                &case,
                do_get(endpoint, fragment_ticket(plan)).await,
                Code::InvalidArgument,
                &["no Shoal column is read as"],
            );
            assert_alive(&stack, &case, "hostile", 20);
        }
    }

    // -- Tickets that are not Shoal's.
    let case = "a garbage ticket to a leaf";
    assert_grpc(
        case,
        do_get(&leaves[1], b"\xff\xfe\xfd garbage".to_vec()).await,
        Code::InvalidArgument,
        &["ticket is not a Shoal ticket"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a ticket of an unknown type to a leaf";
    let unknown = shoal_proto::Ticket {
        type_url: "type.googleapis.com/evil.Payload".to_string(),
        value: b"rm -rf /".to_vec(),
    }
    .encode_to_vec();
    assert_grpc(
        case,
        do_get(&leaves[1], unknown).await,
        Code::InvalidArgument,
        &["unknown ticket type \"type.googleapis.com/evil.Payload\""],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a leaf scan of table ../../../etc/passwd";
    let scan = TicketRequest::Scan(scan_request("../../../etc/passwd", &[], "")).encode_ticket();
    let outcome = do_get(&leaves[0], scan).await;
    if let Ok((_, text)) = &outcome {
        assert!(!leaks_passwd(text), "{case}: /etc/passwd came back");
    }
    assert_grpc(
        case,
        outcome,
        Code::InvalidArgument,
        &[
            "invalid table name \"../../../etc/passwd\"",
            "starts with a dot",
        ],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a leaf scan ticket sent to the aggregator";
    let scan = TicketRequest::Scan(scan_request("hostile", &[], "")).encode_ticket();
    assert_grpc(
        case,
        do_get(&aggregator, scan).await,
        Code::InvalidArgument,
        &["an aggregator answers plan fragments, not leaf scan requests"],
    );
    assert_alive(&stack, case, "hostile", 20);

    // -- The leaf's ingest call with bytes that are not Arrow IPC, and with
    // a table name that is a path.
    let mut leaf = stack.leaves[0].client().await;
    let case = "leaf ingest of bytes that are not Arrow IPC";
    let outcome = leaf
        .ingest(IngestRequest {
            table: "hostile".to_string(),
            arrow_ipc: b"\xff\xff\xff\xff\x10\x00\x00\x00garbage".to_vec().into(),
        })
        .await;
    assert_grpc(
        case,
        outcome,
        Code::InvalidArgument,
        &["the request's Arrow IPC stream for table \"hostile\" could not be read"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "leaf ingest into table ../escape";
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"])) as ArrayRef],
    )
    .unwrap();
    assert_grpc(
        case,
        ingest(&mut leaf, "../escape", &[batch]).await,
        Code::InvalidArgument,
        &["starts with a dot"],
    );
    assert_alive(&stack, case, "hostile", 20);

    // -- Flight SQL: forged handles, and statements that would write.
    let case = "a garbage prepared statement handle";
    let command = CommandPreparedStatementQuery {
        prepared_statement_handle: b"garbage".to_vec().into(),
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["not a Shoal prepared statement handle"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a handle whose SQL length runs past its end";
    let mut handle = b"SHOALPS1".to_vec();
    handle.extend_from_slice(&u32::MAX.to_le_bytes());
    handle.extend_from_slice(b"SELECT 1");
    let command = CommandPreparedStatementQuery {
        prepared_statement_handle: handle.into(),
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["not a Shoal prepared statement handle"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a handle with garbage parameters";
    let sql = b"SELECT count(*) FROM hostile WHERE n > $1";
    let mut handle = b"SHOALPS1".to_vec();
    handle.extend_from_slice(&(sql.len() as u32).to_le_bytes());
    handle.extend_from_slice(sql);
    handle.extend_from_slice(b"\xff\xff\xff\xff\x08\x00\x00\x00not arrow");
    let command = CommandPreparedStatementQuery {
        prepared_statement_handle: handle.into(),
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["bad parameters in handle"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let copied_to = unique_tmp_path("flight-copy.csv");
    let copy = format!(
        "COPY (SELECT 'x' AS a) TO '{}' STORED AS CSV",
        copied_to.display()
    );
    let case = "a forged handle carrying COPY";
    let mut handle = b"SHOALPS1".to_vec();
    handle.extend_from_slice(&(copy.len() as u32).to_le_bytes());
    handle.extend_from_slice(copy.as_bytes());
    let command = CommandPreparedStatementQuery {
        prepared_statement_handle: handle.into(),
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["COPY is not allowed"],
    );
    assert!(
        !copied_to.exists(),
        "{case}: {} exists",
        copied_to.display()
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "COPY as a Flight SQL statement";
    let command = CommandStatementQuery {
        query: copy.clone(),
        transaction_id: None,
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["COPY is not allowed"],
    );
    assert!(
        !copied_to.exists(),
        "{case}: {} exists",
        copied_to.display()
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "preparing an INSERT";
    let mut client = flight_client(&aggregator).await;
    let action = Action::new(
        "CreatePreparedStatement",
        ActionCreatePreparedStatementRequest {
            query: "INSERT INTO hostile (n) VALUES (1)".to_string(),
            transaction_id: None,
        }
        .as_any()
        .encode_to_vec(),
    );
    let outcome = match client.do_action(action).await {
        Ok(response) => response
            .into_inner()
            .try_collect::<Vec<_>>()
            .await
            .map(|results| results.len()),
        Err(status) => Err(status),
    };
    assert_grpc(case, outcome, Code::InvalidArgument, &["INSERT INTO"]);
    assert_alive(&stack, case, "hostile", 20);

    let case = "DoGet of a statement handle that was never issued";
    let ticket = TicketStatementQuery {
        statement_handle: b"0123456789abcdef".to_vec().into(),
    };
    assert_grpc(
        case,
        do_get(&aggregator, ticket.as_any().encode_to_vec()).await,
        Code::NotFound,
        &["no result for statement handle \"0123456789abcdef\""],
    );
    assert_alive(&stack, case, "hostile", 20);

    let select = CommandStatementQuery {
        query: "SELECT count(*) FROM hostile".to_string(),
        transaction_id: None,
    }
    .as_any()
    .encode_to_vec();
    let case = "x-shoal-deadline of 300000000000 years over gRPC";
    assert_grpc(
        case,
        get_flight_info(
            &aggregator,
            select.clone(),
            &[("x-shoal-deadline", "300000000000y")],
        )
        .await,
        Code::InvalidArgument,
        &["invalid deadline \"300000000000y\""],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "x-shoal-min-completeness of -1 over gRPC";
    assert_grpc(
        case,
        get_flight_info(
            &aggregator,
            select.clone(),
            &[("x-shoal-min-completeness", "-1")],
        )
        .await,
        Code::InvalidArgument,
        &["between 0 and 1"],
    );
    assert_alive(&stack, case, "hostile", 20);

    // A grpc-timeout too long for the protocol is ignored, not a panic: the
    // query is answered.
    let case = "a grpc-timeout of 12 digits";
    let info = get_flight_info(&aggregator, select, &[("grpc-timeout", "123456789012H")])
        .await
        .unwrap_or_else(|status| panic!("{case}: {status:?}"));
    assert_eq!(info.total_records, 1, "{case}");
    assert_alive(&stack, case, "hostile", 20);

    // -- Expressions deep enough to exhaust a stack. Regression: a scan
    // filter of a few thousand `+1` terms used to overflow the stack of a
    // Tokio worker and abort the leaf, and the same in a Flight SQL
    // statement used to abort the aggregator. SQL with more than 4,096
    // binary operators is now refused before anything parses it.
    let case = "a leaf scan whose filter is an expression of 5,000 terms";
    let filter = format!("n = 1{}", "+1".repeat(5_000));
    let scan = TicketRequest::Scan(scan_request("hostile", &[], &filter)).encode_ticket();
    assert_grpc(
        case,
        do_get(&leaves[1], scan).await,
        Code::InvalidArgument,
        &["the SQL holds", "operators, over the limit of 4096"],
    );
    assert_alive(&stack, case, "hostile", 20);

    let case = "a Flight SQL statement with an expression of 100,000 terms";
    let command = CommandStatementQuery {
        query: format!("SELECT 1{} FROM hostile", "+1".repeat(100_000)),
        transaction_id: None,
    };
    assert_grpc(
        case,
        get_flight_info(&aggregator, command.as_any().encode_to_vec(), &[]).await,
        Code::InvalidArgument,
        &["the SQL holds", "operators, over the limit of 4096"],
    );
    assert_alive(&stack, case, "hostile", 20);
}

/// A bulk ingest of `batch` into `table`, its IPC bodies compressed with
/// `compression` (or not): the number of answers, or the status.
async fn bulk_ingest(
    endpoint: &str,
    table: &str,
    batch: RecordBatch,
    compression: Option<arrow::ipc::CompressionType>,
) -> Result<usize, tonic::Status> {
    use arrow_flight::sql::CommandStatementIngest;
    use futures::StreamExt;
    let command = CommandStatementIngest {
        table: table.to_string(),
        ..Default::default()
    };
    let options = arrow::ipc::writer::IpcWriteOptions::default()
        .try_with_compression(compression)
        .expect("compression");
    let data = arrow_flight::encode::FlightDataEncoderBuilder::new()
        .with_options(options)
        .with_flight_descriptor(Some(FlightDescriptor::new_cmd(
            command.as_any().encode_to_vec(),
        )))
        .build(futures::stream::iter([Ok(batch)]))
        .map(|item| item.expect("encode"));
    let mut answers = flight_client(endpoint)
        .await
        .do_put(data)
        .await?
        .into_inner();
    let mut count = 0;
    while let Some(answer) = answers.next().await {
        answer?;
        count += 1;
    }
    Ok(count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bulk_ingest_bodies_are_refused_before_they_are_decoded() {
    let stack = Stack::start(1);
    let aggregator = stack.aggregator.flight_endpoint();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from_iter_values(0..1_000)) as ArrayRef],
    )
    .unwrap();
    for compression in [
        arrow::ipc::CompressionType::LZ4_FRAME,
        arrow::ipc::CompressionType::ZSTD,
    ] {
        assert_grpc(
            &format!("{compression:?} bodies"),
            bulk_ingest(&aggregator, "squeezed", batch.clone(), Some(compression)).await,
            Code::InvalidArgument,
            &["compressed Arrow IPC bodies"],
        );
    }
    // The same rows uncompressed are stored, and only they.
    bulk_ingest(&aggregator, "squeezed", batch, None)
        .await
        .expect("an uncompressed bulk ingest");
    stack.eventually("SELECT count(*) FROM squeezed", json!(1_000));
}

//! What Flight SQL clients rely on, against real processes: `?` and `:name`
//! parameters (also for a client that keeps its first handle), a missing
//! parameter named, GetSqlInfo's answers, column metadata and client types
//! in every schema, `DESCRIBE` / `information_schema`, and daily tables (a
//! Fluent Bit `Logstash_Format` stream of three days) read as one with
//! `shoal_tables('pattern')`.

mod common;

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetTables, CommandPreparedStatementQuery, ProstMessageExt, SqlInfo,
};
use arrow_flight::{FlightDescriptor, FlightInfo};
use common::stack::Stack;
use common::*;
use futures::TryStreamExt;
use prost::Message;
use serde_json::json;
use tonic::transport::Channel;

async fn connect(stack: &Stack) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(stack.aggregator.flight_endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    FlightSqlServiceClient::new(channel)
}

/// Every batch behind `info`'s first endpoint.
async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let stream = client.do_get(ticket).await.expect("do_get");
    stream.try_collect().await.expect("batches")
}

fn first_i64(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn parameter_batch(columns: &[(&str, &str)]) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, _)| Field::new(*name, DataType::Utf8, true))
        .collect();
    let arrays = columns
        .iter()
        .map(|(_, value)| Arc::new(StringArray::from(vec![*value])) as Arc<dyn Array>)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch")
}

fn load(stack: &Stack) {
    let mut rows = String::new();
    for i in 0..30 {
        let service = if i < 10 { "svc-api" } else { "svc-web" };
        rows.push_str(&format!(
            "{{\"service\": \"{service}\", \"latency\": {i}}}\n"
        ));
    }
    assert_eq!(
        stack
            .post("/api/v1/ingest/requests", &[], rows.as_bytes())
            .0,
        200
    );
    // The daily indices as Fluent Bit's `es` output sends them with
    // `Logstash_Format On`: one `_bulk` stream, the day in each `_index`.
    let mut bulk = String::new();
    for (day, count) in [("27", 5), ("28", 7), ("29", 9)] {
        for i in 0..count {
            bulk.push_str(&format!(
                "{{\"create\":{{\"_index\":\"logstash-2026.11.{day}\"}}}}\n"
            ));
            let level = if day == "29" {
                ",\"level\":\"warn\""
            } else {
                ""
            };
            bulk.push_str(&format!(
                "{{\"@timestamp\":\"2026-11-{day}T10:00:0{}.000Z\",\"message\":\"m{i}\"{level}}}\n",
                i % 10
            ));
        }
    }
    let (status, answer) = stack.post("/_bulk", &[], bulk.as_bytes());
    assert_eq!(
        (status, &answer["errors"]),
        (200, &json!(false)),
        "{answer}"
    );
    stack.eventually("SELECT count(*) FROM requests", json!(30));
    stack.eventually("SELECT count(*) FROM \"logstash-2026.11.29\"", json!(9));
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_bind_parameters_read_metadata_and_tables_by_pattern() {
    let stack = Stack::start(2);
    load(&stack);
    let mut client = connect(&stack).await;

    // `?`, as every SQLAlchemy dialect, JDBC and ODBC send it.
    let mut statement = client
        .prepare(
            "SELECT count(*) FROM requests WHERE service = ?".into(),
            None,
        )
        .await
        .expect("prepare");
    assert_eq!(
        statement.parameter_schema().expect("schema").fields().len(),
        1
    );
    statement
        .set_parameters(parameter_batch(&[("0", "svc-api")]))
        .expect("bind");
    let info = statement.execute().await.expect("execute");
    assert_eq!(first_i64(&fetch(&mut client, info).await), 10);

    // A client that binds and then keeps the handle it was first given.
    let prepared = client
        .prepare(
            "SELECT count(*) FROM requests WHERE service = ?".into(),
            None,
        )
        .await
        .expect("prepare");
    let dataset_schema = prepared.dataset_schema().expect("schema").clone();
    assert_eq!(dataset_schema.fields().len(), 1);
    let first_handle = {
        // The handle is private to the client's statement; ask again the
        // way an older client does: create, then reuse that handle.
        let action = arrow_flight::sql::ActionCreatePreparedStatementRequest {
            query: "SELECT count(*) FROM requests WHERE service = ?".into(),
            transaction_id: None,
        };
        let results = client
            .do_action(arrow_flight::Action::new(
                "CreatePreparedStatement",
                action.as_any().encode_to_vec(),
            ))
            .await
            .expect("create");
        let results: Vec<_> = results.try_collect().await.expect("results");
        let any = arrow_flight::sql::Any::decode(&*results[0].body).expect("any");
        let created: arrow_flight::sql::ActionCreatePreparedStatementResult =
            any.unpack().expect("unpack").expect("result");
        created.prepared_statement_handle
    };
    for (service, expected) in [("svc-web", 20), ("svc-api", 10)] {
        let command = CommandPreparedStatementQuery {
            prepared_statement_handle: first_handle.clone(),
        };
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        let batch = parameter_batch(&[("0", service)]);
        let data: Vec<_> = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(descriptor.clone()))
            .with_schema(batch.schema())
            .build(futures::stream::iter([Ok(batch)]))
            .try_collect()
            .await
            .expect("encode");
        let answers = client
            .do_put(futures::stream::iter(data))
            .await
            .expect("bind");
        let _: Vec<_> = answers.try_collect().await.expect("put results");
        // Not the handle DoPut answered with: the first one.
        let info = client
            .inner_mut()
            .get_flight_info(descriptor)
            .await
            .expect("info with the first handle")
            .into_inner();
        assert_eq!(
            first_i64(&fetch(&mut client, info).await),
            expected,
            "{service}"
        );
    }

    // `:name`, bound by the name of the parameter's column.
    let mut named = client
        .prepare(
            "SELECT count(*) FROM requests WHERE service = :s AND latency >= 5".into(),
            None,
        )
        .await
        .expect("prepare named");
    named
        .set_parameters(parameter_batch(&[("s", "svc-api")]))
        .expect("bind");
    let info = named.execute().await.expect("execute named");
    assert_eq!(first_i64(&fetch(&mut client, info).await), 5);

    // A placeholder without a value is named.
    let mut missing = client
        .prepare(
            "SELECT count(*) FROM requests WHERE service = ? AND latency > ?".into(),
            None,
        )
        .await
        .expect("prepare");
    missing
        .set_parameters(parameter_batch(&[("0", "svc-api")]))
        .expect("bind");
    let error = missing.execute().await.expect_err("one value for two");
    let text = error.to_string();
    assert!(
        text.contains("invalid argument") && text.contains("no value for parameter 2"),
        "{text}"
    );

    // One row of parameters, of bounded size, checked as it arrives.
    for (batch, needle) in [
        (
            parameter_batch(&[("0", &"x".repeat(300 * 1024))]),
            "over the 256 KiB",
        ),
        (
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("0", DataType::Utf8, true)])),
                vec![Arc::new(StringArray::from(vec!["a", "b"]))],
            )
            .expect("batch"),
            "more than one row of parameters",
        ),
    ] {
        let mut statement = client
            .prepare(
                "SELECT count(*) FROM requests WHERE service = ?".into(),
                None,
            )
            .await
            .expect("prepare");
        statement.set_parameters(batch).expect("bind");
        let text = statement.execute().await.expect_err("refused").to_string();
        assert!(text.contains(needle), "{text}");
    }

    // GetSqlInfo: what the flightsql-dbapi dialect and JDBC ask first.
    let info = client.get_sql_info(vec![]).await.expect("sql info");
    let all = fetch(&mut client, info).await;
    let ids = all.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(
        ids, 89,
        "every SqlInfo id of the spec but the two Substrait versions"
    );
    let info = client
        .get_sql_info(vec![SqlInfo::SqlIdentifierQuoteChar])
        .await
        .expect("504");
    let quote = fetch(&mut client, info).await;
    let shown = arrow::util::pretty::pretty_format_batches(&quote)
        .expect("format")
        .to_string();
    assert!(shown.contains("504") && shown.contains('"'), "{shown}");

    // GetTables with schemas: client types and Flight SQL column metadata.
    let info = client
        .get_tables(CommandGetTables {
            table_name_filter_pattern: Some("requests".into()),
            include_schema: true,
            ..Default::default()
        })
        .await
        .expect("tables");
    let tables = fetch(&mut client, info).await;
    let schema_bytes = tables[0]
        .column_by_name("table_schema")
        .expect("table_schema")
        .as_binary::<i32>()
        .value(0)
        .to_vec();
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(&schema_bytes).expect("schema");
    let service = schema.field_with_name("service").expect("service");
    assert_eq!(service.data_type(), &DataType::Utf8);
    let meta = |field: &Field, key: &str| {
        field
            .metadata()
            .get(&format!("ARROW:FLIGHT:SQL:{key}"))
            .cloned()
    };
    assert_eq!(meta(service, "TYPE_NAME").as_deref(), Some("VARCHAR"));
    assert_eq!(meta(service, "TABLE_NAME").as_deref(), Some("requests"));
    let latency = schema.field_with_name("latency").expect("latency");
    assert_eq!(meta(latency, "TYPE_NAME").as_deref(), Some("BIGINT"));
    let time = schema.field_with_name("time").expect("time");
    assert!(!time.is_nullable());
    assert!(
        meta(time, "TYPE_NAME")
            .expect("type")
            .starts_with("TIMESTAMP")
    );

    // A query's schema carries the same.
    let info = client
        .execute(
            "SELECT service, count(*) AS n FROM requests GROUP BY service".into(),
            None,
        )
        .await
        .expect("query");
    let schema: Schema = info.clone().try_decode_schema().expect("schema");
    let service = schema.field_with_name("service").expect("service");
    assert_eq!(service.data_type(), &DataType::Utf8);
    assert_eq!(meta(service, "TABLE_NAME").as_deref(), Some("requests"));
    assert_eq!(
        meta(schema.field_with_name("n").expect("n"), "TYPE_NAME").as_deref(),
        Some("BIGINT")
    );
    let batches = fetch(&mut client, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // DESCRIBE and information_schema say the type clients get.
    let (status, described) = http_query(stack.aggregator.http, "DESCRIBE requests", &[]);
    assert_eq!(status, 200, "{described}");
    let service_row = described["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row[0] == "service")
        .cloned()
        .expect("service row");
    assert_eq!(service_row[1], "Utf8", "{described}");
    let (status, columns) = http_query(
        stack.aggregator.http,
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'requests' AND column_name = 'service'",
        &[],
    );
    assert_eq!(
        (status, &columns["rows"]),
        (200, &json!([["Utf8"]])),
        "{columns}"
    );
    let (status, shown) = http_query(stack.aggregator.http, "SHOW TABLES", &[]);
    assert_eq!(status, 200, "{shown}");
    assert!(shown.to_string().contains("logstash-2026.11.28"), "{shown}");

    // Daily indices, read as one.
    let (status, by_day) = http_query(
        stack.aggregator.http,
        "SELECT _table, count(*) AS n, count(level) AS with_level FROM shoal_tables('logstash-*') GROUP BY _table ORDER BY _table",
        &[],
    );
    assert_eq!(status, 200, "{by_day}");
    assert_eq!(
        by_day["rows"],
        json!([
            ["logstash-2026.11.27", 5, 0],
            ["logstash-2026.11.28", 7, 0],
            ["logstash-2026.11.29", 9, 9]
        ]),
        "{by_day}"
    );
    assert_eq!(by_day["completeness"]["leaves_answered"], 2, "{by_day}");
    let (status, filtered) = http_query(
        stack.aggregator.http,
        "SELECT count(*) FROM shoal_tables('logstash-2026.11.2[78]') WHERE message IN ('m0', 'm6')",
        &[],
    );
    assert_eq!(
        (status, &filtered["rows"]),
        (200, &json!([[3]])),
        "{filtered}"
    );
    let (status, one_day) = http_query(
        stack.aggregator.http,
        "SELECT count(*) FROM shoal_tables('logstash-*') WHERE _table IN ('logstash-2026.11.28', 'nope')",
        &[],
    );
    assert_eq!(
        (status, &one_day["rows"]),
        (200, &json!([[7]])),
        "{one_day}"
    );
    let (status, explained) = http_query(
        stack.aggregator.http,
        "EXPLAIN SELECT count(*) FROM shoal_tables('logstash-*') WHERE _table = 'logstash-2026.11.28'",
        &[],
    );
    assert_eq!(status, 200, "{explained}");
    assert!(
        !explained.to_string().contains("UnionExec"),
        "one table is read: {explained}"
    );

    // Lists of strings come as lists of Utf8 over Flight SQL too.
    let info = client
        .execute(
            "SELECT array_agg(message ORDER BY message) AS m FROM \"logstash-2026.11.27\"".into(),
            None,
        )
        .await
        .expect("array_agg");
    let lists = fetch(&mut client, info).await;
    let shown = arrow::util::pretty::pretty_format_batches(&lists)
        .expect("format")
        .to_string();
    assert!(shown.contains("[m0, m1, m2, m3, m4]"), "{shown}");

    let (status, none) = http_query(
        stack.aggregator.http,
        "SELECT count(*) FROM shoal_tables('nothing-*')",
        &[],
    );
    assert_eq!(status, 400, "{none}");
    assert!(
        none["error"]
            .as_str()
            .expect("error")
            .contains("no table matches"),
        "{none}"
    );

    // `/api/v1/tables` groups daily tables and says how SQL names them.
    let (status, _, body) = http_request(stack.aggregator.http, "GET", "/api/v1/tables", &[], b"");
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        listed["groups"],
        json!([{
            "label": "logstash-*",
            "pattern": "logstash-[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]",
            "sql_name": "shoal_tables('logstash-[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]')",
            "tables": ["logstash-2026.11.27", "logstash-2026.11.28", "logstash-2026.11.29"]
        }]),
        "{listed}"
    );
    let sql_names: Vec<&str> = listed["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["sql_name"].as_str())
        .collect();
    assert!(sql_names.contains(&"requests"), "{listed}");
    assert!(sql_names.contains(&"\"logstash-2026.11.29\""), "{listed}");
}

//! The Arrow Flight SQL front end: statements, prepared statements with
//! parameters, catalog calls, bulk ingest, and the Shoal tickets that make
//! this aggregator usable as another aggregator's child.
//!
//! A query runs when its `FlightInfo` is asked for, so its completeness is
//! known before any data is sent and goes everywhere a client may look:
//!
//! | client reads                  | where                                     |
//! |-------------------------------|-------------------------------------------|
//! | ADBC (`last_flight_info`)     | `FlightInfo.app_metadata` (JSON)          |
//! | Grafana's Flight SQL plugin   | `DoGet` response headers `x-shoal-*`      |
//! | pyarrow.flight                | app_metadata of the last data message     |
//! | any gRPC client               | trailers `x-shoal-*` ([`crate::trailers`]) |
//!
//! Results wait in a small cache until their `DoGet` (or for five minutes).
//! Prepared statements are in [`prepared`], `GetSqlInfo`'s answers in
//! [`sql_info`]; every schema sent carries the Flight SQL column metadata
//! and the types the client receives ([`crate::client_types`]).

pub mod prepared;
pub mod sql_info;

pub use prepared::{Handle, decode_handle, encode_handle};

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::SqlInfoData;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementIngest, CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use prost::Message;
use shoal_proto::TicketRequest;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::grpc_layer::caller_of;
use crate::auth::{Caller, Role, credentials};
use crate::child::{run_fragment, subtree_completeness};
use crate::client_types::{ColumnSource, with_flight_metadata};
use crate::completeness::Completeness;
use crate::error::Result;
use crate::flight_sql::prepared::{BoundParameters, Parameter, new_handle, parameter_row};
use crate::ingest::state::IngestState;
use crate::ingest::store::{admit_batch, store_admitted};
use crate::metrics::Metrics;
use crate::query::{QueryEngine, QueryOptions, QueryOutcome};
use crate::trailers::ExtraTrailers;

const CATALOG: &str = "datafusion";
const SCHEMA: &str = "public";
const RESULT_TTL: Duration = Duration::from_secs(300);
const MAX_CACHED_RESULTS: usize = 256;
/// Bytes of results waiting for their `DoGet`, at most; the oldest go first.
const MAX_CACHED_BYTES: usize = 1024 * 1024 * 1024;
/// Batches of one bulk ingest sent to leaves at once.
const INGEST_CONCURRENCY: usize = 4;

/// Stores a bulk ingest's `batches` in `table`, returning the rows stored.
/// Batches are admitted in stream order, one waiting for room at a time (a
/// stream never waits against itself, and is not read while it waits), then
/// stored [`INGEST_CONCURRENCY`] at once. Everything is owned, so the
/// future is `'static`: with borrowed arguments the async blocks' lifetimes
/// do not satisfy the `Send` the Flight SQL service's futures need.
fn store_stream(
    state: IngestState,
    caller: Caller,
    table: String,
    batches: futures::stream::BoxStream<'static, Result<RecordBatch, Status>>,
) -> futures::future::BoxFuture<'static, Result<u64, Status>> {
    let admitted = {
        let (state, caller, table) = (state.clone(), caller.clone(), table.clone());
        batches.and_then(move |batch| {
            let (state, caller, table) = (state.clone(), caller.clone(), table.clone());
            async move {
                let room = admit_batch(&state, &caller, &table, &batch)
                    .await
                    .map_err(Status::from)?;
                Ok((batch, room))
            }
        })
    };
    admitted
        .map_ok(move |(batch, room)| {
            let (state, table) = (state.clone(), table.clone());
            async move {
                store_admitted(&state, &table, &batch, room)
                    .await
                    .map_err(Status::from)
            }
        })
        .try_buffer_unordered(INGEST_CONCURRENCY)
        .try_fold(0, |total, rows| async move { Ok(total + rows) })
        .boxed()
}

type FlightDataStream = Pin<Box<dyn Stream<Item = std::result::Result<FlightData, Status>> + Send>>;

/// The Flight SQL service of an aggregator.
#[derive(Clone)]
pub struct FlightSqlFrontEnd {
    engine: QueryEngine,
    ingest: IngestState,
    metrics: Arc<Metrics>,
    results: Arc<Mutex<HashMap<String, (Instant, QueryOutcome)>>>,
    sql_info: Arc<SqlInfoData>,
    bound: Arc<BoundParameters>,
}

impl FlightSqlFrontEnd {
    pub fn new(engine: QueryEngine, ingest: IngestState, metrics: Arc<Metrics>) -> Result<Self> {
        Ok(Self {
            engine,
            ingest,
            metrics,
            results: Arc::default(),
            sql_info: Arc::new(sql_info::sql_info()?),
            bound: Arc::default(),
        })
    }

    /// Runs a query and keeps its result for `DoGet`; the `FlightInfo` says
    /// where to fetch it and how complete it is.
    async fn run_to_flight_info(
        &self,
        sql: &str,
        metadata: &MetadataMap,
        parameters: Vec<Parameter>,
        descriptor: FlightDescriptor,
        caller: Caller,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let mut options = QueryOptions::from_headers(&metadata.clone().into_headers())?;
        options.parameters = parameters;
        let owner = caller.name().to_string();
        options.caller = Some(caller);
        let outcome = self.engine.run(sql, options).await;
        self.metrics.observe(&outcome);
        let outcome = with_column_metadata(outcome?)?;
        // Random, not the query id (logs and children see that), and kept
        // under the caller's name: another token cannot fetch it.
        let handle = format!("{:032x}", rand::random::<u128>());
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into(),
        };
        let rows: usize = outcome.batches.iter().map(|b| b.num_rows()).sum();
        let completeness = outcome.completeness;
        let info = FlightInfo::new()
            .try_with_schema(&outcome.schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor)
            .with_total_records(rows as i64)
            .with_app_metadata(Bytes::from(completeness.to_json()));
        self.store_result(result_key(&owner, &handle), outcome);
        let mut response = Response::new(info);
        add_headers(response.metadata_mut(), &completeness);
        Ok(response)
    }

    fn store_result(&self, handle: String, outcome: QueryOutcome) {
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.retain(|_, (stored, _)| stored.elapsed() < RESULT_TTL);
        let size = |outcome: &QueryOutcome| -> usize {
            outcome
                .batches
                .iter()
                .map(|b| b.get_array_memory_size())
                .sum()
        };
        let incoming = size(&outcome);
        let mut held: usize = results.values().map(|(_, o)| size(o)).sum();
        while results.len() >= MAX_CACHED_RESULTS || held + incoming > MAX_CACHED_BYTES {
            let oldest = results
                .iter()
                .min_by_key(|(_, (stored, _))| *stored)
                .map(|(key, _)| key.clone());
            let Some((_, evicted)) = oldest.and_then(|key| results.remove(&key)) else {
                break;
            };
            held -= size(&evicted);
        }
        results.insert(handle, (Instant::now(), outcome));
    }

    fn take_result(
        &self,
        caller: &Caller,
        handle: &[u8],
    ) -> std::result::Result<QueryOutcome, Status> {
        let handle = String::from_utf8_lossy(handle).to_string();
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results
            .remove(&result_key(caller.name(), &handle))
            .map(|(_, outcome)| outcome)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no result for statement handle {handle:?}: it was fetched already or expired"
                ))
            })
    }
}

/// Where a result waits: its handle under the name of the caller who ran it.
fn result_key(owner: &str, handle: &str) -> String {
    format!("{owner}\u{0}{handle}")
}

fn add_headers(metadata: &mut MetadataMap, completeness: &Completeness) {
    let mut headers = std::mem::take(metadata).into_headers();
    headers.extend(completeness.headers());
    *metadata = MetadataMap::from_headers(headers);
}

/// The result as Flight data: completeness in the headers, in the
/// app_metadata of the last data message, and in the trailers.
fn result_response(
    outcome: QueryOutcome,
) -> std::result::Result<Response<FlightDataStream>, Status> {
    let completeness = outcome.completeness;
    let mut batches = outcome.batches;
    if batches.is_empty() {
        // A data message must exist to carry the completeness.
        batches.push(RecordBatch::new_empty(outcome.schema.clone()));
    }
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(outcome.schema.clone())
        .build(futures::stream::iter(batches.into_iter().map(Ok)));
    let json = Bytes::from(completeness.to_json());
    let stream = async_stream_with_last_metadata(encoded, json);
    let mut response = Response::new(stream);
    add_headers(response.metadata_mut(), &completeness);
    response
        .extensions_mut()
        .insert(ExtraTrailers(completeness.headers()));
    Ok(response)
}

/// Sets `metadata` as the app_metadata of the last message of `encoded`.
fn async_stream_with_last_metadata(
    encoded: impl Stream<Item = std::result::Result<FlightData, FlightError>> + Send + 'static,
    metadata: Bytes,
) -> FlightDataStream {
    let collected = async move {
        let mut messages: Vec<FlightData> = encoded
            .try_collect()
            .await
            .map_err(|e| Status::internal(format!("encoding the result: {e}")))?;
        if let Some(last) = messages.last_mut() {
            last.app_metadata = metadata;
        }
        Ok::<_, Status>(messages)
    };
    futures::stream::once(collected)
        .map(|messages| match messages {
            Ok(messages) => futures::stream::iter(messages.into_iter().map(Ok)).boxed(),
            Err(status) => futures::stream::iter([Err(status)]).boxed(),
        })
        .flatten()
        .boxed()
}

fn encode_schema(schema: &Schema) -> std::result::Result<Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(message.0)
}

/// The batches of a `DoPut`, ending with an error where arrow's decoder
/// would panic (arrow-ipc panics on some malformed schemas, and the bytes
/// are the client's).
fn decoded_put(
    request: Request<PeekableFlightDataStream>,
) -> impl futures::Stream<Item = std::result::Result<RecordBatch, FlightError>> {
    let data = request
        .into_inner()
        .map_err(FlightError::from)
        .map(|data| data.and_then(uncompressed));
    let decoded = FlightRecordBatchStream::new_from_flight_data(data);
    shoal_contract::panic_guard::until_panic(decoded, |_| {
        FlightError::ProtocolError("the Arrow stream cannot be decoded".to_string())
    })
}

/// `data`, refused when its Arrow buffers are compressed (LZ4 or ZSTD): a
/// compressed buffer's decompressed length is whatever the sender wrote,
/// and arrow allocates it at once, before the ingest buffer sees the
/// batch's size, so a message of a few bytes could ask for terabytes and
/// abort the process. gRPC's own compression of the stream is fine.
fn uncompressed(data: FlightData) -> std::result::Result<FlightData, FlightError> {
    if data.data_header.is_empty() {
        return Ok(data);
    }
    let message = arrow::ipc::root_as_message(&data.data_header)
        .map_err(|error| FlightError::ProtocolError(format!("bad IPC message header: {error}")))?;
    let compressed = shoal_contract::ipc::is_compressed(&message);
    if compressed {
        return Err(FlightError::ProtocolError(format!(
            "{} (gRPC may compress the stream)",
            shoal_contract::ipc::COMPRESSED
        )));
    }
    Ok(data)
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlFrontEnd {
    type FlightService = FlightSqlFrontEnd;

    /// The gRPC layer has checked the credentials (Basic with the token as
    /// password, or Bearer); the answer hands the token back as a bearer
    /// token, which ADBC and JDBC then send on every call.
    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<
        Response<
            Pin<Box<dyn Stream<Item = std::result::Result<HandshakeResponse, Status>> + Send>>,
        >,
        Status,
    > {
        let token = credentials(&request.metadata().clone().into_headers())?;
        let response = HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::new(),
        };
        let mut response = Response::new(futures::stream::iter([Ok(response)]).boxed());
        if let Some(token) = token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            response.metadata_mut().insert("authorization", value);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let metadata = request.metadata().clone();
        let caller = caller_of(&request);
        self.run_to_flight_info(
            &query.query,
            &metadata,
            Vec::new(),
            request.into_inner(),
            caller,
        )
        .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = caller_of(&request);
        caller.require(Role::Read)?;
        result_response(self.take_result(&caller, &ticket.statement_handle)?)
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> std::result::Result<ActionCreatePreparedStatementResult, Status> {
        let caller = caller_of(&request);
        caller.require(Role::Read)?;
        if crate::query::dropped_table(&query.query).is_some() {
            // ADBC prepares every statement, pandas' `to_sql(...,
            // if_exists="replace")` a `DROP TABLE` too: it runs (for an
            // admin) when executed.
            return Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: new_handle(&query.query)?,
                dataset_schema: encode_schema(&crate::query::drop_table_schema())?,
                parameter_schema: encode_schema(&Schema::empty())?,
            });
        }
        let plan = self.engine.plan(&query.query, &caller).await?;
        let sources = crate::query::column_sources(&plan, self.engine.fleet(), &caller);
        let dataset_schema = with_flight_metadata(plan.schema().as_arrow(), &sources);
        let parameter_schema = parameter_schema(&plan)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: new_handle(&query.query)?,
            dataset_schema: encode_schema(&dataset_schema)?,
            parameter_schema: encode_schema(&parameter_schema)?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> std::result::Result<(), Status> {
        let caller = caller_of(&request);
        if let Ok(Handle { id: Some(id), .. }) = decode_handle(&query.prepared_statement_handle) {
            self.bound.close(caller.name(), id);
        }
        Ok(())
    }

    /// Binds parameters: they go into the new handle returned, and are kept
    /// here too for clients that go on using the handle they had.
    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<DoPutPreparedStatementResult, Status> {
        let caller = caller_of(&request);
        caller.require(Role::Read)?;
        let handle =
            decode_handle(&query.prepared_statement_handle).map_err(Status::invalid_argument)?;
        let (row, bytes) = parameter_put(request).await?;
        let row = row.as_ref();
        let parameters = match row {
            Some(row) => parameter_row(row).map_err(Status::invalid_argument)?,
            None => Vec::new(),
        };
        let id = handle.id.unwrap_or_else(rand::random::<u128>);
        self.bound.bind(caller.name(), id, parameters, bytes);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(encode_handle(id, &handle.sql, row)?),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let handle =
            decode_handle(&query.prepared_statement_handle).map_err(Status::invalid_argument)?;
        let metadata = request.metadata().clone();
        let caller = caller_of(&request);
        let parameters = match (handle.parameters.is_empty(), handle.id) {
            (true, Some(id)) => self.bound.get(caller.name(), id).unwrap_or_default(),
            _ => handle.parameters,
        };
        self.run_to_flight_info(
            &handle.sql,
            &metadata,
            parameters,
            request.into_inner(),
            caller,
        )
        .await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        metadata_flight_info(query.as_any(), &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        caller_of(&request).require(Role::Read)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        batch_response(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        metadata_flight_info(query.as_any(), &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        caller_of(&request).require(Role::Read)?;
        let mut builder = query.into_builder();
        builder.append(CATALOG, SCHEMA);
        batch_response(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        metadata_flight_info(query.as_any(), &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = caller_of(&request);
        caller.require(Role::Read)?;
        let mut builder = query.into_builder();
        for (name, view) in self.engine.fleet().tables() {
            if !caller.sees_table(&name) {
                continue;
            }
            let table = crate::remote_table::RemoteTable::new(&name, &view);
            let schema = datafusion::datasource::TableProvider::schema(&table);
            let source = ColumnSource {
                catalog: Some(CATALOG.to_string()),
                schema: Some(SCHEMA.to_string()),
                table: Some(name.clone()),
            };
            let schema = with_flight_metadata(&schema, &vec![source; schema.fields().len()]);
            builder
                .append(CATALOG, SCHEMA, &name, "TABLE", &schema)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        batch_response(builder.build())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        metadata_flight_info(query.as_any(), &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        caller_of(&request).require(Role::Read)?;
        let mut builder = query.into_builder();
        builder.append("TABLE");
        batch_response(builder.build())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        metadata_flight_info(query.as_any(), &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        caller_of(&request).require(Role::Read)?;
        batch_response(query.into_builder(&self.sql_info).build())
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        use arrow_flight::sql::{TableExistsOption, TableNotExistOption};
        let table = command.table.clone();
        let caller = caller_of(&request);
        caller.require_table(Role::Ingest, &table)?;
        let exists = self.engine.fleet().table(&table).is_some();
        let mut replace = false;
        if let Some(options) = command.table_definition_options {
            if exists && options.if_exists == TableExistsOption::Fail as i32 {
                return Err(Status::already_exists(format!("table {table:?} exists")));
            }
            if exists && options.if_exists == TableExistsOption::Replace as i32 {
                // pandas' `to_sql(if_exists="replace")`, ADBC's mode
                // "replace": the table is dropped (an admin's right, as
                // `DROP TABLE`), then the rows make it anew.
                caller.require_table(Role::Admin, &table).map_err(|_| {
                    Status::permission_denied(format!(
                        "replacing table {table:?} drops it first, which needs an admin token; append to it instead (pandas: if_exists=\"append\", ADBC: mode=\"append\")"
                    ))
                })?;
                replace = true;
            }
            if !exists && options.if_not_exist == TableNotExistOption::Fail as i32 {
                return Err(Status::not_found(format!("table {table:?} does not exist")));
            }
        }
        let mut batches = decoded_put(request)
            .map_err(|e| Status::invalid_argument(format!("bad ingest stream: {e}")))
            .boxed();
        if replace {
            // Not before the first rows (or the stream's clean end) are
            // here: a stream that breaks first leaves the table as it was.
            // Not atomic: a failure after the drop leaves what was loaded.
            let first = batches.next().await.transpose()?;
            let dropped = self.engine.fleet().drop_table(&table).await?;
            tracing::info!(
                table,
                caller = caller.name(),
                rows = dropped.rows_dropped,
                "table dropped to be replaced by a bulk ingest"
            );
            batches = futures::stream::iter(first.map(Ok)).chain(batches).boxed();
        }
        let rows =
            store_stream(self.ingest.clone(), caller.clone(), table.clone(), batches).await?;
        Ok(rows as i64)
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> std::result::Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        caller_of(&request).require_cluster()?;
        let request = TicketRequest::decode_any(&message.type_url, &message.value)
            .map_err(Status::invalid_argument)?;
        let TicketRequest::Fragment(fragment) = request else {
            return Err(Status::invalid_argument(
                "an aggregator answers plan fragments, not leaf scan requests",
            ));
        };
        let running = run_fragment(&self.engine, fragment).await?;
        let query = running.query.clone();
        let stream = shoal_contract::flight_answer::encode_batches(running.stream, move || {
            Some(subtree_completeness(&query))
        });
        Ok(Response::new(stream))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn metadata_flight_info(
    command: Any,
    schema: &Schema,
    descriptor: FlightDescriptor,
) -> std::result::Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(command.encode_to_vec())))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn batch_response(
    batch: std::result::Result<RecordBatch, FlightError>,
) -> std::result::Result<Response<FlightDataStream>, Status> {
    let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(batch.schema())
        .build(futures::stream::iter([Ok(batch)]))
        .map_err(|e| Status::internal(e.to_string()));
    Ok(Response::new(stream.boxed()))
}

/// The outcome with its schema as Flight SQL clients are told it: client
/// types and column metadata, on the schema and on every batch.
fn with_column_metadata(outcome: QueryOutcome) -> std::result::Result<QueryOutcome, Status> {
    let schema = with_flight_metadata(&outcome.schema, &outcome.sources);
    let batches = outcome
        .batches
        .iter()
        .map(|batch| RecordBatch::try_new(schema.clone(), batch.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Status::internal(format!("result schema: {e}")))?;
    Ok(QueryOutcome {
        schema,
        batches,
        ..outcome
    })
}

/// The parameters a prepared statement takes: `$1`, `$2`, ... in order,
/// then named ones by name, with the types the planner inferred (strings
/// where it could not).
fn parameter_schema(
    plan: &datafusion::logical_expr::LogicalPlan,
) -> std::result::Result<Schema, Status> {
    let mut parameters: Vec<(Option<usize>, String, DataType)> = plan
        .get_parameter_types()
        .map_err(|e| Status::invalid_argument(e.to_string()))?
        .into_iter()
        .map(|(id, data_type)| {
            let name = id.trim_start_matches('$').to_string();
            let data_type =
                data_type.map_or(DataType::Utf8, |t| crate::client_types::client_type(&t));
            (name.parse().ok(), name, data_type)
        })
        .collect();
    parameters.sort_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
    Ok(Schema::new(
        parameters
            .into_iter()
            .map(|(position, name, data_type)| {
                let name = match position {
                    Some(position) => format!("${position}"),
                    None => name,
                };
                Field::new(name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The one row of parameters a `DoPut` binds (none for an empty stream),
/// in the types clients receive (a dictionary-encoded value is sent as its
/// value), and its size. The stream is checked as it arrives: a second row
/// or more than [`prepared::MAX_PARAMETER_BYTES`] ends it with an error.
async fn parameter_put(
    request: Request<PeekableFlightDataStream>,
) -> std::result::Result<(Option<RecordBatch>, usize), Status> {
    let mut batches = std::pin::pin!(decoded_put(request));
    let (mut row, mut rows, mut bytes) = (None, 0usize, 0usize);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| Status::invalid_argument(format!("bad parameters: {e}")))?;
        rows += batch.num_rows();
        bytes += batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add);
        if rows > 1 {
            return Err(Status::invalid_argument(
                "more than one row of parameters was bound: Shoal runs a query with one row of parameters at a time",
            ));
        }
        if bytes > prepared::MAX_PARAMETER_BYTES {
            return Err(Status::invalid_argument(format!(
                "the bound parameters are over the {} KiB a statement may keep",
                prepared::MAX_PARAMETER_BYTES >> 10
            )));
        }
        if batch.num_rows() == 1 {
            row = Some(client_batch(&batch)?);
        }
    }
    Ok((row, bytes))
}

/// `batch` with the types clients receive (see [`crate::client_types`]).
fn client_batch(batch: &RecordBatch) -> std::result::Result<RecordBatch, Status> {
    let schema = Arc::new(crate::client_types::client_schema(&batch.schema()));
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Status::invalid_argument(format!("bad parameters: {e}")))?;
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Status::invalid_argument(format!("bad parameters: {e}")))
}

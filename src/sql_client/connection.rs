//! One Arrow Flight SQL connection to an aggregator: statements and the
//! table catalog (`GetTables` with schemas), nothing about printing.
//!
//! ```text
//!   execute(sql) ──GetFlightInfo──► aggregator runs the query
//!        ◄── FlightInfo { schema, ticket, app_metadata: completeness JSON }
//!   do_get(ticket) ──DoGet──► Arrow batches
//! ```
//!
//! Every call carries the token (`authorization: Bearer T`) and the
//! `x-shoal-*` headers of the flags.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightInfo, IpcMessage};
use futures::TryStreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::args::ConnectionSettings;
use super::error::SqlClientError;
use super::summary::{Completeness, from_app_metadata};

/// Largest message accepted from the server; an answer may be up to
/// 256 MiB (the aggregator's own cap), sent as one or more messages.
const MAX_MESSAGE_BYTES: usize = 512 << 20;
/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to one statement.
#[derive(Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// `None` when the server sent no Shoal completeness.
    pub completeness: Option<Completeness>,
    /// From sending the statement to the last batch received.
    pub elapsed: Duration,
}

impl Answer {
    /// Rows over every batch.
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A table as `GetTables` describes it.
#[derive(Debug, Clone)]
pub struct TableDescription {
    pub name: String,
    pub columns: Vec<FieldRef>,
}

/// A Flight SQL client of one aggregator.
#[derive(Debug, Clone)]
pub struct Connection {
    client: FlightSqlServiceClient<Channel>,
}

impl Connection {
    /// Connects (TLS for `https://`), failing at once when the server
    /// cannot be reached.
    pub async fn connect(settings: &ConnectionSettings) -> Result<Self, SqlClientError> {
        let connect_error = |reason: String| SqlClientError::Connect {
            uri: settings.uri.clone(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(settings.uri.clone())
            .map_err(|e| connect_error(error_chain(&e)))?
            .connect_timeout(CONNECT_TIMEOUT)
            // A connection that died silently (a NAT, a lost server) is
            // noticed in under a minute instead of waited on forever.
            .http2_keep_alive_interval(std::time::Duration::from_secs(20))
            .keep_alive_timeout(std::time::Duration::from_secs(20))
            .keep_alive_while_idle(true);
        if settings.uri.starts_with("https://") {
            let tls = match &settings.tls_ca {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_enabled_roots(),
            };
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| connect_error(error_chain(&e)))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| connect_error(error_chain(&e)))?;
        let inner = FlightServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let mut client = FlightSqlServiceClient::new_from_inner(inner);
        if let Some(token) = &settings.token {
            client.set_token(token.clone());
        }
        for (name, value) in &settings.headers {
            client.set_header(*name, value.clone());
        }
        Ok(Self { client })
    }

    /// Runs one request (a query, possibly after `SET`s) and fetches its
    /// whole answer.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, SqlClientError> {
        let started = Instant::now();
        let info = self
            .client
            .execute(sql.to_string(), None)
            .await
            .map_err(SqlClientError::from_flight)?;
        let completeness = from_app_metadata(&info.app_metadata);
        let (declared_schema, batches) = self.fetch(info).await?;
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .or(declared_schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        Ok(Answer {
            schema,
            batches,
            completeness,
            elapsed: started.elapsed(),
        })
    }

    /// Every table the token may see, with its columns.
    pub async fn tables(&mut self) -> Result<Vec<TableDescription>, SqlClientError> {
        let info = self
            .client
            .get_tables(CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: None,
                table_name_filter_pattern: None,
                table_types: Vec::new(),
                include_schema: true,
            })
            .await
            .map_err(SqlClientError::from_flight)?;
        let (_, batches) = self.fetch(info).await?;
        let mut tables = Vec::new();
        for batch in &batches {
            tables.extend(describe_tables(batch)?);
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tables)
    }

    /// The batches of every endpoint of `info`, and the schema it declares.
    async fn fetch(
        &mut self,
        info: FlightInfo,
    ) -> Result<(Option<SchemaRef>, Vec<RecordBatch>), SqlClientError> {
        let declared_schema = if info.schema.is_empty() {
            None
        } else {
            Some(Arc::new(decode_schema(
                &info.schema,
                "the answer's schema",
            )?))
        };
        let mut batches = Vec::new();
        // Shoal answers with one endpoint on the same server; an endpoint
        // naming other locations is read here too, which Shoal never sends.
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let stream = self
                .client
                .do_get(ticket)
                .await
                .map_err(SqlClientError::from_flight)?;
            // The bytes are the server's: arrow-ipc panics on some
            // malformed ones, and that ends the answer with an error.
            let mut stream = std::pin::pin!(shoal_leaf::panic_guard::until_panic(stream, |_| {
                arrow_flight::error::FlightError::ProtocolError(
                    "the answer's Arrow data cannot be decoded".to_string(),
                )
            }));
            while let Some(batch) = stream
                .try_next()
                .await
                .map_err(SqlClientError::from_flight)?
            {
                batches.push(batch);
            }
        }
        Ok((declared_schema, batches))
    }
}

/// The rows of one `GetTables` batch (`table_name`, `table_schema`).
fn describe_tables(batch: &RecordBatch) -> Result<Vec<TableDescription>, SqlClientError> {
    let missing = |column: &str| SqlClientError::Answer(format!("GetTables sent no {column}"));
    let names = batch
        .column_by_name("table_name")
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| missing("table_name"))?;
    let schemas = batch
        .column_by_name("table_schema")
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| missing("table_schema"))?;
    let mut tables = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let name = names.value(row).to_string();
        let schema = decode_schema(schemas.value(row), &format!("the schema of table {name}"))?;
        tables.push(TableDescription {
            name,
            columns: schema.fields().iter().cloned().collect(),
        });
    }
    Ok(tables)
}

/// An error and its sources on one line: tonic's transport errors say
/// "transport error" and keep the useful part ("Connection refused") below.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A schema the server sent, as an Arrow IPC message; `what` names it in
/// the error. arrow-ipc panics on some malformed schemas: that is an error
/// here too.
fn decode_schema(bytes: &[u8], what: &str) -> Result<Schema, SqlClientError> {
    let message = IpcMessage(bytes.to_vec().into());
    std::panic::catch_unwind(|| Schema::try_from(message))
        .unwrap_or_else(|_| {
            Err(arrow::error::ArrowError::IpcError(
                "malformed schema".to_string(),
            ))
        })
        .map_err(|e| SqlClientError::Answer(format!("{what}: {e}")))
}

//! The engines a query runs on: plain DataFusion over the rows in memory
//! (with the functions Shoal registers in every session, so both sides mean
//! the same by `date_trunc` or `approx_percentile_cont`), and a Shoal
//! aggregator through Flight SQL, whose answer must also say every leaf
//! answered.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use prost::Message;
use tonic::transport::Channel;

use super::data;

/// Plain DataFusion over the same rows, one partition per leaf's share.
pub fn plain_datafusion() -> SessionContext {
    let context = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    shoal_contract::functions::register_functions(&context);
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); 4];
    for chunk in 0..data::CHUNKS {
        let (_, full) = data::logs_chunk(chunk);
        partitions[data::LEAF_OF_CHUNK[chunk]].push(full);
    }
    partitions.retain(|p| !p.is_empty());
    let logs = MemTable::try_new(data::logs_schema(), partitions).expect("logs");
    context
        .register_table("logs", Arc::new(logs))
        .expect("logs");
    for (name, batch) in [("teams", data::teams()), ("sparse", data::sparse())] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).expect("table");
        context
            .register_table(name, Arc::new(table))
            .expect("table");
    }
    context
}

/// Runs `sql` on plain DataFusion.
pub async fn run_plain(context: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let frame = context.sql(sql).await.map_err(|e| e.to_string())?;
    frame.collect().await.map_err(|e| e.to_string())
}

/// A Shoal aggregator's Flight SQL endpoint.
pub struct Shoal {
    client: FlightServiceClient<Channel>,
}

impl Shoal {
    pub async fn connect(endpoint: &str) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        Self {
            client: FlightServiceClient::new(channel).max_decoding_message_size(256 << 20),
        }
    }

    /// Runs `sql`; an answer that left a leaf out is an error too.
    pub async fn run(&mut self, sql: &str) -> Result<Vec<RecordBatch>, String> {
        let command = CommandStatementQuery {
            query: sql.to_string(),
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        let info: FlightInfo = self
            .client
            .get_flight_info(descriptor)
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner();
        let ticket = info
            .endpoint
            .first()
            .and_then(|e| e.ticket.clone())
            .ok_or("no ticket")?;
        let response = self
            .client
            .do_get(ticket)
            .await
            .map_err(|e| e.message().to_string())?;
        let queried = header(response.metadata(), "x-shoal-leaves-queried");
        let mut stream = response.into_inner();
        let mut messages = Vec::new();
        while let Some(message) = stream
            .message()
            .await
            .map_err(|e| e.message().to_string())?
        {
            messages.push(message);
        }
        let trailers = stream
            .trailers()
            .await
            .map_err(|e| e.message().to_string())?
            .ok_or("no trailers")?;
        let answered = header(&trailers, "x-shoal-leaves-answered");
        let rows_ratio = header(&trailers, "x-shoal-rows-ratio");
        if queried != answered || rows_ratio.parse::<f64>().ok() != Some(1.0) {
            return Err(format!(
                "incomplete: {answered} of {queried} leaves answered, rows ratio {rows_ratio}"
            ));
        }
        FlightRecordBatchStream::new_from_flight_data(futures::stream::iter(
            messages.into_iter().map(Ok),
        ))
        .try_collect()
        .await
        .map_err(|e| e.to_string())
    }
}

fn header(map: &tonic::metadata::MetadataMap, name: &str) -> String {
    map.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("missing")
        .to_string()
}

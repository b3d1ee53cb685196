//! `shoal sql`: a terminal client of an aggregator over Arrow Flight SQL,
//! as ClickHouse, DuckDB and InfluxDB ship one.
//!
//! ```text
//! shoal sql 'SELECT ...'        one request, its answer, exit status 0 or 1
//! shoal sql                     a prompt on a terminal (repl)
//! shoal sql < queries.sql       the statements of a pipe, one after another (script)
//!            │
//!            ▼
//!        Session ── Connection ──Flight SQL──► aggregator
//!            │
//!            ▼
//!        output: table | csv | json | ndjson, then the summary line
//!        "3 rows in 12 ms · 4/4 leaves answered · rows 100.0%"
//! ```
//!
//! | file | owns |
//! | --- | --- |
//! | `args` | flags, checked before connecting |
//! | `connection` | the Flight SQL calls: statements and `GetTables` |
//! | `summary` | the completeness JSON and the summary line |
//! | `output` | the formats |
//! | `statements` | where statements end (`;` outside quotes and comments) |
//! | `commands` | `\d`, `\d TABLE`, `\q`, `\?` |
//! | `session` | what the three modes share |
//! | `repl`, `completion`, `spinner` | the prompt |
//! | `script` | statements from a pipe |
//!
//! It owns nothing of the server: completeness, deadlines and minimums are
//! the aggregator's, asked for with the `x-shoal-*` request headers.

mod args;
mod commands;
mod completion;
mod connection;
mod error;
mod output;
mod repl;
mod script;
mod session;
mod spinner;
mod statements;
mod summary;

use std::io::IsTerminal;

pub use args::SqlArgs;
pub use error::SqlClientError;

use connection::Connection;
use session::Session;

/// Runs `shoal sql` with `args` until its query, prompt or script ends.
pub async fn run(args: SqlArgs) -> Result<(), SqlClientError> {
    match run_to_end(args).await {
        // The reader went away (`shoal sql ... | head -1`): not an error.
        Err(SqlClientError::Output(message)) if message.contains("Broken pipe") => Ok(()),
        other => other,
    }
}

async fn run_to_end(args: SqlArgs) -> Result<(), SqlClientError> {
    let options = args.into_options()?;
    let connection = Connection::connect(&options.connection).await?;
    let mut session = Session::new(connection, options.format);
    if let Some(query) = options.query {
        // Sent as typed: the server reads any `SET`s before its query, and
        // its error positions refer to this text.
        return session.run_request(&query).await;
    }
    let runtime = tokio::runtime::Handle::current();
    let interactive = std::io::stdin().is_terminal();
    // The line editor and standard input block: off the runtime's workers.
    tokio::task::spawn_blocking(move || {
        if interactive {
            repl::run_prompt(&runtime, session)
        } else {
            script::run_script(&runtime, session, std::io::stdin().lock())
        }
    })
    .await
    .map_err(|e| SqlClientError::Terminal(e.to_string()))?
}

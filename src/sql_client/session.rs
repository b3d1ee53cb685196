//! What the one-shot query, the prompt and a piped script share: a
//! connection, the output format, and the tables last listed (for `\d` and
//! completion).

use std::io::Write;

use super::commands::{BackslashCommand, HELP, table_listing, tables_listing};
use super::connection::{Answer, Connection, TableDescription};
use super::error::SqlClientError;
use super::output::{OutputFormat, print_answer, write_rows};

/// Whether to go on reading statements after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// One client session against one aggregator.
#[derive(Debug)]
pub struct Session {
    connection: Connection,
    format: OutputFormat,
    tables: Vec<TableDescription>,
}

impl Session {
    pub fn new(connection: Connection, format: OutputFormat) -> Self {
        Self {
            connection,
            format,
            tables: Vec::new(),
        }
    }

    /// Runs one request and returns its answer, printing nothing.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, SqlClientError> {
        self.connection.query(sql).await
    }

    /// Prints `answer` in the session's format (rows on standard output,
    /// the summary line where [`print_answer`] puts it).
    pub fn print(&self, answer: &Answer) -> Result<(), SqlClientError> {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        print_answer(answer, self.format, &mut out, &mut err)
    }

    /// Runs one request and prints its answer.
    pub async fn run_request(&mut self, sql: &str) -> Result<(), SqlClientError> {
        let answer = self.query(sql).await?;
        self.print(&answer)
    }

    /// Lists the tables again (`GetTables` with their schemas).
    pub async fn refresh_tables(&mut self) -> Result<&[TableDescription], SqlClientError> {
        self.tables = self.connection.tables().await?;
        Ok(&self.tables)
    }

    /// The tables as last listed.
    pub fn tables(&self) -> &[TableDescription] {
        &self.tables
    }

    /// Runs a backslash command; `\d` lists the tables afresh.
    pub async fn run_command(
        &mut self,
        command: &BackslashCommand,
    ) -> Result<Flow, SqlClientError> {
        let listing = match command {
            BackslashCommand::Quit => return Ok(Flow::Quit),
            BackslashCommand::Help => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{HELP}").map_err(|e| SqlClientError::Output(e.to_string()))?;
                return Ok(Flow::Continue);
            }
            BackslashCommand::ListTables => tables_listing(self.refresh_tables().await?)?,
            BackslashCommand::DescribeTable(name) => {
                table_listing(self.refresh_tables().await?, name)?
            }
        };
        let mut out = std::io::stdout().lock();
        write_rows(&listing.schema(), &[listing], self.format, &mut out)?;
        Ok(Flow::Continue)
    }
}

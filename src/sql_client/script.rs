//! Statements piped into `shoal sql` (standard input not a terminal): read
//! line by line, each statement run as soon as its `;` arrives, as
//! `psql -f` would. Backslash commands work on lines of their own. The
//! first error stops the script, so a shell sees it in the exit status; a
//! last statement without `;` runs at the end of the input. A `SET` applies
//! to the next query (it travels with it).

use std::io::BufRead;

use tokio::runtime::Handle;

use super::commands::BackslashCommand;
use super::error::SqlClientError;
use super::session::{Flow, Session};
use super::statements::{PendingSets, split_statements};

/// Runs every statement of `input`, stopping at the first error.
pub fn run_script(
    runtime: &Handle,
    mut session: Session,
    input: impl BufRead,
) -> Result<(), SqlClientError> {
    let mut statement = String::new();
    let mut pending_sets = PendingSets::default();
    for line in input.lines() {
        let line = line?;
        if statement.trim().is_empty() && line.trim_start().starts_with('\\') {
            statement.clear();
            let command = BackslashCommand::parse(&line)?;
            match runtime.block_on(session.run_command(&command))? {
                Flow::Quit => return Ok(()),
                Flow::Continue => continue,
            }
        }
        statement.push_str(&line);
        statement.push('\n');
        let split = split_statements(&statement);
        if !split.is_complete() {
            continue;
        }
        statement.clear();
        for statement in split.statements {
            if let Some(request) = pending_sets.request_for(statement) {
                runtime.block_on(session.run_request(&request))?;
            }
        }
    }
    let split = split_statements(&statement);
    let mut statements = split.statements;
    if split.rest_has_code {
        statements.push(split.rest.trim().to_string());
    }
    for statement in statements {
        if let Some(request) = pending_sets.request_for(statement) {
            runtime.block_on(session.run_request(&request))?;
        }
    }
    for set in pending_sets.waiting() {
        eprintln!("shoal: not sent, no query after it: {set}");
    }
    Ok(())
}

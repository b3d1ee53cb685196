//! The prompt of `shoal sql` on a terminal, as `psql`, `duckdb` and
//! `clickhouse client` have one.
//!
//! ```text
//! shoal> SELECT service, count(*)        ← a statement runs once a line ends with ';'
//!    ...> FROM requests GROUP BY 1;      ← continuation lines
//! ⠋ running… 0.4 s                        ← on stderr while it runs, then erased
//! +---------+----------+
//! ...
//! 3 rows in 412 ms · 4/4 leaves answered · rows 100.0%
//! ```
//!
//! - The whole statement is one history entry (multi-line ones too), kept
//!   in `$SHOAL_HISTORY` or else `~/.shoal_history`, appended after every
//!   entry so two prompts at once both keep theirs.
//! - Tab completes table and column names ([`super::completion`]).
//! - A `SET` applies to the next query only (it is sent with it: the
//!   server keeps no session).
//! - Ctrl-C clears the statement being typed, or gives up waiting for a
//!   running query; Ctrl-D or `\q` quits. Errors are printed and the prompt
//!   goes on.
//!
//! The line editor blocks, so this runs on a blocking thread and drives
//! each query on the runtime through its [`Handle`].

use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};
use tokio::runtime::Handle;

use super::commands::BackslashCommand;
use super::completion::NameCompleter;
use super::error::SqlClientError;
use super::session::{Flow, Session};
use super::spinner::Spinner;
use super::statements::{PendingSets, split_statements};

const PROMPT: &str = "shoal> ";
const CONTINUATION_PROMPT: &str = "   ...> ";
const MAX_HISTORY_ENTRIES: usize = 10_000;

/// Runs the prompt until `\q`, Ctrl-D, or a terminal error.
pub fn run_prompt(runtime: &Handle, mut session: Session) -> Result<(), SqlClientError> {
    let terminal_error = |e: ReadlineError| SqlClientError::Terminal(e.to_string());
    // Completion works without the catalog, so a failure only warns.
    if let Err(error) = runtime.block_on(session.refresh_tables()) {
        eprintln!("shoal: table names will not complete: {error}");
    }
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(MAX_HISTORY_ENTRIES)
        .map_err(terminal_error)?
        .history_ignore_dups(true)
        .map_err(terminal_error)?
        .build();
    let mut editor: Editor<NameCompleter, FileHistory> =
        Editor::with_config(config).map_err(terminal_error)?;
    editor.set_helper(Some(NameCompleter::new(session.tables())));
    let mut history = History::open(&mut editor);
    println!("Statements end with ';'. \\d lists tables, \\? helps, \\q quits.");

    let mut statement = String::new();
    let mut pending_sets = PendingSets::default();
    loop {
        let prompt = if statement.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                statement.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(terminal_error(error)),
        };
        if statement.is_empty() && line.trim_start().starts_with('\\') {
            history.add(&mut editor, line.trim());
            match run_command(runtime, &mut session, &mut editor, &line) {
                Flow::Quit => break,
                Flow::Continue => continue,
            }
        }
        if !statement.is_empty() {
            statement.push('\n');
        }
        statement.push_str(&line);
        let split = split_statements(&statement);
        if !split.is_complete() {
            continue;
        }
        history.add(&mut editor, statement.trim());
        statement.clear();
        for statement in split.statements {
            match pending_sets.request_for(statement) {
                Some(request) => run_request(runtime, &mut session, &request),
                None => eprintln!("SET: applies to the next query"),
            }
        }
    }
    Ok(())
}

/// Runs a query with the spinner; Ctrl-C stops waiting for it.
fn run_request(runtime: &Handle, session: &mut Session, sql: &str) {
    let spinner = Spinner::start();
    let outcome = runtime.block_on(async {
        tokio::select! {
            answer = session.query(sql) => Some(answer),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    drop(spinner);
    let printed = match outcome {
        None => {
            eprintln!("cancelled");
            return;
        }
        Some(answer) => answer.and_then(|answer| session.print(&answer)),
    };
    if let Err(error) = printed {
        eprintln!("error: {error}");
    }
}

/// Runs a backslash command; after `\d` the completion names are renewed.
fn run_command(
    runtime: &Handle,
    session: &mut Session,
    editor: &mut Editor<NameCompleter, FileHistory>,
    line: &str,
) -> Flow {
    let outcome = BackslashCommand::parse(line)
        .and_then(|command| runtime.block_on(session.run_command(&command)));
    if let Some(completer) = editor.helper_mut() {
        completer.set_tables(session.tables());
    }
    match outcome {
        Ok(flow) => flow,
        Err(error) => {
            eprintln!("error: {error}");
            Flow::Continue
        }
    }
}

/// The history file, when there is one to keep.
struct History {
    path: Option<PathBuf>,
    warned: bool,
}

impl History {
    /// Loads `$SHOAL_HISTORY` or `~/.shoal_history` when it exists.
    fn open(editor: &mut Editor<NameCompleter, FileHistory>) -> Self {
        let path = std::env::var_os("SHOAL_HISTORY")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| PathBuf::from(home).join(".shoal_history"))
            });
        if let Some(path) = &path
            && path.exists()
            && let Err(error) = editor.load_history(path)
        {
            eprintln!(
                "shoal: cannot read the history in {}: {error}",
                path.display()
            );
        }
        Self {
            path,
            warned: false,
        }
    }

    /// Adds `entry` and appends it to the file at once.
    fn add(&mut self, editor: &mut Editor<NameCompleter, FileHistory>, entry: &str) {
        if entry.is_empty() {
            return;
        }
        let _ = editor.add_history_entry(entry);
        let Some(path) = &self.path else {
            return;
        };
        if let Err(error) = editor.append_history(path)
            && !self.warned
        {
            eprintln!(
                "shoal: cannot write the history to {}: {error}",
                path.display()
            );
            self.warned = true;
        }
    }
}

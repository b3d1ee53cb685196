//! Errors of `shoal sql`: what went wrong between the terminal and the
//! server, with the server's own words when it was the server that refused.

use std::path::PathBuf;

/// What can stop a `shoal sql` statement or session.
#[derive(Debug, thiserror::Error)]
pub enum SqlClientError {
    /// A flag's value makes no sense.
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },

    /// A file named by a flag could not be read.
    #[error("cannot read {flag} {path}: {source}")]
    UnreadableFile {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// No connection to the server could be made.
    #[error("cannot connect to {uri}: {reason}")]
    Connect { uri: String, reason: String },

    /// The server refused or failed the request; `message` is what it said
    /// (for bad SQL it names the line and column).
    #[error("{message}")]
    Server { message: String },

    /// The server's answer could not be read.
    #[error("reading the answer: {0}")]
    Answer(String),

    /// Writing the answer out failed (a closed pipe, say).
    #[error("writing the answer: {0}")]
    Output(String),

    /// The terminal line editor failed.
    #[error("terminal: {0}")]
    Terminal(String),

    /// A backslash command that does not exist, or a table `\d` cannot find.
    #[error("{0}")]
    Command(String),

    /// Reading statements from standard input failed.
    #[error("reading standard input: {0}")]
    Input(#[from] std::io::Error),
}

impl SqlClientError {
    /// From an Arrow Flight error: the gRPC status message when the server
    /// sent one, so the user reads the server's sentence and not a wrapper.
    pub fn from_flight(error: arrow_flight::error::FlightError) -> Self {
        use arrow_flight::error::FlightError;
        match error {
            FlightError::Tonic(status) => Self::from_status(&status),
            FlightError::Arrow(arrow) => Self::Answer(arrow.to_string()),
            other => Self::Answer(other.to_string()),
        }
    }

    /// From a gRPC status.
    pub fn from_status(status: &tonic::Status) -> Self {
        let message = status.message();
        let message = if message.is_empty() {
            format!("the server answered {:?}", status.code())
        } else {
            message.to_string()
        };
        Self::Server { message }
    }
}

//! The `shoal` command line: wires the leaf and aggregator crates into
//! processes. It owns argument parsing and process set-up, nothing else.

mod cli;
mod demo;
mod error;
mod fleet_cli;
mod fleet_drain;
mod fleet_roll;
mod gossip_flags;
mod huge_pages;
mod local;
mod security_flags;
mod sql_client;
mod token;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

// Ingest decoding and query execution allocate many small objects; mimalloc
// took the NDJSON decoding bench from 91.7 ms to 53.5 ms (glibc malloc spent
// much of its time consolidating freed chunks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Logs go to stderr, filtered by `SHOAL_LOG`: as text, coloured only when
/// stderr is a terminal (and `NO_COLOR` is unset), so files and journald
/// get no escape codes; or as JSON, one object per line.
fn init_logging(format: cli::LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
            builder
                .with_ansi(std::io::stderr().is_terminal() && !no_color)
                .init();
        }
        cli::LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
}

fn main() -> ExitCode {
    // Before the allocator's memory is touched much; see `huge_pages`.
    let thp_result = huge_pages::turn_off();
    let cli = cli::Cli::parse();
    init_logging(cli.log_format);
    if let Err(error) = thp_result {
        tracing::info!(
            %error,
            "transparent huge pages stay as the kernel has them (a fresh server's first ingest is slower)"
        );
    }
    // Deep expressions recurse in DataFusion; see `shoal_leaf::sql_guard`.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(shoal_leaf::sql_guard::THREAD_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("shoal: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shoal: {error}");
            ExitCode::FAILURE
        }
    }
}

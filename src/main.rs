//! The `shoal` command line: wires the leaf and aggregator crates into
//! processes. It owns argument parsing and process set-up, nothing else.

mod cli;
mod demo;
mod error;
mod local;
mod security_flags;
mod token;

use std::process::ExitCode;

use clap::Parser;

// Ingest decoding and query execution allocate many small objects; mimalloc
// took the NDJSON decoding bench from 91.7 ms to 53.5 ms (glibc malloc spent
// much of its time consolidating freed chunks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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

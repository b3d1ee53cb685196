//! `shoal token create`: adds a token to a token file and prints its
//! secret once, alone on the last line of the output.

use std::path::PathBuf;

use shoal_aggregator::auth::Role;
use shoal_aggregator::auth::tokens::create_token;

use crate::error::CliError;

/// `shoal token ...`
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown once, never stored).
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The token file aggregators read with --auth-file (created if missing).
    #[arg(long)]
    auth_file: PathBuf,
    /// A name for the token, unique in the file (shows in logs and errors).
    #[arg(long)]
    name: String,
    /// read (queries), ingest (writes) or admin (both, and DROP TABLE).
    #[arg(long)]
    role: String,
    /// Tables the token reaches, as globs (`logs_*,requests`); all if omitted.
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
}

impl TokenCommand {
    pub fn run(self) -> Result<(), CliError> {
        match self {
            TokenCommand::Create(args) => {
                let role = Role::parse(&args.role).ok_or_else(|| CliError::InvalidFlag {
                    flag: "--role",
                    value: args.role.clone(),
                    reason: "one of read, ingest, admin".to_string(),
                })?;
                let secret = create_token(&args.auth_file, &args.name, role, &args.tables)
                    .map_err(CliError::Internal)?;
                let tables = match args.tables.is_empty() {
                    true => "every table".to_string(),
                    false => format!("tables {}", args.tables.join(", ")),
                };
                println!(
                    "token {:?} ({role}, {tables}) added to {}; its secret, shown only now:",
                    args.name,
                    args.auth_file.display()
                );
                println!("{secret}");
                Ok(())
            }
        }
    }
}

//! A fleet started the way it runs on a network: a token file, a cluster
//! secret shared by leaves and aggregator, optionally TLS.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{AggregatorProcess, LeafProcess, shm_tempdir, shoal_binary};

/// Tokens of every kind the tests need, by what they may do.
pub struct Tokens {
    /// `read` on `req*`.
    pub reader: String,
    /// `ingest` on `req*`.
    pub writer: String,
    /// `admin` on every table.
    pub admin: String,
    /// `read` on `other*` only.
    pub other_reader: String,
    /// `ingest` on `other*` only.
    pub other_writer: String,
    /// `ingest` on every table, as a log shipper has.
    pub shipper: String,
}

/// Runs `shoal token create` and returns the secret (its last line).
pub fn create_token(auth_file: &Path, name: &str, role: &str, tables: &str) -> String {
    let mut command = Command::new(shoal_binary());
    command
        .args(["token", "create", "--auth-file"])
        .arg(auth_file);
    command.args(["--name", name, "--role", role]);
    if !tables.is_empty() {
        command.args(["--tables", tables]);
    }
    let output = command.output().expect("run shoal token create");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    printed.lines().last().expect("a secret").trim().to_string()
}

/// Leaves and an aggregator that require the cluster secret and tokens.
/// Fields drop in order: processes first, then their directories.
pub struct SecuredStack {
    pub aggregator: AggregatorProcess,
    pub leaves: Vec<LeafProcess>,
    pub tokens: Tokens,
    pub auth_file: PathBuf,
    pub secret_file: PathBuf,
    pub dirs: Vec<tempfile::TempDir>,
    pub config_dir: tempfile::TempDir,
}

impl SecuredStack {
    /// `leaves` leaves and an aggregator; `leaf_flags` and
    /// `aggregator_flags` are added to theirs (TLS, say).
    pub fn start(leaves: usize, leaf_flags: &[&str], aggregator_flags: &[&str]) -> Self {
        let config_dir = tempfile::tempdir().expect("tempdir");
        let auth_file = config_dir.path().join("tokens");
        let secret_file = config_dir.path().join("cluster-secret");
        std::fs::write(&secret_file, "test-cluster-secret-0123456789\n").expect("secret");
        let tokens = Tokens {
            reader: create_token(&auth_file, "reader", "read", "req*"),
            writer: create_token(&auth_file, "writer", "ingest", "req*"),
            admin: create_token(&auth_file, "admin", "admin", ""),
            other_reader: create_token(&auth_file, "other-reader", "read", "other*"),
            other_writer: create_token(&auth_file, "other-writer", "ingest", "other*"),
            shipper: create_token(&auth_file, "shipper", "ingest", ""),
        };
        let secret = secret_file.to_str().expect("path").to_string();
        let dirs: Vec<tempfile::TempDir> = (0..leaves).map(|_| shm_tempdir()).collect();
        let mut flags = vec!["--cluster-secret-file", secret.as_str()];
        flags.extend_from_slice(leaf_flags);
        let processes: Vec<LeafProcess> = dirs
            .iter()
            .map(|d| LeafProcess::start(d.path(), &flags))
            .collect();
        let addresses: Vec<String> = processes.iter().map(|l| l.address.to_string()).collect();
        let auth = auth_file.to_str().expect("path").to_string();
        let mut flags = vec![
            "--cluster-secret-file",
            secret.as_str(),
            "--auth-file",
            auth.as_str(),
        ];
        flags.extend_from_slice(aggregator_flags);
        let aggregator = AggregatorProcess::start(&addresses, &flags);
        Self {
            aggregator,
            leaves: processes,
            tokens,
            auth_file,
            secret_file,
            dirs,
            config_dir,
        }
    }
}

impl SecuredStack {
    /// Polls, as the admin, until the query's first cell equals `expected`;
    /// the last answer.
    pub fn eventually(&self, sql: &str, expected: serde_json::Value) -> serde_json::Value {
        let admin = bearer(&self.tokens.admin);
        let mut last = serde_json::Value::Null;
        for _ in 0..60 {
            let (status, answer) =
                super::http_query(self.aggregator.http, sql, &[("authorization", &admin)]);
            if status == 200 && answer["rows"][0][0] == expected {
                return answer;
            }
            last = answer;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{sql}: expected {expected}, last answer {last}");
    }
}

/// `Authorization: Bearer T`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `Authorization: Basic` with `token` as the password, as shippers send it.
pub fn basic(user: &str, token: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    format!("Basic {encoded}")
}

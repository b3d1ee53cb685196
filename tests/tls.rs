//! TLS end to end: leaves and an aggregator serving with a certificate
//! signed by a test CA (made with the `openssl` command), the aggregator
//! trusting that CA for its leaves (`--tls-ca`), and clients over TLS: curl
//! over HTTPS and the Python ADBC driver over `grpc+tls`.

mod common;

use std::path::Path;
use std::process::Command;

use common::certs::make_certificates;
use common::secured::{SecuredStack, bearer};
use common::*;
use serde_json::Value;

fn curl(ca: &Path, url: &str, token: &str, content_type: &str, body: &str) -> (u16, Value) {
    let output = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(ca)
        .args(["-H", &format!("authorization: {}", bearer(token))])
        .args(["-H", &format!("content-type: {content_type}")])
        .args(["--data-binary", body, url])
        .output()
        .expect("run curl");
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "curl {url}: {printed} {output:?}");
    let (body, code) = printed.rsplit_once('\n').expect("status line");
    (
        code.trim().parse().expect("status"),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn curl_and_adbc_reach_shoal_over_tls() {
    let certificates = tempfile::tempdir().unwrap();
    make_certificates(certificates.path());
    let file = |name: &str| certificates.path().join(name).to_str().unwrap().to_string();
    let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let tls = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    let mut aggregator_flags = tls.to_vec();
    aggregator_flags.extend(["--tls-ca", ca.as_str()]);
    let stack = SecuredStack::start(2, &tls, &aggregator_flags);
    let base = format!("https://127.0.0.1:{}", stack.aggregator.http.port());

    let (status, answer) = curl(
        Path::new(&ca),
        &format!("{base}/api/v1/ingest/requests"),
        &stack.tokens.writer,
        "application/x-ndjson",
        "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n",
    );
    assert_eq!(
        (status, answer["accepted"].clone()),
        (200, Value::from(3)),
        "{answer}"
    );
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = curl(
            Path::new(&ca),
            &format!("{base}/api/v1/query"),
            &stack.tokens.reader,
            "application/json",
            "{\"sql\": \"SELECT count(*) FROM requests\"}",
        )
        .1;
        if answer["rows"][0][0] == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Both leaves answered over TLS, trusted through --tls-ca.
    assert_eq!(answer["rows"][0][0], Value::from(3), "{answer}");
    assert_eq!(
        answer["completeness"]["leaves_answered"],
        Value::from(2),
        "{answer}"
    );

    // Plain HTTP on the TLS port gets no answer.
    let (status, _, _) = std::panic::catch_unwind(|| {
        http_request(stack.aggregator.http, "GET", "/healthz", &[], b"")
    })
    .unwrap_or((0, Vec::new(), Vec::new()));
    assert_ne!(status, 200);

    let Some(python) = client_tool("SHOAL_PYTHON") else {
        return;
    };
    let endpoint = format!("grpc+tls://127.0.0.1:{}", stack.aggregator.flight.port());
    let printed = run_python(
        &python,
        "adbc_auth_client.py",
        &[&endpoint, &stack.tokens.writer, &stack.tokens.reader, &ca],
    );
    assert!(printed.contains("adbc auth ok"), "{printed}");
}

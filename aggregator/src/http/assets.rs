//! The browser app's files, built into the binary: the page shell
//! (`aggregator/ui/index.html`) served at `/`, `/explore`, `/dashboards` and
//! `/dashboards/{name}`, and everything under `/assets/` (the app's ES
//! modules and CSS, uPlot and its license), so `cargo run` needs nothing
//! beside the binary.
//!
//! ```text
//!  aggregator/ui/index.html        ──► index()               (the shell; the app routes in the page)
//!  aggregator/ui/js/main.js        ──► GET /assets/js/main.js
//!  aggregator/ui/vendor/uPlot.*    ──► GET /assets/vendor/uPlot.*   (pinned in ui/package.json)
//! ```
//!
//! The list of files is fixed here ([`ASSETS`]); a unit test fails when a
//! file under `aggregator/ui/` is missing from it, so a new module cannot be
//! forgotten. Answers carry `cache-control: no-cache` and an ETag (a hash of
//! the bytes taken at compile time): browsers revalidate on each load and get
//! `304 Not Modified` while the binary is the same. This module owns the
//! serving only; which paths need a token is decided in
//! [`crate::auth::http_layer`].

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file: its path under `aggregator/ui/` (and under
/// `/assets/`), its media type, bytes and entity tag.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    etag: u64,
}

/// FNV-1a over the bytes: an entity tag that changes with the content.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../ui/", $path)),
            etag: fnv1a(include_bytes!(concat!("../../ui/", $path))),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// The page shell, the same for every page of the app.
static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// Every file under `/assets/`.
static ASSETS: &[Asset] = &[
    asset!("css/app.css", CSS),
    asset!("js/add_to_dashboard.js", JS),
    asset!("js/aggregates.js", JS),
    asset!("js/api.js", JS),
    asset!("js/builder_form.js", JS),
    asset!("js/catalog.js", JS),
    asset!("js/dashboard.js", JS),
    asset!("js/dashboard_spec.js", JS),
    asset!("js/dashboards.js", JS),
    asset!("js/describe.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/explorer.js", JS),
    asset!("js/filters.js", JS),
    asset!("js/main.js", JS),
    asset!("js/missing_data.js", JS),
    asset!("js/panel.js", JS),
    asset!("js/prefetch.js", JS),
    asset!("js/range_picker.js", JS),
    asset!("js/sql.js", JS),
    asset!("js/sql_builder.js", JS),
    asset!("js/theme/colours.js", JS),
    asset!("js/time_range.js", JS),
    asset!("js/url_state.js", JS),
    asset!("js/views/bar.js", JS),
    asset!("js/views/chart.js", JS),
    asset!("js/views/heatmap.js", JS),
    asset!("js/views/pivot.js", JS),
    asset!("js/views/samples.js", JS),
    asset!("js/views/table.js", JS),
    asset!("js/views/timeseries.js", JS),
    asset!("vendor/uPlot.LICENSE", TEXT),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
];

fn answer(asset: &Asset, request_headers: Option<&HeaderMap>) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let not_modified = request_headers
        .and_then(|headers| headers.get(header::IF_NONE_MATCH))
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if not_modified {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), cache],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag_value),
            cache,
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

/// What the shell may load: its own scripts, styles and API, nothing
/// inline and nothing from elsewhere (the app builds its DOM with
/// `createElement` and `textContent`, and uPlot styles through the CSSOM,
/// so none of it needs `'unsafe-inline'`). Should a value from an answer
/// or a saved dashboard ever reach HTML, it can neither run nor send the
/// user's token away.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'self'";

/// The app shell (`/`, `/explore`, `/dashboards`, `/dashboards/{name}`),
/// with its [`CONTENT_SECURITY_POLICY`]. The page's address can hold SQL
/// (`where=`, `sql=`): no `Referer` takes it elsewhere.
pub fn index() -> Response {
    let mut response = answer(&INDEX, None);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET /assets/{*path}`: an embedded file, or 404.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => answer(asset, Some(&headers)),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no asset {path:?}") })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files under `aggregator/ui/` that are not shipped: npm's own and the
    /// page shell (served by [`index`]).
    const NOT_SHIPPED: &[&str] = &[
        ".gitignore",
        "index.html",
        "package.json",
        "package-lock.json",
    ];

    fn files_under(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "node_modules") {
                continue;
            }
            if path.is_dir() {
                files_under(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_of_the_app_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        files_under(&root, &root, &mut on_disk);
        let missing: Vec<&String> = on_disk
            .iter()
            .filter(|file| !NOT_SHIPPED.contains(&file.as_str()))
            .filter(|file| !ASSETS.iter().any(|asset| asset.path == file.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "add these to ASSETS in http/assets.rs: {missing:?}"
        );
    }

    #[test]
    fn the_shell_runs_only_its_own_files() {
        let response = index();
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        // The policy allows no inline script or style: the shell has none,
        // and every file it names is an embedded asset.
        let html = std::str::from_utf8(INDEX.bytes).unwrap();
        for inline in ["<script>", "<style", " style=", "javascript:"] {
            assert!(!html.contains(inline), "index.html holds {inline:?}");
        }
        let handler = html.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "index.html holds an on... handler");
        let named: Vec<&str> = html
            .split(['"', '\''])
            .filter_map(|part| part.strip_prefix("/assets/"))
            .collect();
        assert!(named.len() >= 4, "{named:?}");
        for path in named {
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "{path} is not embedded"
            );
        }
    }

    #[test]
    fn assets_have_types_and_revalidate() {
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => CSS,
                _ => TEXT,
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
        let first = &ASSETS[0];
        let response = answer(first, None);
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            answer(first, Some(&headers)).status(),
            StatusCode::NOT_MODIFIED
        );
    }
}

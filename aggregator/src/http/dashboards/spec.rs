//! What a saved dashboard may be: its name, and the shape and size of its
//! spec. The checks only; storing is [`super::table`]'s.
//!
//! ```text
//!  {"title": "Checkout",                        optional string
//!   "range": "1h" | {"from_ms": N, "to_ms": N}, optional; relative or absolute
//!   "refresh": "off"|"5s"|"10s"|"30s"|"1m",    optional
//!   "panels": [{"title": "...",                 optional string
//!               "explore": "table=requests&view=timeseries&agg=count"}]}
//! ```
//!
//! Fields not named here are kept as they came (a newer page may add some).

use serde_json::{Map, Value};

/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Largest spec, in bytes of its JSON text.
pub const MAX_SPEC_BYTES: usize = 256 * 1024;
/// Most panels on one dashboard.
pub const MAX_PANELS: usize = 24;
/// The refresh intervals a dashboard may have.
pub const REFRESH_CHOICES: [&str; 5] = ["off", "5s", "10s", "30s", "1m"];

/// A spec that passed the checks, with what the list shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSpec {
    /// The JSON text as the client sent it (within [`MAX_SPEC_BYTES`]).
    pub text: String,
    pub title: String,
    pub panels: usize,
}

/// Checks a dashboard's name: `[A-Za-z0-9_.-]{1,64}`, not only dots (`.`
/// and `..` cannot be a page's path segment). `Err` says what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a dashboard name cannot be empty".to_string());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the dashboard name is {} bytes, over the {MAX_NAME_BYTES}-byte limit",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the dashboard name {name:?} holds {bad:?}: only letters, digits, '_', '-' and '.' are allowed"
        ));
    }
    if name.chars().all(|c| c == '.') {
        return Err(format!(
            "the dashboard name {name:?} is only dots, which cannot be a page's address"
        ));
    }
    Ok(())
}

/// Checks a spec's JSON text; `Err` says what is wrong and where.
pub fn check_spec(body: &[u8]) -> Result<CheckedSpec, String> {
    if body.len() > MAX_SPEC_BYTES {
        return Err(too_big(body.len()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| {
            format!(
                "the spec is not UTF-8 text (byte {} is not)",
                e.valid_up_to() + 1
            )
        })?
        .trim();
    if text.is_empty() {
        return Err(
            "the spec is empty: send the dashboard as a JSON object, e.g. {\"title\": \"...\", \"panels\": [...]}"
                .to_string(),
        );
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the spec is not valid JSON: {e}"))?;
    let Value::Object(spec) = value else {
        return Err(format!(
            "the spec must be a JSON object, found {}",
            crate::ingest::json_rows::json_kind(&value)
        ));
    };
    let title = optional_string(&spec, "title", "the spec's")?;
    check_range(spec.get("range"))?;
    check_refresh(spec.get("refresh"))?;
    let panels = check_panels(spec.get("panels"))?;
    Ok(CheckedSpec {
        text: text.to_string(),
        title,
        panels,
    })
}

/// The message for a spec over [`MAX_SPEC_BYTES`] (`bytes` long, or longer).
pub fn too_big(bytes: usize) -> String {
    format!(
        "the spec is {bytes} bytes, over the {MAX_SPEC_BYTES}-byte (256 KiB) limit of a dashboard"
    )
}

fn optional_string(object: &Map<String, Value>, key: &str, whose: &str) -> Result<String, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(format!(
            "{whose} \"{key}\" must be a string, found {}",
            crate::ingest::json_rows::json_kind(other)
        )),
    }
}

fn check_range(range: Option<&Value>) -> Result<(), String> {
    let Some(range) = range.filter(|r| !r.is_null()) else {
        return Ok(());
    };
    let usage = "\"range\" must be a relative range like \"1h\" (15m, 1h, 6h, 24h, 7d), \"FROM_MS..TO_MS\", or {\"from_ms\": N, \"to_ms\": N}";
    match range {
        Value::String(text) if is_relative_range(text) || absolute_range(text).is_some() => Ok(()),
        Value::Object(bounds) => {
            let from = bounds.get("from_ms").and_then(Value::as_i64);
            let to = bounds.get("to_ms").and_then(Value::as_i64);
            match (from, to) {
                (Some(from), Some(to)) if from < to => Ok(()),
                (Some(from), Some(to)) => Err(format!(
                    "\"range\" ends ({to}) before it starts ({from}): from_ms must be below to_ms"
                )),
                _ => Err(format!("{usage}; from_ms and to_ms are integers")),
            }
        }
        other => Err(format!("{usage}, found {other}")),
    }
}

/// `15m`, `1h`, `7d`, `2w`, `30s`: digits then a unit.
fn is_relative_range(text: &str) -> bool {
    let Some(digits) = text.strip_suffix(['s', 'm', 'h', 'd', 'w']) else {
        return false;
    };
    !digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `FROM_MS..TO_MS`, from before to.
fn absolute_range(text: &str) -> Option<(i64, i64)> {
    let (from, to) = text.split_once("..")?;
    let (from, to) = (from.parse::<i64>().ok()?, to.parse::<i64>().ok()?);
    (from < to).then_some((from, to))
}

fn check_refresh(refresh: Option<&Value>) -> Result<(), String> {
    match refresh {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(text)) if REFRESH_CHOICES.contains(&text.as_str()) => Ok(()),
        Some(other) => Err(format!(
            "\"refresh\" must be one of {}, found {other}",
            REFRESH_CHOICES.join(", ")
        )),
    }
}

/// The number of panels, each checked.
fn check_panels(panels: Option<&Value>) -> Result<usize, String> {
    let panels = match panels {
        Some(Value::Array(panels)) => panels,
        None | Some(Value::Null) => {
            return Err(
                "the spec has no \"panels\": give a list (empty for a dashboard without panels)"
                    .to_string(),
            );
        }
        Some(other) => {
            return Err(format!(
                "\"panels\" must be a list, found {}",
                crate::ingest::json_rows::json_kind(other)
            ));
        }
    };
    if panels.len() > MAX_PANELS {
        return Err(format!(
            "the dashboard has {} panels, over the limit of {MAX_PANELS}",
            panels.len()
        ));
    }
    for (index, panel) in panels.iter().enumerate() {
        let whose = format!("panel {}'s", index + 1);
        let Value::Object(panel) = panel else {
            return Err(format!(
                "panel {} must be a JSON object like {{\"title\": \"...\", \"explore\": \"table=...&view=...\"}}, found {}",
                index + 1,
                crate::ingest::json_rows::json_kind(panel)
            ));
        };
        optional_string(panel, "title", &whose)?;
        match panel.get("explore") {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => {
                return Err(format!(
                    "panel {} has no \"explore\": give its explorer view as a URL query string, e.g. \"table=requests&view=timeseries&agg=count\"",
                    index + 1
                ));
            }
            Some(other) => {
                return Err(format!(
                    "{whose} \"explore\" must be a string (an explorer URL's query), found {}",
                    crate::ingest::json_rows::json_kind(other)
                ));
            }
        }
    }
    Ok(panels.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        for good in [
            "a",
            "checkout-latency",
            "team_1.v2",
            "x".repeat(64).as_str(),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for (bad, needle) in [
            ("", "empty"),
            ("x".repeat(65).as_str(), "65 bytes"),
            ("a b", "' '"),
            ("a/b", "'/'"),
            ("é", "'é'"),
            ("..", "only dots"),
        ] {
            let error = check_name(bad).unwrap_err();
            assert!(error.contains(needle), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_spec_of_the_contract_passes_and_is_kept_as_sent() {
        let text = r#"{"title": "Checkout", "range": "1h", "refresh": "30s",
            "panels": [{"title": "count", "explore": "table=requests&view=timeseries&agg=count"},
                       {"explore": "table=requests&view=table"}], "layout": {"columns": 2}}"#;
        let checked = check_spec(text.as_bytes()).unwrap();
        assert_eq!(checked.title, "Checkout");
        assert_eq!(checked.panels, 2);
        assert_eq!(checked.text, text);
        for range in [
            r#""7d""#,
            r#""1700000000000..1700003600000""#,
            r#"{"from_ms": 1, "to_ms": 2}"#,
        ] {
            let spec = format!(r#"{{"range": {range}, "panels": []}}"#);
            assert!(check_spec(spec.as_bytes()).is_ok(), "{spec}");
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let many = format!(
            r#"{{"panels": [{}]}}"#,
            vec![r#"{"explore": "table=t"}"#; 25].join(",")
        );
        let big = format!(
            r#"{{"panels": [], "title": "{}"}}"#,
            "x".repeat(MAX_SPEC_BYTES)
        );
        for (spec, needle) in [
            ("{\"panels\": [", "not valid JSON"),
            ("", "empty"),
            ("[1]", "must be a JSON object, found an array"),
            (
                r#"{"title": 5, "panels": []}"#,
                "\"title\" must be a string",
            ),
            (r#"{"title": "t"}"#, "no \"panels\""),
            (r#"{"panels": {}}"#, "\"panels\" must be a list"),
            (many.as_str(), "25 panels, over the limit of 24"),
            (r#"{"panels": [5]}"#, "panel 1 must be a JSON object"),
            (
                r#"{"panels": [{"title": "x"}]}"#,
                "panel 1 has no \"explore\"",
            ),
            (r#"{"range": "soon", "panels": []}"#, "\"range\" must be"),
            (
                r#"{"range": {"from_ms": 5, "to_ms": 1}, "panels": []}"#,
                "before it starts",
            ),
            (
                r#"{"refresh": "2s", "panels": []}"#,
                "\"refresh\" must be one of",
            ),
            (big.as_str(), "256 KiB"),
        ] {
            let error = check_spec(spec.as_bytes()).unwrap_err();
            assert!(error.contains(needle), "{spec:.80}: {error}");
        }
    }
}

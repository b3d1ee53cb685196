//! Where statements end in what the user typed or piped: at a `;` outside
//! string literals, quoted identifiers and comments. This is a scanner of
//! quotes and comments only; the SQL itself is parsed by the server.
//!
//! A request to the aggregator is one query, optionally after `SET`s that
//! apply to it alone (Flight SQL calls are stateless), so `SET`s typed
//! before a query travel with that query: [`PendingSets`].

/// What a scan of the input found.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    /// Statements ended by `;`, trimmed, without the `;`; empty ones and
    /// ones of comments only are left out.
    pub statements: Vec<String>,
    /// Text after the last `;`.
    pub rest: String,
    /// Whether `rest` holds anything but whitespace and comments.
    pub rest_has_code: bool,
    /// Whether the input ends inside a string, a quoted identifier or a
    /// block comment.
    pub open: bool,
}

impl Split {
    /// Whether nothing is left to wait for: every statement typed so far
    /// ended with `;` (a prompt then runs them instead of asking for more).
    pub fn is_complete(&self) -> bool {
        !self.rest_has_code && !self.open
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Code,
    SingleQuoted,
    DoubleQuoted,
    LineComment,
    BlockComment { depth: usize },
}

/// Splits `text` at every `;` that ends a statement.
pub fn split_statements(text: &str) -> Split {
    let mut split = Split::default();
    let mut state = State::Code;
    let mut current = String::new();
    let mut current_has_code = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Code => match c {
                ';' => {
                    if current_has_code {
                        split.statements.push(current.trim().to_string());
                    }
                    current.clear();
                    current_has_code = false;
                    continue;
                }
                '\'' => {
                    state = State::SingleQuoted;
                    current_has_code = true;
                }
                '"' => {
                    state = State::DoubleQuoted;
                    current_has_code = true;
                }
                '-' if chars.peek() == Some(&'-') => state = State::LineComment,
                '/' if chars.peek() == Some(&'*') => {
                    current.push(c);
                    current.extend(chars.next());
                    state = State::BlockComment { depth: 1 };
                    continue;
                }
                c if !c.is_whitespace() => current_has_code = true,
                _ => {}
            },
            // A doubled quote stays inside the literal or identifier.
            State::SingleQuoted if c == '\'' => {
                if chars.peek() == Some(&'\'') {
                    current.push(c);
                    current.extend(chars.next());
                    continue;
                }
                state = State::Code;
            }
            State::DoubleQuoted if c == '"' => {
                if chars.peek() == Some(&'"') {
                    current.push(c);
                    current.extend(chars.next());
                    continue;
                }
                state = State::Code;
            }
            State::LineComment if c == '\n' => state = State::Code,
            State::BlockComment { depth } => {
                if c == '*' && chars.peek() == Some(&'/') {
                    current.push(c);
                    current.extend(chars.next());
                    state = match depth {
                        1 => State::Code,
                        _ => State::BlockComment { depth: depth - 1 },
                    };
                    continue;
                }
                if c == '/' && chars.peek() == Some(&'*') {
                    current.push(c);
                    current.extend(chars.next());
                    state = State::BlockComment { depth: depth + 1 };
                    continue;
                }
            }
            _ => {}
        }
        current.push(c);
    }
    split.rest = current;
    split.rest_has_code = current_has_code;
    split.open = matches!(
        state,
        State::SingleQuoted | State::DoubleQuoted | State::BlockComment { .. }
    );
    split
}

/// Whether `statement` is a `SET` (its first word, after comments).
pub fn is_set(statement: &str) -> bool {
    let mut rest = statement.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
        rest = rest.trim_start();
    }
    let word: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    word.eq_ignore_ascii_case("set")
}

/// `SET`s typed before the query they apply to: the server reads them in
/// the same request as that query only, so they wait here for it.
#[derive(Debug, Default)]
pub struct PendingSets {
    sets: Vec<String>,
}

impl PendingSets {
    /// The request to send for `statement`: `None` for a `SET` (it waits
    /// for the next query), else the query after the `SET`s waiting.
    pub fn request_for(&mut self, statement: String) -> Option<String> {
        if is_set(&statement) {
            self.sets.push(statement);
            return None;
        }
        self.sets.push(statement);
        let request = self.sets.join(";\n");
        self.sets.clear();
        Some(request)
    }

    /// The `SET`s still waiting for a query.
    pub fn waiting(&self) -> &[String] {
        &self.sets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let split = split_statements(
            "SELECT ';' AS a, \"x;y\" FROM t; -- done; really\nSELECT 'it''s' /* ; /* ; */ */;\n  SELECT 3",
        );
        assert_eq!(
            split.statements,
            vec![
                "SELECT ';' AS a, \"x;y\" FROM t",
                "-- done; really\nSELECT 'it''s' /* ; /* ; */ */"
            ]
        );
        assert_eq!(split.rest.trim(), "SELECT 3");
        assert!(split.rest_has_code);
        assert!(!split.is_complete());
    }

    #[test]
    fn completeness_waits_for_quotes_and_comments_to_close() {
        assert!(split_statements("SELECT 1;").is_complete());
        assert!(split_statements("SELECT 1; -- comment").is_complete());
        assert!(split_statements("").is_complete());
        assert!(!split_statements("SELECT 1").is_complete());
        assert!(!split_statements("SELECT 'a;").is_complete());
        assert!(!split_statements("SELECT 1; /* still").is_complete());
        assert!(!split_statements("SELECT\n  1\n").is_complete());
        assert_eq!(
            split_statements(" ; ;-- x\n;").statements,
            Vec::<String>::new()
        );
    }

    #[test]
    fn sets_travel_with_the_query_after_them() {
        assert!(is_set("SET shoal.deadline = '2s'"));
        assert!(is_set("-- why\n set x = 1"));
        assert!(!is_set("SELECT 1"));
        assert!(!is_set("settle"));
        let mut pending = PendingSets::default();
        let requests: Vec<Option<String>> = [
            "SET a = 1",
            "SET b = 2",
            "SELECT 1",
            "SELECT 2",
            "set c = 3",
        ]
        .map(|statement| pending.request_for(statement.to_string()))
        .to_vec();
        assert_eq!(
            requests,
            [
                None,
                None,
                Some("SET a = 1;\nSET b = 2;\nSELECT 1".to_string()),
                Some("SELECT 2".to_string()),
                None
            ]
        );
        assert_eq!(pending.waiting(), ["set c = 3"]);
    }
}

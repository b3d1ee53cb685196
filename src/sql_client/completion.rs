//! Tab completion at the prompt: the names of tables and of their columns,
//! as `GetTables` listed them when the prompt started (and again after each
//! `\d`). A name that is not a plain lowercase identifier is offered quoted
//! (`"kubernetes.pod_name"`), as SQL needs it.
//!
//! The word under the cursor is matched case-insensitively by prefix; after
//! `table.` only the part after the dot is completed.

use std::collections::BTreeSet;

use rustyline::Context;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use shoal_aggregator::client_types::sql_identifier;

use super::connection::TableDescription;

/// The prompt's helper: completion only (no hints, colours or validation;
/// statements are gathered line by line by the prompt itself).
#[derive(Debug, Default)]
pub struct NameCompleter {
    /// Completions as they are inserted (quoted where needed), sorted.
    names: Vec<String>,
}

impl NameCompleter {
    /// Completes the names of `tables` and of their columns.
    pub fn new(tables: &[TableDescription]) -> Self {
        let mut completer = Self::default();
        completer.set_tables(tables);
        completer
    }

    /// Replaces the names with those of `tables`.
    pub fn set_tables(&mut self, tables: &[TableDescription]) {
        let mut names = BTreeSet::new();
        for table in tables {
            names.insert(sql_identifier(&table.name));
            for column in &table.columns {
                names.insert(sql_identifier(column.name()));
            }
        }
        self.names = names.into_iter().collect();
    }

    /// The start of the word at `pos` and the names that complete it.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let start = word_start(line, pos);
        let word = &line[start..pos];
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let word_lower = word.to_lowercase();
        let bare_word = word_lower.trim_start_matches('"');
        let matches = self
            .names
            .iter()
            .filter(|name| {
                let name_lower = name.to_lowercase();
                name_lower.starts_with(&word_lower)
                    || (!word.starts_with('"')
                        && name_lower.trim_start_matches('"').starts_with(bare_word))
            })
            .cloned()
            .collect();
        (start, matches)
    }
}

/// Where the word before `pos` starts: letters, digits and `_`; inside a
/// quoted name also `.`, `-` and spaces up to its opening quote; after an
/// unquoted `table.`, just past the dot.
fn word_start(line: &str, pos: usize) -> usize {
    let before = &line[..pos];
    let plain_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(index, _)| index);
    // An opening quote with no closing one before the cursor: complete the
    // whole quoted name.
    let quotes = before.matches('"').count();
    if quotes % 2 == 1
        && let Some(open) = before.rfind('"')
    {
        return open;
    }
    plain_start
}

impl Completer for NameCompleter {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _context: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for NameCompleter {
    type Hint = String;
}

impl Highlighter for NameCompleter {}

impl Validator for NameCompleter {}

impl rustyline::Helper for NameCompleter {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn completer() -> NameCompleter {
        let field = |name: &str| Arc::new(Field::new(name, DataType::Utf8, true));
        NameCompleter::new(&[
            TableDescription {
                name: "requests".into(),
                columns: vec![
                    field("service"),
                    field("status"),
                    field("kubernetes.pod_name"),
                ],
            },
            TableDescription {
                name: "Audit-Log".into(),
                columns: vec![field("service")],
            },
        ])
    }

    #[test]
    fn tables_and_columns_complete_by_prefix() {
        let completer = completer();
        assert_eq!(
            completer.candidates("SELECT * FROM req", 17),
            (14, vec!["requests".to_string()])
        );
        assert_eq!(
            completer.candidates("SELECT st", 9),
            (7, vec!["status".to_string()])
        );
        assert_eq!(
            completer.candidates("SELECT se", 9),
            (7, vec!["service".to_string()])
        );
        assert_eq!(
            completer.candidates("SELECT requests.SE", 18),
            (16, vec!["service".to_string()])
        );
        assert_eq!(completer.candidates("SELECT ", 7), (7, Vec::new()));
    }

    #[test]
    fn names_that_need_quotes_are_offered_quoted() {
        let completer = completer();
        assert_eq!(
            completer.candidates("SELECT kub", 10),
            (7, vec!["\"kubernetes.pod_name\"".to_string()])
        );
        assert_eq!(
            completer.candidates("SELECT \"kubernetes.p", 20),
            (7, vec!["\"kubernetes.pod_name\"".to_string()])
        );
        assert_eq!(
            completer.candidates("FROM aud", 8),
            (5, vec!["\"Audit-Log\"".to_string()])
        );
    }
}

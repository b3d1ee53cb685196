//! Query parameters as clients write them.
//!
//! DataFusion binds `$1`, `$2`, ... (by position) and `$name` (by name).
//! Clients write others: every SQLAlchemy dialect, JDBC and ODBC send `?`,
//! `?1` is SQLite's numbered form, and `:name` is the named style of
//! SQLAlchemy's `text()` and of several drivers. Before a request is parsed,
//! [`normalize`] rewrites those into DataFusion's forms, token by token (a
//! `?` inside a string, a quoted name or a comment is left alone):
//!
//! | written | becomes |
//! |---------|---------|
//! | `?`     | `$1`, `$2`, ... in order of appearance |
//! | `?N`    | `$N` |
//! | `:name` | `$name` (bound by the name of the parameter's column) |
//!
//! A `:` right after a name, a number, `]` or `)` is not a placeholder
//! (`a[1:n]` slices), nor is `::` (a cast).

use std::borrow::Cow;
use std::collections::HashMap;

use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// `sql` with its placeholders in DataFusion's forms. SQL that does not
/// tokenize is returned as it is: the parser then says what is wrong.
pub fn normalize(sql: &str) -> Cow<'_, str> {
    if !sql.contains(['?', ':']) {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let offsets = LineOffsets::new(sql);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut next_position = 1;
    for (index, token) in tokens.iter().enumerate() {
        let replacement = match &token.token {
            Token::Placeholder(text) if text == "?" => {
                let numbered = format!("${next_position}");
                next_position += 1;
                Some((numbered, 1))
            }
            Token::Placeholder(text) if text.starts_with('?') => {
                Some((format!("${}", &text[1..]), text.len()))
            }
            Token::Colon => named_after_colon(&tokens, index).map(|name| {
                let length = 1 + name.len();
                (format!("${name}"), length)
            }),
            _ => None,
        };
        let Some((text, length)) = replacement else {
            continue;
        };
        let Some(start) = offsets.byte_offset(sql, token) else {
            return Cow::Borrowed(sql);
        };
        edits.push((start, start + length, text));
    }
    if edits.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut rewritten = String::with_capacity(sql.len() + edits.len() * 2);
    let mut copied = 0;
    for (start, end, text) in edits {
        rewritten.push_str(&sql[copied..start]);
        rewritten.push_str(&text);
        copied = end;
    }
    rewritten.push_str(&sql[copied..]);
    Cow::Owned(rewritten)
}

/// `plan` with its placeholders replaced by `parameters` (each named by
/// the column that carried it): `$N` takes the N-th, `$name` the one whose
/// column is `name` (or `:name`, `$name`, `@name`). A placeholder without a
/// value is an error naming it.
pub fn bind(
    plan: LogicalPlan,
    parameters: &[(String, ScalarValue)],
) -> Result<LogicalPlan, String> {
    let placeholders = plan.get_parameter_types().map_err(|e| e.to_string())?;
    if placeholders.is_empty() {
        return Ok(plan);
    }
    let by_name: HashMap<&str, &ScalarValue> = parameters
        .iter()
        .map(|(name, value)| (name.trim_start_matches(['$', ':', '@']), value))
        .collect();
    let mut ids: Vec<&String> = placeholders.keys().collect();
    ids.sort();
    let mut values = HashMap::new();
    for id in ids {
        let key = id.trim_start_matches('$');
        let value = match key.parse::<usize>() {
            Ok(position) => position
                .checked_sub(1)
                .and_then(|index| parameters.get(index))
                .map(|(_, value)| value)
                .ok_or_else(|| {
                    format!(
                        "no value for parameter {position} (placeholder ${position}, or `?` number {position}): {} sent",
                        match parameters.len() {
                            1 => "1 value was".to_string(),
                            n => format!("{n} values were"),
                        }
                    )
                })?,
            Err(_) => by_name.get(key).copied().ok_or_else(|| {
                format!(
                    "no value for parameter :{key} (placeholder ${key}): the parameters sent are named {:?}",
                    parameters.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>()
                )
            })?,
        };
        values.insert(key.to_string(), value.clone().into());
    }
    plan.with_param_values(ParamValues::Map(values))
        .map_err(|e| e.to_string())
}

/// The name of a `:name` placeholder whose colon is `tokens[index]`.
fn named_after_colon(tokens: &[TokenWithSpan], index: usize) -> Option<String> {
    let next = tokens.get(index + 1)?;
    let Token::Word(word) = &next.token else {
        return None;
    };
    if word.quote_style.is_some() {
        return None;
    }
    let colon = &tokens[index].span;
    // `:name` is one lexeme: the name starts right after the colon.
    let adjacent = next.span.start.line == colon.start.line
        && next.span.start.column == colon.start.column + 1;
    let after_operand = index
        .checked_sub(1)
        .and_then(|i| tokens.get(i))
        .is_some_and(|before| {
            matches!(
                before.token,
                Token::Word(_) | Token::Number(..) | Token::RBracket | Token::RParen
            ) && before.span.end == colon.start
        });
    (adjacent && !after_operand).then(|| word.value.clone())
}

/// Byte offsets of the lines of a text, to turn the tokenizer's line and
/// column (in characters, from 1) into byte positions.
struct LineOffsets(Vec<usize>);

impl LineOffsets {
    fn new(sql: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self(starts)
    }

    fn byte_offset(&self, sql: &str, token: &TokenWithSpan) -> Option<usize> {
        let line = usize::try_from(token.span.start.line)
            .ok()?
            .checked_sub(1)?;
        let column = usize::try_from(token.span.start.column)
            .ok()?
            .checked_sub(1)?;
        let line_start = *self.0.get(line)?;
        let rest = sql.get(line_start..)?;
        match rest.char_indices().nth(column) {
            Some((offset, _)) => Some(line_start + offset),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn question_marks_are_numbered_in_order() {
        assert_eq!(
            normalize("SELECT * FROM t WHERE a = ? AND b > ?"),
            "SELECT * FROM t WHERE a = $1 AND b > $2"
        );
        assert_eq!(normalize("SELECT ?2, ?1"), "SELECT $2, $1");
    }

    #[test]
    fn named_placeholders_become_dollar_names() {
        assert_eq!(
            normalize("SELECT * FROM t WHERE service = :s AND n < :limit_1"),
            "SELECT * FROM t WHERE service = $s AND n < $limit_1"
        );
    }

    #[test]
    fn strings_comments_casts_and_slices_are_left_alone() {
        for sql in [
            "SELECT '?', \"a?\" FROM t -- ?\n",
            "SELECT 'it''s ?' /* :x */",
            "SELECT a::text, b[1:n], c[x:y]",
            "SELECT 1",
        ] {
            assert_eq!(normalize(sql), sql);
        }
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            normalize("SELECT 'héllo', ?\n  WHERE x = ?"),
            "SELECT 'héllo', $1\n  WHERE x = $2"
        );
    }
}

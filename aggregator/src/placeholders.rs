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
//! | `?`     | `$1`, `$2`, ... in order of appearance in its statement |
//! | `?N`    | `$N` |
//! | `:name` | `$name` (bound by the name of the parameter's column) |
//!
//! A `:` right after a name, a number, a string, a placeholder, `]` or `)`
//! is not a placeholder (`a[1:n]` slices, `{'k':v}` is a struct), nor is
//! one right after `[` (`a[:n]`), nor `::` (a cast).
//!
//! A statement uses one style: `?` mixed with numbered placeholders (`?N`,
//! `$N`), or positional ones mixed with named ones (`:name`, `$name`), is
//! refused rather than bound wrongly.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// `sql` with its placeholders in DataFusion's forms. SQL that does not
/// tokenize is returned as it is: the parser then says what is wrong. So
/// is SQL whose tokens cannot be placed back in the text (a MySQL-style
/// `/*! ... */` hint, whose contents the tokenizer reads as SQL). A
/// statement that mixes placeholder styles is an error.
pub fn normalize(sql: &str) -> Result<Cow<'_, str>, String> {
    if !sql.contains(['?', ':', '$']) {
        return Ok(Cow::Borrowed(sql));
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(Cow::Borrowed(sql));
    };
    if !contiguous(sql, &tokens) {
        return Ok(Cow::Borrowed(sql));
    }
    let offsets = LineOffsets::new(sql);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut styles = Styles::default();
    for (index, token) in tokens.iter().enumerate() {
        let (mut replacement, original) = match &token.token {
            Token::SemiColon => {
                styles.check()?;
                styles = Styles::default();
                continue;
            }
            Token::Placeholder(text) if text == "?" => {
                styles.bare += 1;
                (format!("${}", styles.bare), text.clone())
            }
            Token::Placeholder(text) => {
                if let Some(number) = text.strip_prefix('?').filter(|n| digits(n)) {
                    styles.numbered.get_or_insert_with(|| text.clone());
                    (format!("${number}"), text.clone())
                } else {
                    if let Some(rest) = text.strip_prefix('$') {
                        if digits(rest) {
                            styles.numbered.get_or_insert_with(|| text.clone());
                        } else if !rest.is_empty() {
                            styles.named.get_or_insert_with(|| text.clone());
                        }
                    }
                    continue;
                }
            }
            Token::Colon => match named_after_colon(&tokens, index) {
                Some(name) => {
                    let original = format!(":{name}");
                    styles.named.get_or_insert_with(|| original.clone());
                    (format!("${name}"), original)
                }
                None => continue,
            },
            _ => continue,
        };
        // The token must be where its span says, as it is written.
        let Some(start) = offsets.byte_offset(sql, token) else {
            return Ok(Cow::Borrowed(sql));
        };
        let end = start + original.len();
        if sql.get(start..end) != Some(original.as_str()) {
            return Ok(Cow::Borrowed(sql));
        }
        // `?OR` must not become `$1OR`, one placeholder.
        let next = sql.get(end..).and_then(|rest| rest.chars().next());
        if next.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            replacement.push(' ');
        }
        edits.push((start, end, replacement));
    }
    styles.check()?;
    if edits.is_empty() {
        return Ok(Cow::Borrowed(sql));
    }
    let mut rewritten = String::with_capacity(sql.len() + edits.len() * 2);
    let mut copied = 0;
    for (start, end, text) in edits {
        let Some(before) = sql.get(copied..start) else {
            return Ok(Cow::Borrowed(sql));
        };
        rewritten.push_str(before);
        rewritten.push_str(&text);
        copied = end;
    }
    let Some(rest) = sql.get(copied..) else {
        return Ok(Cow::Borrowed(sql));
    };
    rewritten.push_str(rest);
    Ok(Cow::Owned(rewritten))
}

/// The placeholder styles one statement uses: how many bare `?`, and the
/// first numbered (`?N`, `$N`) and named (`:name`, `$name`) ones.
#[derive(Default)]
struct Styles {
    bare: usize,
    numbered: Option<String>,
    named: Option<String>,
}

impl Styles {
    fn check(&self) -> Result<(), String> {
        if self.bare > 0
            && let Some(numbered) = &self.numbered
        {
            return Err(format!(
                "the SQL mixes `?` with numbered placeholders (`{numbered}`): use one style"
            ));
        }
        let positional = match &self.numbered {
            Some(numbered) => Some(numbered.as_str()),
            None => (self.bare > 0).then_some("?"),
        };
        if let (Some(positional), Some(named)) = (positional, &self.named) {
            return Err(format!(
                "the SQL mixes positional (`{positional}`) and named (`{named}`) placeholders: use one style"
            ));
        }
        Ok(())
    }
}

/// Whether the tokens cover `sql`, each starting where the one before
/// ended, as the tokenizer's spans do, except for the tokens it reads
/// inside a `/*! ... */` hint: those are placed from the comment's start,
/// before where they are written, and leave a gap.
fn contiguous(sql: &str, tokens: &[TokenWithSpan]) -> bool {
    let mut expected = (1, 1);
    for token in tokens {
        if (token.span.start.line, token.span.start.column) != expected {
            return false;
        }
        expected = (token.span.end.line, token.span.end.column);
    }
    let last_line = sql.rsplit('\n').next().unwrap_or_default();
    let end = (sql.matches('\n').count() + 1, last_line.chars().count() + 1);
    u64::try_from(end.0).is_ok_and(|line| line == expected.0)
        && u64::try_from(end.1).is_ok_and(|column| column == expected.1)
}

/// Whether `text` is a placeholder's number: ASCII digits only.
fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `plan` with its placeholders replaced by `parameters` (each named by
/// the column that carried it).
///
/// Numbered placeholders (`$N`) take the N-th value (in column order),
/// whatever the columns are called (ADBC calls them `0`, `1`, ...), unless
/// every column is named `$N`: then each binds the placeholder of its
/// name. Numbers may skip (`SELECT $2` takes the second of two values).
/// Named placeholders (`$name`) take the value whose column is `name` (or
/// `:name`, `$name`, `@name`). A placeholder without a value is an error
/// naming it, and so is a value no placeholder takes.
pub fn bind(
    plan: LogicalPlan,
    parameters: &[(String, ScalarValue)],
) -> Result<LogicalPlan, String> {
    let placeholders = plan.get_parameter_types().map_err(|e| e.to_string())?;
    if placeholders.is_empty() && parameters.is_empty() {
        return Ok(plan);
    }
    let mut positions: BTreeSet<(usize, &str)> = BTreeSet::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for id in placeholders.keys() {
        // DataFusion looks a value up by the id without its `$`.
        let Some(key) = id.strip_prefix('$') else {
            return Err(format!(
                "the placeholder `{id}` cannot be bound: write `?`, `$1` or `:name`"
            ));
        };
        if digits(key) {
            let position = key
                .parse()
                .map_err(|_| format!("the placeholder `{id}` is out of range"))?;
            positions.insert((position, key));
        } else {
            names.insert(key);
        }
    }
    let values = match (positions.first(), names.first()) {
        (Some((_, positional)), Some(named)) => {
            return Err(format!(
                "the SQL mixes positional (`${positional}`) and named (`${named}`) placeholders: use one style"
            ));
        }
        (None, Some(_)) => named_values(&names, parameters)?,
        _ => positional_values(&positions, parameters)?,
    };
    plan.with_param_values(ParamValues::Map(values))
        .map_err(|e| e.to_string())
}

/// The values of numbered placeholders `positions` (number, and id
/// without its `$`), by the keys DataFusion looks them up by.
fn positional_values(
    positions: &BTreeSet<(usize, &str)>,
    parameters: &[(String, ScalarValue)],
) -> Result<HashMap<String, ScalarAndMetadata>, String> {
    let highest = positions.last().map_or(0, |(position, _)| *position);
    let placeholders = if positions.is_empty() {
        "no placeholders".to_string()
    } else if highest == positions.len() {
        plural(highest, "placeholder", "placeholders")
    } else {
        format!("placeholders up to ${highest}")
    };
    let column_numbers: Option<Vec<usize>> = parameters
        .iter()
        .map(|(name, _)| dollar_number(name))
        .collect();
    // Each value by the number of the placeholder it is for, and what
    // makes a value unused, checked once the missing ones are reported.
    let mut by_number: HashMap<usize, &ScalarValue> = HashMap::new();
    let mut unused = None;
    match column_numbers {
        // Every column is named `$N`: bound by those names.
        Some(numbers) if !numbers.is_empty() => {
            for (number, (name, value)) in numbers.into_iter().zip(parameters) {
                if by_number.insert(number, value).is_some() {
                    return Err(format!("two parameter values are named `{name}`"));
                }
                if (number == 0 || number > highest) && unused.is_none() {
                    unused = Some(format!(
                        "a value for parameter `{name}` was sent but the SQL has {placeholders}"
                    ));
                }
            }
        }
        _ => {
            for (index, (name, value)) in parameters.iter().enumerate() {
                let position = index + 1;
                if dollar_number(name).is_some_and(|number| number != position) {
                    return Err(format!(
                        "parameter value {position} is named `{name}`: name every parameter `$N` to bind them by name, or none to bind them by position"
                    ));
                }
                by_number.insert(position, value);
            }
            if parameters.len() > highest {
                unused = Some(format!(
                    "{} sent but the SQL has {placeholders}",
                    plural(
                        parameters.len(),
                        "parameter value was",
                        "parameter values were"
                    )
                ));
            }
        }
    }
    let mut values = HashMap::new();
    for &(position, key) in positions {
        let value = by_number.get(&position).ok_or_else(|| {
            format!(
                "no value for parameter {position} (placeholder ${position}, or `?` number {position}): {} sent",
                plural(parameters.len(), "value was", "values were")
            )
        })?;
        values.insert(key.to_string(), (*value).clone().into());
    }
    match unused {
        Some(unused) => Err(unused),
        None => Ok(values),
    }
}

/// The values of named placeholders `names` (without their `$`), each
/// from the parameter of its name.
fn named_values(
    names: &BTreeSet<&str>,
    parameters: &[(String, ScalarValue)],
) -> Result<HashMap<String, ScalarAndMetadata>, String> {
    let mut by_name: HashMap<&str, &ScalarValue> = HashMap::new();
    for (name, value) in parameters {
        let key = name.strip_prefix([':', '$', '@']).unwrap_or(name.as_str());
        if by_name.insert(key, value).is_some() {
            return Err(format!("two parameter values are named `{key}`"));
        }
    }
    let mut values = HashMap::new();
    for &key in names {
        let value = by_name.get(key).ok_or_else(|| {
            format!(
                "no value for parameter :{key} (placeholder ${key}): the parameters sent are named {:?}",
                parameters
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
            )
        })?;
        values.insert(key.to_string(), (*value).clone().into());
    }
    if let Some((name, _)) = parameters.iter().find(|(name, _)| {
        !names.contains(name.strip_prefix([':', '$', '@']).unwrap_or(name.as_str()))
    }) {
        return Err(format!(
            "a value for parameter `{name}` was sent but the SQL has no placeholder of that name (its placeholders are {})",
            names
                .iter()
                .map(|name| format!(":{name}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(values)
}

/// N in a parameter named `$N`.
fn dollar_number(name: &str) -> Option<usize> {
    name.strip_prefix('$')
        .filter(|number| digits(number))
        .and_then(|number| number.parse().ok())
}

/// `count` and the noun that goes with it.
fn plural(count: usize, one: &str, more: &str) -> String {
    match count {
        1 => format!("1 {one}"),
        n => format!("{n} {more}"),
    }
}

/// The name of a `:name` placeholder whose colon is `tokens[index]`.
fn named_after_colon(tokens: &[TokenWithSpan], index: usize) -> Option<String> {
    let next = tokens.get(index + 1)?;
    let Token::Word(word) = &next.token else {
        return None;
    };
    // A name `$name` reads back whole (a `$` or `#` in it would not).
    if word.quote_style.is_some() || !word.value.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let colon = &tokens[index].span;
    // `:name` is one lexeme: the name starts right after the colon.
    let adjacent = next.span.start.line == colon.start.line
        && next.span.start.column == colon.start.column + 1;
    let before = index.checked_sub(1).and_then(|i| tokens.get(i));
    // `a[1:n]`, `a[i:n]`, `{'k':v}`, `f(x):n`: the colon follows an operand.
    let after_operand =
        before.is_some_and(|before| is_operand(&before.token) && before.span.end == colon.start);
    // `a[:n]`: a slice from the start.
    let slice_start = tokens[..index]
        .iter()
        .rev()
        .find(|token| !matches!(token.token, Token::Whitespace(_)))
        .is_some_and(|token| token.token == Token::LBracket);
    (adjacent && !after_operand && !slice_start).then(|| word.value.clone())
}

/// Whether `token` ends an operand: a name, a number, a string, a
/// placeholder, or a closing bracket or parenthesis.
fn is_operand(token: &Token) -> bool {
    matches!(
        token,
        Token::Word(_)
            | Token::Number(..)
            | Token::Placeholder(_)
            | Token::RBracket
            | Token::RParen
            | Token::RBrace
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
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
        rest.char_indices()
            .nth(column)
            .map(|(offset, _)| line_start + offset)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::LogicalPlan;
    use datafusion::prelude::SessionContext;

    use super::{bind, normalize};

    fn normalized(sql: &str) -> String {
        normalize(sql).expect("normalizes").into_owned()
    }

    #[test]
    fn question_marks_are_numbered_in_order() {
        assert_eq!(
            normalized("SELECT * FROM t WHERE a = ? AND b > ?"),
            "SELECT * FROM t WHERE a = $1 AND b > $2"
        );
        assert_eq!(normalized("SELECT ?2, ?1"), "SELECT $2, $1");
        assert_eq!(normalized("SELECT ?2, $1"), "SELECT $2, $1");
    }

    #[test]
    fn question_marks_are_numbered_in_each_statement() {
        assert_eq!(
            normalized("SET a = ?; SELECT ?, ?"),
            "SET a = $1; SELECT $1, $2"
        );
        // Styles are one statement's choice.
        assert_eq!(normalized("SELECT ?; SELECT $1"), "SELECT $1; SELECT $1");
    }

    #[test]
    fn named_placeholders_become_dollar_names() {
        assert_eq!(
            normalized("SELECT * FROM t WHERE service = :s AND n < :limit_1"),
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
            assert_eq!(normalized(sql), sql);
        }
    }

    #[test]
    fn placeholders_after_comments_and_strings_of_every_kind_are_rewritten() {
        assert_eq!(
            normalized(
                "SELECT $$a?$$, E'\\'?', 'é' -- ?\r\n\tFROM t /* ? */ WHERE y = ? AND z = ?"
            ),
            "SELECT $$a?$$, E'\\'?', 'é' -- ?\r\n\tFROM t /* ? */ WHERE y = $1 AND z = $2"
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            normalized("SELECT 'héllo', ?\n  WHERE x = ?"),
            "SELECT 'héllo', $1\n  WHERE x = $2"
        );
    }

    #[test]
    fn hint_comments_are_not_rewritten_at_wrong_places() {
        // The tokenizer reads `/*! ... */` as SQL but places its tokens
        // from the comment's start: the first panicked slicing inside `é`.
        for sql in [
            "SELECT 1 /*!éxx?*/",
            "SELECT 1 /*! + ?*/ AS x",
            "SELECT 1 /*!50110 + :n*/ AS x",
            // Placed 3 characters early, the `?` lands on the one in the
            // string: its text alone would match.
            "SELECT 1 /*!'?' ?*/",
            "SELECT ? /*!é\n + ?*/",
        ] {
            assert_eq!(normalize(sql), Ok(sql.into()), "{sql}");
        }
    }

    #[test]
    fn a_placeholder_does_not_run_into_the_name_after_it() {
        assert_eq!(
            normalized("SELECT * FROM t WHERE a = ?OR b = ?"),
            "SELECT * FROM t WHERE a = $1 OR b = $2"
        );
        assert_eq!(normalized("SELECT ?x"), "SELECT $1 x");
        assert_eq!(normalized("SELECT ?2x, ?1_"), "SELECT $2 x, $1 _");
        assert_eq!(normalized("SELECT ?é"), "SELECT $1 é");
        assert_eq!(normalized("SELECT ?, ?+1"), "SELECT $1, $2+1");
    }

    #[test]
    fn struct_keys_and_slice_bounds_are_not_named_placeholders() {
        for sql in [
            "SELECT {'k':service}",
            "SELECT {\"k\":service}",
            "SELECT make_array(1,2,3)[:n]",
            "SELECT make_array(1,2,3)[ :n]",
            "SELECT a[1:n:2]",
            // `:a$b` would read back as a dollar-quoted string.
            "SELECT :a$b",
        ] {
            assert_eq!(normalized(sql), sql, "{sql}");
        }
        assert_eq!(normalized("SELECT a[?:n]"), "SELECT a[$1:n]");
        assert_eq!(normalized("SELECT {'k': :v}"), "SELECT {'k': $v}");
    }

    #[test]
    fn mixed_styles_are_refused() {
        for (sql, expected) in [
            (
                "SELECT ?, ?2",
                "the SQL mixes `?` with numbered placeholders (`?2`)",
            ),
            (
                "SELECT $1, ?",
                "the SQL mixes `?` with numbered placeholders (`$1`)",
            ),
            (
                "SELECT ?, :s",
                "the SQL mixes positional (`?`) and named (`:s`)",
            ),
            (
                "SELECT :s, ?2",
                "the SQL mixes positional (`?2`) and named (`:s`)",
            ),
            (
                "SELECT $1, $s",
                "the SQL mixes positional (`$1`) and named (`$s`)",
            ),
            (
                "SELECT 1; SELECT ?, $s",
                "the SQL mixes positional (`?`) and named (`$s`)",
            ),
        ] {
            let error = normalize(sql).expect_err(sql);
            assert!(error.starts_with(expected), "{sql}: {error}");
            assert!(error.ends_with("use one style"), "{sql}: {error}");
        }
        assert_eq!(normalized("SELECT :s, $t"), "SELECT $s, $t");
    }

    fn plan(sql: &str) -> LogicalPlan {
        let sql = normalized(sql);
        futures::executor::block_on(SessionContext::new().state().create_logical_plan(&sql))
            .expect("plans")
    }

    fn values(values: &[(&str, i64)]) -> Vec<(String, ScalarValue)> {
        values
            .iter()
            .map(|(name, value)| (name.to_string(), ScalarValue::Int64(Some(*value))))
            .collect()
    }

    fn bound(sql: &str, parameters: &[(&str, i64)]) -> Result<String, String> {
        let plan = bind(plan(sql), &values(parameters))?;
        assert!(plan.get_parameter_types().expect("types").is_empty());
        Ok(plan.display_indent().to_string())
    }

    #[test]
    fn numbered_placeholders_bind_by_position_whatever_the_columns_are_called() {
        let plan = bound("SELECT ? AS a, ? AS b", &[("0", 10), ("1", 20)]).expect("binds");
        assert!(plan.contains("Int64(10) AS a, Int64(20) AS b"), "{plan}");
        let plan = bound("SELECT ?2 AS b, ?1 AS a", &[("x", 10), ("y", 20)]).expect("binds");
        assert!(plan.contains("Int64(20) AS b, Int64(10) AS a"), "{plan}");
        let plan = bound("SELECT $1 AS a, $2 AS b", &[("$1", 10), ("x", 20)]).expect("binds");
        assert!(plan.contains("Int64(10) AS a, Int64(20) AS b"), "{plan}");
    }

    #[test]
    fn columns_all_named_dollar_n_bind_by_their_names() {
        let plan = bound("SELECT $1 AS a, $2 AS b", &[("$2", 20), ("$1", 10)]).expect("binds");
        assert!(plan.contains("Int64(10) AS a, Int64(20) AS b"), "{plan}");
        let plan = bound("SELECT ?2 AS b", &[("$2", 20)]).expect("binds");
        assert!(plan.contains("Int64(20) AS b"), "{plan}");
        // Some named `$N` but not where they are: refused, not guessed.
        let error = bound("SELECT $1 AS a, $2 AS b", &[("$2", 20), ("x", 10)]).unwrap_err();
        assert!(
            error.starts_with("parameter value 1 is named `$2`"),
            "{error}"
        );
    }

    #[test]
    fn named_placeholders_bind_by_column_name() {
        for name in ["s", ":s", "$s", "@s"] {
            let plan = bound("SELECT :s AS a, $t AS b", &[("t", 2), (name, 1)]).expect(name);
            assert!(plan.contains("Int64(1) AS a, Int64(2) AS b"), "{plan}");
        }
        let error = bound("SELECT :s AS a", &[("t", 2)]).unwrap_err();
        assert!(
            error.starts_with("no value for parameter :s (placeholder $s)"),
            "{error}"
        );
        let error = bound("SELECT :s AS a", &[("s", 1), (":s", 2)]).unwrap_err();
        assert_eq!(error, "two parameter values are named `s`");
    }

    #[test]
    fn values_no_placeholder_takes_are_refused() {
        assert_eq!(
            bound("SELECT ? AS a, ? AS b", &[("0", 1), ("1", 2), ("2", 3)]).unwrap_err(),
            "3 parameter values were sent but the SQL has 2 placeholders"
        );
        assert_eq!(
            bound("SELECT ?2 AS b", &[("0", 1), ("1", 2), ("2", 3)]).unwrap_err(),
            "3 parameter values were sent but the SQL has placeholders up to $2"
        );
        assert_eq!(
            bound("SELECT 1", &[("0", 1)]).unwrap_err(),
            "1 parameter value was sent but the SQL has no placeholders"
        );
        assert_eq!(
            bound("SELECT $1 AS a", &[("$1", 1), ("$3", 3)]).unwrap_err(),
            "a value for parameter `$3` was sent but the SQL has 1 placeholder"
        );
        let error = bound("SELECT :s AS a", &[("s", 1), ("t", 2)]).unwrap_err();
        assert!(
            error.starts_with(
                "a value for parameter `t` was sent but the SQL has no placeholder of that name"
            ),
            "{error}"
        );
        assert!(bound("SELECT 1", &[]).is_ok());
    }

    #[test]
    fn numbers_may_skip_but_not_miss() {
        let plan = bound("SELECT ?2 AS b", &[("0", 1), ("1", 2)]).expect("binds");
        assert!(plan.contains("Int64(2) AS b"), "{plan}");
        assert_eq!(
            bound("SELECT ?2 AS b", &[("0", 1)]).unwrap_err(),
            "no value for parameter 2 (placeholder $2, or `?` number 2): 1 value was sent"
        );
    }
}

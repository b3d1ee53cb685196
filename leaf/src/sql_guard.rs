//! Limits on SQL text that DataFusion's own recursion guards miss.
//!
//! sqlparser reads `1 + 1 + ... + 1` in a loop, not by recursion, so its
//! recursion limit lets a chain of any length through; DataFusion then
//! builds, clones and walks the expression tree recursively, and about
//! 2,000 operators overflowed a 2 MiB thread stack and aborted the whole
//! process. Shoal runs its threads with a 16 MiB stack and, before anything
//! parses a request's SQL (a query on an aggregator, a scan filter on a
//! leaf), counts its binary operators: more than [`MAX_OPERATORS`] is
//! refused with a clear error.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Most binary operators (`+`, `AND`, `=`, `||`, ...) one request may hold.
pub const MAX_OPERATORS: usize = 4_096;
/// Stack size of Shoal's threads.
pub const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Fails when `sql` holds more than [`MAX_OPERATORS`] binary operators.
/// Text that does not tokenize is left for the parser to report.
pub fn check_operator_count(sql: &str) -> Result<(), String> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let operators = tokens
        .iter()
        .filter(|token| is_binary_operator(token))
        .count();
    match operators > MAX_OPERATORS {
        true => Err(format!(
            "the SQL holds {operators} operators, over the limit of {MAX_OPERATORS}; use IN (...) lists or split the query"
        )),
        false => Ok(()),
    }
}

fn is_binary_operator(token: &Token) -> bool {
    match token {
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Eq
        | Token::DoubleEq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Ampersand
        | Token::Pipe
        | Token::Caret => true,
        Token::Word(word) => matches!(word.keyword, Keyword::AND | Keyword::OR),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chains_are_refused_and_lists_are_not() {
        let chain = vec!["1"; MAX_OPERATORS + 2].join(" + ");
        let error = check_operator_count(&format!("SELECT {chain}")).unwrap_err();
        assert!(error.contains("over the limit"), "{error}");
        let ors = vec!["a = 1"; 1_000].join(" OR ");
        assert!(check_operator_count(&format!("SELECT * FROM t WHERE {ors}")).is_ok());
        let list = (0..100_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(check_operator_count(&format!("SELECT * FROM t WHERE a IN ({list})")).is_ok());
    }
}

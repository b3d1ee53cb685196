//! Limits on SQL text that DataFusion's own recursion guards miss.
//!
//! sqlparser reads `1 + 1 + ... + 1` (and `x::T::T...`, `x IS NULL IS
//! NULL...`, `LIKE`, `AT TIME ZONE`, `[i][i]...` chains) in a loop, not by
//! recursion, so its recursion limit lets a chain of any length through;
//! DataFusion then builds, clones and walks the expression tree
//! recursively, and about 2,000 operators overflowed a 2 MiB thread stack
//! and aborted the whole process. Shoal runs its threads with a 16 MiB
//! stack and, before anything parses a request's SQL (a query on an
//! aggregator, a scan filter on a leaf), counts every token that can join
//! two expressions: every keyword and every symbol but commas, parentheses,
//! dots and semicolons. Identifiers, numbers and strings do not count, so
//! long `IN (...)` lists stay fine. More than [`MAX_OPERATORS`] is refused.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Most keywords and operator symbols one request may hold.
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

/// Whether `token` may join two expressions; see the module docs.
fn is_binary_operator(token: &Token) -> bool {
    match token {
        Token::Word(word) => word.keyword != Keyword::NoKeyword,
        Token::Number(..)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Whitespace(_)
        | Token::Comma
        | Token::Period
        | Token::SemiColon
        | Token::LParen
        | Token::RParen
        | Token::EOF => false,
        _ => true,
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
        let casts = "::BIGINT".repeat(MAX_OPERATORS + 1);
        assert!(check_operator_count(&format!("SELECT 1{casts}")).is_err());
        let nulls = " IS NULL".repeat(MAX_OPERATORS + 1);
        assert!(check_operator_count(&format!("SELECT 1{nulls}")).is_err());
        let list = (0..100_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(check_operator_count(&format!("SELECT * FROM t WHERE a IN ({list})")).is_ok());
    }
}

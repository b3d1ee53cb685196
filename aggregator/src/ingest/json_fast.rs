//! The quick reading of a JSON line in the shapes log shippers send: an
//! object of strings without escapes, `true`/`false`/`null`, integers of up
//! to 18 digits, decimals of up to 15 digits without an exponent, arrays of
//! such strings, and objects of these nested a few deep. On anything else
//! (escapes, exponents, long numbers, mixed arrays, bad JSON) it gives up
//! and the line is read by `serde_json` ([`json_line`]), so both readings
//! give the same fields and every error comes from one place. The `ndjson`
//! fuzz target checks that they agree.
//!
//! [`json_line`]: crate::ingest::json_line

use std::borrow::Cow;

use crate::ingest::column_set::Fields;
use crate::ingest::scalar::Scalar;

/// Objects nested deeper than this are left to `serde_json`.
const MAX_FAST_DEPTH: usize = 8;
// Deeper rows are refused by the serde reading: the quick one must give up
// before that depth, never take what it refuses.
const _: () = assert!(MAX_FAST_DEPTH < crate::ingest::json_rows::MAX_DEPTH);

/// Powers of ten a decimal of at most 15 digits is divided by.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Reads `text` into `fields` (appending) if it is an object of the shapes
/// above; `false` if it is not, with `fields` then holding a partial row.
pub fn read_line<'a>(text: &'a str, fields: &mut Fields<'a>) -> bool {
    let mut cursor = Cursor { text, at: 0 };
    cursor.skip_space();
    let read = cursor.eat(b'{') && cursor.object("", 0, fields).is_some();
    cursor.skip_space();
    read && cursor.at == text.len()
}

/// The value at byte `at` of `text` if it is one of the shapes above but
/// an object (a string, a number, `true`, `false`, `null`, a string set),
/// read as [`read_line`] reads it; and the byte after it.
#[inline(always)]
pub fn read_scalar(text: &str, at: usize) -> Option<(Scalar<'_>, usize)> {
    let mut cursor = Cursor { text, at };
    let value = cursor.scalar()?;
    Some((value, cursor.at))
}

/// The string without escapes at byte `at` of `text` (its `"` there), and
/// the byte after its closing `"`.
pub fn read_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let mut cursor = Cursor { text, at };
    let string = cursor.string()?;
    Some((string, cursor.at))
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    #[inline(always)]
    fn eat_word(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// The members of an object whose `{` is read, through its `}`.
    fn object(&mut self, prefix: &str, depth: usize, fields: &mut Fields<'a>) -> Option<()> {
        self.skip_space();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            if key.is_empty() {
                return None;
            }
            self.skip_space();
            self.eat(b':').then_some(())?;
            self.skip_space();
            let name = match prefix.is_empty() {
                true => Cow::Borrowed(key),
                false => Cow::Owned(format!("{prefix}.{key}")),
            };
            self.value(name, depth, fields)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, name: Cow<'a, str>, depth: usize, fields: &mut Fields<'a>) -> Option<()> {
        if self.peek()? == b'{' {
            if depth >= MAX_FAST_DEPTH {
                return None;
            }
            self.at += 1;
            return self.object(&name, depth + 1, fields);
        }
        let value = self.scalar()?;
        fields.push((name, value));
        Some(())
    }

    /// A value that is not an object.
    #[inline(always)]
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => Scalar::Str(Cow::Borrowed(self.string()?)),
            b't' => self.eat_word("true").map(|()| Scalar::Bool(true))?,
            b'f' => self.eat_word("false").map(|()| Scalar::Bool(false))?,
            b'n' => self.eat_word("null").map(|()| Scalar::Null)?,
            b'-' | b'0'..=b'9' => self.number()?,
            b'[' => self.strings()?,
            _ => return None,
        })
    }

    /// A string without escapes or control characters, its `"`s read.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"').then_some(())?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        loop {
            match *bytes.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let text = self.text.get(start..self.at)?;
        self.at += 1;
        Some(text)
    }

    /// An array of strings (a string set), its `[` next.
    fn strings(&mut self) -> Option<Scalar<'a>> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.eat(b']') {
            return Some(Scalar::Set(items));
        }
        loop {
            self.skip_space();
            items.push(Cow::Borrowed(self.string()?));
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Scalar::Set(items));
                }
                _ => return None,
            }
        }
    }

    /// An integer of up to 18 digits (not `-0`) or a decimal of up to 15
    /// digits without an exponent: values `serde_json` reads exactly too.
    #[inline(always)]
    fn number(&mut self) -> Option<Scalar<'a>> {
        let negative = self.eat(b'-');
        let first = self.peek()?;
        let (mantissa, int_digits) = self.digits(0)?;
        if first == b'0' && int_digits > 1 {
            return None;
        }
        let exponent = |cursor: &Self| matches!(cursor.peek(), Some(b'e' | b'E'));
        if !self.eat(b'.') {
            if exponent(self) || int_digits > 18 {
                return None;
            }
            let value = i64::try_from(mantissa).ok()?;
            return match (negative, value) {
                (true, 0) => None,
                (true, _) => Some(Scalar::Int(-value)),
                (false, _) => Some(Scalar::Int(value)),
            };
        }
        let (mantissa, fraction_digits) = self.digits(mantissa)?;
        if exponent(self) || int_digits + fraction_digits > 15 {
            return None;
        }
        let magnitude = mantissa as f64 / POW10.get(fraction_digits)?;
        Some(Scalar::Float(if negative { -magnitude } else { magnitude }))
    }

    /// One or more digits appended to `value` (wrapping past 19 digits:
    /// callers refuse those), and how many there were.
    #[inline(always)]
    fn digits(&mut self, mut value: u64) -> Option<(u64, usize)> {
        let start = self.at;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
            self.at += 1;
        }
        (self.at > start).then_some((value, self.at - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::json_line::read_fields;

    /// Both readings of `text`: the quick one if it reads it, and serde's.
    fn both(text: &str) -> (Option<String>, Option<String>) {
        let mut fast = Vec::new();
        let fast = read_line(text, &mut fast).then(|| format!("{fast:?}"));
        let mut slow = Vec::new();
        let slow = read_fields(text, &mut slow)
            .ok()
            .map(|()| format!("{slow:?}"));
        (fast, slow)
    }

    #[test]
    fn reads_a_shipped_log_line() {
        let text = r#"{"time":"2026-11-13T00:00:04.459Z","status":204,"latency_ms":37.423,"ok":true,"gone":null,"tags":["canary","x"],"user":{"id":-7,"name":"é"}}"#;
        let mut fields = Vec::new();
        assert!(read_line(text, &mut fields));
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_ref()).collect();
        let expected = [
            "time",
            "status",
            "latency_ms",
            "ok",
            "gone",
            "tags",
            "user.id",
            "user.name",
        ];
        assert_eq!(names, expected);
        assert_eq!(fields[2].1, Scalar::Float(37.423));
        assert_eq!(fields[6].1, Scalar::Int(-7));
        let (fast, slow) = both(text);
        assert_eq!(fast, slow);
    }

    /// Values in and out of the quick shapes.
    const VALUES: [&str; 46] = [
        "0",
        "-0",
        "7",
        "-12",
        "01",
        "1.0",
        "-0.0",
        "0.5",
        "1e5",
        "1E-2",
        "3.141592653589793",
        "123456789012345678",
        "999999999999999999",
        "1234567890123456789",
        "18446744073709551616",
        "12345678901234.5",
        "1.",
        ".5",
        "-",
        "--1",
        "true",
        "false",
        "null",
        "nul",
        "\"x\"",
        "\"\"",
        "\"é ü\"",
        "\"a\\nb\"",
        "\"\\u00e9\"",
        "[]",
        "[\"a\",\"b\"]",
        "[ \"a\" , \"b\" ]",
        "[\"a\",1]",
        "[1]",
        "[\"a\",]",
        "{}",
        "{\"k\":1}",
        "{\"k\":{\"j\":\"v\"}}",
        "{\"k\":[\"s\"]}",
        "{\"\":1}",
        "x",
        "-0.5",
        "tru",
        "\"é\"",
        "[\"a\", \"b\"]",
        "",
    ];

    #[test]
    fn gives_up_on_what_serde_must_read() {
        for text in [
            r#"{"a":"x\"y"}"#,
            r#"{"a":1e5}"#,
            r#"{"a":1234567890123456789}"#,
            r#"{"a":1.2345678901234567}"#,
            r#"{"a":-0}"#,
            r#"{"a":01}"#,
            r#"{"a":[1,"x"]}"#,
            r#"{"":1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"a":1"#,
            r#"{"a":tru}"#,
            r#"[1]"#,
            "{\"a\":\"tab\tin\"}",
            r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":1}}}}}}}}}}"#,
        ] {
            let mut fields = Vec::new();
            assert!(!read_line(text, &mut fields), "{text}");
        }
    }

    /// Random lines of pieces that are and are not in the quick shapes: when
    /// the quick reading takes a line, serde reads the same fields from it.
    #[test]
    fn agrees_with_serde_whenever_it_reads_a_line() {
        let values = VALUES;
        let keys = ["a", "b", "a.b", "time", "", "k\\n", "é"];
        let spaces = ["", " ", "\t", "\n ", "\r"];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut read = 0;
        for _ in 0..50_000 {
            let mut text = String::from(spaces[next(spaces.len())]);
            text.push('{');
            for member in 0..next(5) {
                if member > 0 {
                    text.push(',');
                }
                text.push_str(spaces[next(spaces.len())]);
                text.push_str(&format!("\"{}\"", keys[next(keys.len())]));
                text.push_str(spaces[next(spaces.len())]);
                text.push(':');
                text.push_str(spaces[next(spaces.len())]);
                text.push_str(values[next(values.len())]);
                text.push_str(spaces[next(spaces.len())]);
            }
            text.push('}');
            text.push_str(spaces[next(spaces.len())]);
            let cut = next(text.len() + 1);
            if next(20) == 0 && text.is_char_boundary(cut) {
                text.truncate(cut);
            }
            let (fast, slow) = both(&text);
            if let Some(fast) = fast {
                read += 1;
                assert_eq!(Some(fast), slow, "{text}");
            }
        }
        assert!(read > 5_000, "the quick reading took only {read} lines");
    }
}

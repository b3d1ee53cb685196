//! Shapes read lines as the general reading does: generated lines of a few
//! shapes with every kind of bad value, and the rules for the time keys.

use super::*;
use crate::fleet::TableView;
use crate::ingest::decode_lines::{LineRules, Resume, decode_chunk, start_columns};
use crate::ingest::merge::merge_chunks;
use shoal_contract::column_type::ColumnType;

/// A small random number source (xorshift), the same on every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Lines of a few shapes, mostly repeated, with values of the wrong kind,
/// nulls, times good and bad, nested objects, escapes, spaces, keys given
/// twice and keys that come and go.
fn lines(dice: &mut Dice, count: usize) -> String {
    let keys = [
        "time", "ts", "svc", "status", "lat", "tags", "ok", "gone", "when",
    ];
    let values: [&[&str]; 9] = [
        &[
            "\"2026-11-19T10:00:00.5Z\"",
            "1763000000",
            "1763000000123",
            "\"soon\"",
            "null",
            "1.5",
        ],
        &["\"2026-11-19T11:00:00Z\"", "1763000001", "null", "true"],
        &["\"api\"", "\"a\\\"b\"", "5", "true", "null", "\"é\""],
        &[
            "200",
            "404",
            "\"200\"",
            "1.5",
            "null",
            "18446744073709551615",
            "-0",
        ],
        &["1.25", "3", "\"x\"", "null", "1e3"],
        &["[\"a\"]", "[]", "[\"a\",\"b\"]", "\"a\"", "[1]", "null"],
        &["true", "false", "null", "1"],
        &["null", "null", "null", "7"],
        &["\"2026-11-19T12:00:00Z\"", "null"],
    ];
    let orders: [&[usize]; 3] = [&[0, 2, 3, 4, 5, 6, 7], &[1, 2, 3, 4, 8], &[2, 0, 3, 5]];
    let mut text = String::new();
    let mut order = 0;
    for line in 0..count {
        if dice.below(50) == 0 {
            order = dice.below(orders.len());
        }
        let mut members: Vec<usize> = orders[order].to_vec();
        match dice.below(40) {
            0 => members.push(dice.below(keys.len())),
            1 => drop(members.pop()),
            2 => members.swap(0, 1),
            _ => {}
        }
        let space = if line > 0 && dice.below(60) == 0 {
            " "
        } else {
            ""
        };
        text.push('{');
        for (n, &k) in members.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            // The first line sets the columns' types.
            let value = match (line, dice.below(30)) {
                (1.., 0) => dice.pick(values[k]),
                _ => values[k][0],
            };
            let value = match line > 0 && dice.below(200) == 0 {
                true => "{\"a\":1}",
                false => value,
            };
            text.push_str(&format!("\"{}\":{space}{value}", keys[k]));
        }
        text.push_str("}\n");
    }
    text
}

/// `text` decoded in chunks of `part` lines for a table known as
/// `known`, with or without shapes; and the lines the shapes read.
fn decode(
    text: &str,
    part: usize,
    time_field: Option<&str>,
    known: Option<&TableView>,
    shapes: bool,
) -> (crate::ingest::decode_lines::Decoded, usize) {
    let lines: Vec<(usize, &[u8])> = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.as_bytes()))
        .collect();
    let rules = LineRules {
        time_field,
        shapes,
        ..LineRules::default()
    };
    let start = start_columns(known);
    let resume = Resume::default();
    let chunks: Vec<_> = lines
        .chunks(part)
        .map(|part| decode_chunk(part, rules, start.clone(), &resume))
        .collect();
    let shaped = chunks.iter().map(|chunk| chunk.shaped).sum();
    let parts: Vec<_> = lines.chunks(part).collect();
    let redo = |i: usize, columns| decode_chunk(parts[i], rules, columns, &resume);
    let decoded = merge_chunks(chunks, &start, redo).unwrap().unwrap();
    (decoded, shaped)
}

/// Read by shapes or not, the same rows, the same errors, the same batch;
/// and most lines were read by a shape.
#[test]
fn lines_read_by_shape_are_the_rows_the_general_reading_makes() {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let known = TableView {
        columns: vec![
            ("status".into(), ColumnType::Integer),
            ("lat".into(), ColumnType::Float),
            ("svc".into(), ColumnType::String),
        ],
        ..Default::default()
    };
    for round in 0..12 {
        let text = lines(&mut dice, 3_000);
        let time_field = [None, Some("ts"), Some("when")][round % 3];
        let known = (round % 2 == 1).then_some(&known);
        let part = [3_000, 700][round / 6];
        let (quick, shaped) = decode(&text, part, time_field, known, true);
        let (general, none) = decode(&text, part, time_field, known, false);
        assert_eq!(none, 0);
        assert!(
            shaped > 1_000,
            "round {round}: only {shaped} lines by shape"
        );
        assert_eq!(quick.lines, general.lines, "round {round}");
        assert_eq!(quick.errors, general.errors, "round {round}");
        assert!(general.errors.len() > 50, "round {round}: too few bad rows");
        assert_eq!(quick.batch, general.batch, "round {round}");
    }
}

#[test]
fn a_shape_is_learned_only_from_plain_compact_lines() {
    let set = ColumnSet::new(start_columns(None));
    let mut rows = Vec::new();
    let text = r#"{"time":1763000000,"a":"x"}"#;
    // The set lacks `a`, and `a` is not null: no shape.
    assert!(Shape::learn(text, &set, None).is_none());
    let mut taken = ColumnSet::new(start_columns(None));
    crate::ingest::json_line::decode_line(text, None, &mut rows).unwrap();
    taken.push_row(&rows).unwrap();
    let shape = Shape::learn(text, &taken, None).unwrap();
    let mut staged = Vec::new();
    assert!(shape.read(r#"{"time":"2026-11-19T10:00:00Z","a":"y"}"#, &mut staged));
    assert_eq!(staged[1].1, Scalar::Str("y".into()));
    assert!(matches!(staged[0].1, Scalar::Time(1_795_082_400_000_000)));
    for other in [
        r#"{"time":1,"a":"y","b":1}"#,
        r#"{"a":"y","time":1}"#,
        r#"{"time": 1,"a":"y"}"#,
        r#"{"time":1,"a":{"b":1}}"#,
        r#"{"time":1,"a":"y"} "#,
        r#"{"time":1,"a":"y\n"}"#,
    ] {
        assert!(!shape.read(other, &mut staged), "{other}");
    }
    for unlearned in [
        r#"{"time":1, "a":"x"}"#,
        r#"{"time":1,"a":"x","a":"y"}"#,
        r#"{"time":1,"a":{"b":1}}"#,
    ] {
        assert!(
            Shape::learn(unlearned, &taken, None).is_none(),
            "{unlearned}"
        );
    }
}

/// Lines whose shape rules need care read as the general way reads them:
/// a `time` key beside the named time field (dropped), a null time (no
/// time), the time in a field of lower rank; and each is read by shape
/// where it can be.
#[test]
fn time_keys_read_by_shape_as_the_general_way() {
    let cases: [(Option<&str>, &str, usize); 4] = [
        (
            Some("ts"),
            r#"{"ts":"2026-11-19T10:00:00Z","time":"2026-11-19T11:00:00Z","a":1}"#,
            0,
        ),
        (None, r#"{"time":null,"a":1}"#, 3),
        (
            None,
            r#"{"date":"2026-11-19T10:00:00Z","ts":1763000000,"a":1}"#,
            3,
        ),
        (Some("when"), r#"{"time":"2026-11-19T10:00:00Z","a":1}"#, 3),
    ];
    for (time_field, line, by_shape) in cases {
        let text = format!("{line}\n{line}\n{line}\n{line}\n");
        let (quick, shaped) = decode(&text, 10, time_field, None, true);
        let (general, _) = decode(&text, 10, time_field, None, false);
        assert_eq!(shaped, by_shape, "{line}");
        assert_eq!(quick.errors, general.errors, "{line}");
        assert_eq!(quick.batch, general.batch, "{line}");
        assert_eq!(quick.lines, vec![1, 2, 3, 4], "{line}");
    }
}

/// Lines that miss the shape many times in a row pause the learning, and
/// a source that settles is learned again.
#[test]
fn learning_pauses_and_comes_back() {
    let mut text = "{\"a\": 1}\n".repeat(40);
    text.push_str(&"{\"a\":1}\n".repeat(1_000));
    let (quick, shaped) = decode(&text, 2_000, None, None, true);
    let (general, _) = decode(&text, 2_000, None, None, false);
    assert!((700..1_000).contains(&shaped), "{shaped} lines by shape");
    assert_eq!(quick.batch, general.batch);
}

/// Keys are compared as slice equality compares them: every length to 24,
/// a byte changed at each place (each word's first and last bytes too),
/// and slices of other lengths.
#[test]
fn keys_compare_as_slices_do() {
    for n in 0..=24 {
        let a: Vec<u8> = (0..n as u8).map(|i| b'a' + i).collect();
        assert!(same_bytes(&a, &a.clone()), "{n}");
        for at in 0..n {
            let mut b = a.clone();
            b[at] ^= 0x20;
            assert!(!same_bytes(&a, &b), "{n} {at}");
        }
        assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
    }
}

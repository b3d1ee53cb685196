//! The quickest reading of a JSON line: one with the same keys in the same
//! order as a line before it, as the lines of one log source mostly are.
//!
//! After a line is read the general way ([`json_fast`] or `serde_json`, then
//! [`ColumnSet::push_row`]), its shape is learned: each key as its bytes
//! (`"status":`), the column it went to, and which key held the row's time.
//! A next line of that shape is read member by member against those bytes,
//! each value read as [`json_fast`] reads it and put straight in its column
//! ([`ColumnSet::push_staged`]): no names, no lookups, no moving of the time.
//! Anything else (a key that differs, a space between tokens, a nested
//! object, a value its column does not take as it is, a time that is not
//! one) leaves the line to the general reading, which gives the same row
//! or says why it rejects it: this reading never rejects a row for its
//! values.
//!
//! A shape is learned only from a line of top-level members, each key once,
//! in the compact form shippers send (no spaces between tokens, but inside
//! a string set, which is read as [`json_fast`] reads it).
//!
//! [`json_fast`]: crate::ingest::json_fast
//! [`ColumnSet::push_row`]: crate::ingest::column_set::ColumnSet::push_row

use crate::ingest::column_set::ColumnSet;
use crate::ingest::json_fast::{read_scalar, read_string};
use crate::ingest::json_line::time_source;
use crate::ingest::scalar::Scalar;
use shoal_contract::column_type::{MAX_COLUMN_NAME_BYTES, TIME_COLUMN};

/// Lines in a row that may miss the shape, each then learned from, before
/// learning pauses (lines that hardly ever match the one before).
const FREE_MISSES: usize = 16;
/// While paused, one line in this many missing in a row is learned from.
const PAUSED_LEARNING: usize = 256;
/// Members of a shape, at most: a line of more is read the general way
/// (and learning stays cheap: its keys are told apart pairwise).
const MAX_MEMBERS: usize = 64;

/// What a member's value is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// A value of the column at this slot.
    Column(usize),
    /// The row's time, for the `time` column at this slot.
    Time(usize),
    /// A key whose values were null: a value would make a new column.
    Null,
}

/// One member of a shape: its key's bytes with the `:` after it.
#[derive(Debug)]
struct Member {
    key: Box<[u8]>,
    role: Role,
}

/// The keys of a line, in order, and where their values go.
#[derive(Debug)]
pub struct Shape {
    members: Vec<Member>,
}

impl Shape {
    /// The shape of `text`, a line `set` has just taken, whose time (if
    /// any) came from `time_field` ([`time_source`]).
    pub fn learn(text: &str, set: &ColumnSet, time_field: Option<&str>) -> Option<Self> {
        let bytes = text.as_bytes();
        (bytes.first() == Some(&b'{')).then_some(())?;
        let mut at = 1;
        // Each member's name, key bytes, and whether its value was null.
        let mut read: Vec<(&str, &[u8], bool)> = Vec::new();
        while bytes.get(at) != Some(&b'}') {
            if !read.is_empty() {
                (bytes.get(at) == Some(&b',')).then_some(())?;
                at += 1;
            }
            let start = at;
            let (name, after) = read_string(text, at)?;
            (bytes.get(after) == Some(&b':')).then_some(())?;
            // Names past the column limit (a row with one is rejected, or
            // its value was null) are not learned; nor are long lists.
            let long = name.len() > MAX_COLUMN_NAME_BYTES || read.len() == MAX_MEMBERS;
            if name.is_empty() || long || read.iter().any(|m| m.0 == name) {
                return None;
            }
            let (value, after_value) = read_scalar(text, after + 1)?;
            read.push((name, bytes.get(start..after + 1)?, value.is_null()));
            at = after_value;
        }
        (at + 1 == bytes.len()).then_some(())?;
        // The time as `move_time` finds it, which a `time` key must be if
        // there is one (else `move_time` drops that key: so no two members
        // ever go to one column).
        let time = time_source(read.iter().map(|m| m.0), time_field);
        if time.is_some_and(|k| read[k].0 != TIME_COLUMN) && read.iter().any(|m| m.0 == TIME_COLUMN)
        {
            return None;
        }
        let mut members = Vec::with_capacity(read.len());
        for (k, (name, key, null)) in read.into_iter().enumerate() {
            let role = match (time == Some(k), set.slot(name)) {
                (true, _) => Role::Time(set.slot(TIME_COLUMN)?),
                (false, Some(slot)) => Role::Column(slot),
                (false, None) if null => Role::Null,
                (false, None) => return None,
            };
            members.push(Member {
                key: key.into(),
                role,
            });
        }
        Some(Self { members })
    }

    /// Reads `text` into `staged` (cleared first: each value with its
    /// column's slot) if it has this shape and every value reads quickly.
    pub fn read<'a>(&self, text: &'a str, staged: &mut Vec<(usize, Scalar<'a>)>) -> bool {
        staged.clear();
        self.read_into(text, staged).is_some()
    }

    fn read_into<'a>(&self, text: &'a str, staged: &mut Vec<(usize, Scalar<'a>)>) -> Option<()> {
        let bytes = text.as_bytes();
        (bytes.first() == Some(&b'{')).then_some(())?;
        let mut at = 1;
        for (k, member) in self.members.iter().enumerate() {
            if k > 0 {
                (bytes.get(at) == Some(&b',')).then_some(())?;
                at += 1;
            }
            let end = at + member.key.len();
            same_bytes(bytes.get(at..end)?, &member.key).then_some(())?;
            at = match member.role {
                Role::Column(slot) => {
                    let (value, after) = read_scalar(text, end)?;
                    staged.push((slot, value));
                    after
                }
                Role::Time(slot) => {
                    let (value, after) = read_scalar(text, end)?;
                    // A null time leaves the row without one, as `move_time`
                    // does (the shape has no other `time` key).
                    if !value.is_null() {
                        staged.push((slot, Scalar::Time(value.time_micros().ok()?)));
                    }
                    after
                }
                Role::Null => {
                    let (value, after) = read_scalar(text, end)?;
                    value.is_null().then_some(after)?
                }
            };
        }
        (bytes.get(at) == Some(&b'}') && at + 1 == bytes.len()).then_some(())
    }
}

/// `a == b` for slices of one length, inlined: a key (`"status":`) is
/// most often 4 to 16 bytes, compared as two words that may overlap,
/// where slice equality calls `memcmp` (5% of an NDJSON ingest profile,
/// for a dozen keys a line).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// Whether a chunk should learn from a line that missed the shape,
/// `missed` lines in a row (a learning reads the line again): the first
/// [`FREE_MISSES`], then one in [`PAUSED_LEARNING`], so lines that never
/// match cost little and a source that settles is learned again.
pub fn worth_learning(missed: usize) -> bool {
    missed <= FREE_MISSES || missed.is_multiple_of(PAUSED_LEARNING)
}

#[cfg(test)]
#[path = "json_shape_tests.rs"]
mod tests;

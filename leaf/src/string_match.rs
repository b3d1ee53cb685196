//! Which strings of an array are one of a few values: the scan's
//! `column = 'v'` / `column IN ('v', ...)` filters, applied to an open
//! block's text columns (a sealed block has bitmap indexes for them) and
//! to a sealed block's dictionary values (to find the keys whose bitmaps
//! the index holds).
//!
//! Bytes are compared directly, length first, and values of 4 to 16 bytes
//! (most tags: hosts, services, regions) as two overlapping machine words
//! instead of a call to `memcmp` for each row, which is what arrow's
//! comparison kernel makes. A query for one host's recent rows spent most
//! of its scan there, on the open blocks' rows. A set of more than
//! [`MAX_LISTED`] values is looked up in a hash set instead (a long `IN`
//! list would otherwise cost a comparison per value per row).

use std::collections::HashSet;

use arrow::array::{Array, BooleanArray, StringArray};
use arrow::buffer::BooleanBuffer;
use foldhash::fast::RandomState;

/// Sets of up to this many values are compared one by one.
pub const MAX_LISTED: usize = 8;

/// The values a filter allows, ready to test a value against.
pub struct Wanted<'a> {
    listed: Vec<&'a [u8]>,
    hashed: Option<HashSet<&'a [u8], RandomState>>,
}

impl<'a> Wanted<'a> {
    pub fn new<S: AsRef<[u8]>>(values: &'a [S]) -> Self {
        let listed: Vec<&[u8]> = values.iter().map(AsRef::as_ref).collect();
        let hashed = (listed.len() > MAX_LISTED).then(|| listed.iter().copied().collect());
        Self { listed, hashed }
    }

    /// Whether `value` is one of the values.
    #[inline]
    pub fn holds(&self, value: &[u8]) -> bool {
        match &self.hashed {
            Some(set) => set.contains(value),
            None => self.listed.iter().any(|wanted| same_bytes(value, wanted)),
        }
    }
}

/// Whether `a` and `b` hold the same bytes.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => same_words::<8>(a, b),
        4..=7 => same_words::<4>(a, b),
        _ => a == b,
    }
}

/// `a` and `b` (of one length, at least `N` bytes and at most `2 * N`)
/// compared as their first and last `N` bytes, which together cover them.
#[inline]
fn same_words<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    match (
        a.first_chunk::<N>(),
        b.first_chunk::<N>(),
        a.last_chunk::<N>(),
        b.last_chunk::<N>(),
    ) {
        (Some(a_head), Some(b_head), Some(a_tail), Some(b_tail)) => {
            a_head == b_head && a_tail == b_tail
        }
        _ => a == b,
    }
}

/// Rows of `array` holding one of `values`; a null row is null in the mask
/// (a filter drops it).
pub fn rows_holding<S: AsRef<[u8]>>(array: &StringArray, values: &[S]) -> BooleanArray {
    let wanted = Wanted::new(values);
    let matches =
        BooleanBuffer::collect_bool(array.len(), |row| wanted.holds(array.value(row).as_bytes()));
    BooleanArray::new(matches, array.nulls().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_the_same_only_when_every_byte_is() {
        let samples: Vec<Vec<u8>> = (0..=40)
            .flat_map(|len| {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                // The same length, differing at each position in turn.
                let mut variants = vec![base.clone()];
                for at in 0..len as usize {
                    let mut other = base.clone();
                    other[at] ^= 1;
                    variants.push(other);
                }
                variants
            })
            .collect();
        for a in &samples {
            for b in &samples {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn rows_holding_marks_each_row_and_keeps_nulls_null() {
        let array = StringArray::from(vec![
            Some("web-0042"),
            None,
            Some("web-0043"),
            Some(""),
            Some("web-0042"),
            Some("a-much-longer-host-name-0042"),
            Some("web-004"),
        ]);
        let mask = rows_holding(&array, &["web-0042", "a-much-longer-host-name-0042", ""]);
        let got: Vec<Option<bool>> = mask.iter().collect();
        assert_eq!(
            got,
            vec![
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(true),
                Some(true),
                Some(false)
            ]
        );
        let none = rows_holding::<&str>(&array, &[]);
        assert_eq!(none.true_count(), 0);
    }

    #[test]
    fn a_long_set_finds_what_a_short_one_does() {
        let hosts: Vec<String> = (0..50).map(|i| format!("web-{i:04}")).collect();
        let array: StringArray = (0..500)
            .map(|i| (i % 11 != 0).then(|| format!("web-{:04}", i % 70)))
            .collect();
        let long = rows_holding(&array, &hosts);
        let one_by_one: Vec<Option<bool>> = array
            .iter()
            .map(|v| v.map(|v| hosts.iter().any(|h| h == v)))
            .collect();
        assert!(hosts.len() > MAX_LISTED, "the set is hashed");
        assert_eq!(long.iter().collect::<Vec<_>>(), one_by_one);
        assert!(long.true_count() > 0 && long.false_count() > long.null_count());
    }
}

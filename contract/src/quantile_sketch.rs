//! A mergeable quantile sketch with a relative-error guarantee: the state
//! behind Shoal's `approx_percentile_cont` (see [`crate::approx_percentile`]).
//!
//! Values are counted in logarithmic bins, as DDSketch does: each bin's
//! upper bound is at most `γ = (1 + α) / (1 - α)` times its lower one,
//! with `α` = [`RELATIVE_ERROR`] (1%), and the value a bin stands for (the
//! harmonic mean of its bounds) is within `α` of every value in it. So the
//! value of any rank is read within 1%, however the values are spread, and
//! a quantile, interpolated between its two nearest ranks as
//! `percentile_cont` does, is within 1% of the exact one when they have
//! the same sign. Bins are laid out by a cheap
//! stand-in for the logarithm ([`log2_approx`]: exponent bits and a
//! quadratic), as DDSketch's interpolated mappings are. Negative
//! values are binned by magnitude; zeros and infinities are counted apart;
//! NaN is not a value and is skipped. The exact minimum and maximum are
//! kept, and every answer lies between them.
//!
//! Adding a value costs a few arithmetic instructions and an increment, with no sort and no
//! allocation once a group's range is known (t-digest, DataFusion's own,
//! sorts every batch of every group). Merging adds bin counts, so partial
//! sketches from leaves merge exactly. Each sign keeps at most
//! [`MAX_BINS`] bins (a spread of about 10^65 between its smallest and
//! largest magnitude); beyond that the smallest magnitudes fold into one
//! bin, and only quantiles among them lose accuracy.
//!
//! The encoded form ([`QuantileSketch::encode`]) crosses processes, so
//! [`QuantileSketch::decode`] checks every length and total and refuses
//! what does not add up instead of trusting it.

use thiserror::Error;

/// The largest relative error of a quantile read from the sketch.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Bins kept per sign, at most.
pub const MAX_BINS: usize = 8192;

/// `ln γ` for γ = (1 + α) / (1 - α), written out since `ln` is not a `const fn` (a test checks it).
const LN_GAMMA: f64 = 0.020000666706669435;

/// Bins per power of two. Bins are spaced evenly in [`log2_approx`], whose
/// slope against `ln v` is at least 4/3 (exact `log2` has 1/ln 2 ≈ 1.44
/// everywhere), so this spacing keeps every bin's bounds within γ of each
/// other: 37.5 bins an octave, 8% more than exact logarithms would need.
const BINS_PER_OCTAVE: f64 = 3.0 / (4.0 * LN_GAMMA);

/// 2^64, to lift subnormals into the normal range.
const TWO_TO_64: f64 = 18_446_744_073_709_551_616.0;

/// A stand-in for `log2` that costs a few instructions rather than a
/// logarithm: the exponent bits plus a quadratic in the mantissa,
/// `s (4 - s) / 3` for `v = 2^e (1 + s)`. Exact at powers of two,
/// increasing, and within 0.09 of `log2`. [`bin_of`] inlines it, scaled.
#[cfg(test)]
fn log2_approx(magnitude: f64) -> f64 {
    let (exponent, mantissa) = exponent_and_mantissa(magnitude);
    exponent + mantissa * (4.0 - mantissa) / 3.0
}

/// `(e, s)` with `magnitude = 2^e (1 + s)`, `0 <= s < 1`.
#[inline]
fn exponent_and_mantissa(magnitude: f64) -> (f64, f64) {
    let bits = magnitude.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        return subnormal_exponent_and_mantissa(magnitude);
    }
    let mantissa = f64::from_bits((bits & ((1 << 52) - 1)) | 1.0f64.to_bits()) - 1.0;
    (f64::from(exponent - 1023), mantissa)
}

#[cold]
fn subnormal_exponent_and_mantissa(magnitude: f64) -> (f64, f64) {
    let (exponent, mantissa) = exponent_and_mantissa(magnitude * TWO_TO_64);
    (exponent - 64.0, mantissa)
}

/// The inverse of [`log2_approx`].
fn exp2_approx(log: f64) -> f64 {
    let exponent = log.floor();
    let fraction = log - exponent;
    let mantissa = 2.0 - (4.0 - 3.0 * fraction).sqrt();
    // `powi` of a large negative power underflows to zero before the
    // subnormal range: scale there in two steps.
    if exponent < -1000.0 {
        (1.0 + mantissa) * 2f64.powi(exponent as i32 + 64) / TWO_TO_64
    } else {
        (1.0 + mantissa) * 2f64.powi(exponent as i32)
    }
}

/// The bin of a finite, non-zero magnitude: within ±40,300 for every
/// finite `f64`, subnormals included.
#[inline]
fn bin_of(magnitude: f64) -> i32 {
    // `log2_approx` times the bins an octave, without a division; and
    // `ceil` by hand: without SSE4.1 in the target, `f64::ceil` is a call.
    let (exponent, mantissa) = exponent_and_mantissa(magnitude);
    let position =
        exponent * BINS_PER_OCTAVE + mantissa * (4.0 - mantissa) * (BINS_PER_OCTAVE / 3.0);
    let truncated = position as i32;
    truncated + i32::from(f64::from(truncated) < position)
}

/// The value bin `index` stands for: the harmonic mean of its bounds,
/// within α of everything between them (written so that a bound beyond
/// the range of `f64` gives a finite value).
fn value_of(index: i32) -> f64 {
    let low = exp2_approx(f64::from(index - 1) / BINS_PER_OCTAVE);
    let high = exp2_approx(f64::from(index) / BINS_PER_OCTAVE);
    2.0 / (1.0 / low + 1.0 / high)
}

/// Version byte of the encoded form.
const VERSION: u8 = 1;

/// Bin indexes an encoded sketch may name: those of finite `f64`s, with room.
const INDEX_LIMIT: i64 = 41_000;

/// Why an encoded sketch was refused.
#[derive(Debug, Error, PartialEq)]
#[error("corrupt quantile sketch state: {0}")]
pub struct SketchDecodeError(&'static str);

/// Counts per logarithmic bin for one sign: `counts[k]` is bin `offset + k`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bins {
    offset: i32,
    counts: Vec<u64>,
}

impl Bins {
    fn high(&self) -> i32 {
        self.offset + self.counts.len() as i32 - 1
    }

    /// Counts `count` values in bin `index`; returns how many heap bytes
    /// the bins grew by (0 unless the range had to widen).
    #[inline]
    fn add(&mut self, index: i32, count: u64) -> isize {
        let at = index.wrapping_sub(self.offset) as u32 as usize;
        if let Some(slot) = self.counts.get_mut(at) {
            *slot = slot.saturating_add(count);
            return 0;
        }
        self.add_outside(index, count)
    }

    /// [`Bins::add`] for a bin outside the current range.
    #[cold]
    fn add_outside(&mut self, index: i32, count: u64) -> isize {
        let before = self.bytes();
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return self.bytes() as isize - before as isize;
        }
        // Leave room on the side it grew: values often arrive in rising or
        // falling order, and growing one bin at a time would copy them all
        // each time. Room above never folds bins away (see `cover`).
        let slack = (self.counts.len() / 2) as i32;
        let (low, high) = if index < self.offset {
            (index - slack, self.high())
        } else {
            let room = (self.offset + MAX_BINS as i32 - 1).max(index);
            (self.offset, (index + slack).min(room))
        };
        self.cover(low, high);
        // Below the kept range after folding: counts in the lowest bin.
        let at = (index.max(self.offset) - self.offset) as usize;
        self.counts[at] = self.counts[at].saturating_add(count);
        self.bytes() as isize - before as isize
    }

    /// Makes the bins span `[low, high]`, keeping the highest [`MAX_BINS`]
    /// and folding any below them into the lowest kept.
    fn cover(&mut self, low: i32, high: i32) {
        let low = i64::from(low).max(i64::from(high) - MAX_BINS as i64 + 1) as i32;
        if low == self.offset && high == self.high() {
            // Already so: a value below bins folded at the cap lands here
            // for every row, and must not copy them each time.
            return;
        }
        let mut counts = vec![0u64; (high - low + 1) as usize];
        for (k, count) in self.counts.iter().enumerate() {
            let index = (self.offset + k as i32).max(low);
            let slot = &mut counts[(index - low) as usize];
            *slot = slot.saturating_add(*count);
        }
        self.offset = low;
        self.counts = counts;
    }

    /// Adds `other`'s counts; returns the growth in heap bytes.
    fn merge(&mut self, other: &Bins) -> isize {
        let before = self.bytes() as isize;
        if other.counts.is_empty() {
            return 0;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return self.bytes() as isize - before;
        }
        let low = self.offset.min(other.offset);
        let high = self.high().max(other.high());
        self.cover(low, high);
        for (k, count) in other.counts.iter().enumerate() {
            let index = (other.offset + k as i32).max(self.offset);
            let slot = &mut self.counts[(index - self.offset) as usize];
            *slot = slot.saturating_add(*count);
        }
        self.bytes() as isize - before
    }

    /// Non-empty bins, lowest index first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(k, count)| (self.offset + k as i32, *count))
    }

    fn bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let first = self.counts.iter().position(|count| *count > 0);
        let last = self.counts.iter().rposition(|count| *count > 0);
        let (offset, counts) = match (first, last) {
            (Some(first), Some(last)) => (self.offset + first as i32, &self.counts[first..=last]),
            _ => (0, &self.counts[..0]),
        };
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(counts.len() as u32).to_le_bytes());
        for count in counts {
            write_varint(out, *count);
        }
    }

    fn decode(input: &mut &[u8]) -> Result<(Bins, u64), SketchDecodeError> {
        let offset = i32::from_le_bytes(take(input)?);
        let len = u32::from_le_bytes(take(input)?) as usize;
        if len > MAX_BINS {
            return Err(SketchDecodeError("more bins than a sketch keeps"));
        }
        let high = i64::from(offset) + len as i64;
        if i64::from(offset) < -INDEX_LIMIT || high > INDEX_LIMIT {
            return Err(SketchDecodeError("a bin outside the range of f64"));
        }
        let mut counts = Vec::with_capacity(len);
        let mut total: u64 = 0;
        for _ in 0..len {
            let count = read_varint(input)?;
            total = total
                .checked_add(count)
                .ok_or(SketchDecodeError("counts overflow"))?;
            counts.push(count);
        }
        Ok((Bins { offset, counts }, total))
    }
}

/// A quantile sketch of one group's values.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSketch {
    count: u64,
    zeros: u64,
    positive_infinities: u64,
    negative_infinities: u64,
    min: f64,
    max: f64,
    positive: Bins,
    negative: Bins,
}

impl Default for QuantileSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl QuantileSketch {
    pub fn new() -> Self {
        Self {
            count: 0,
            zeros: 0,
            positive_infinities: 0,
            negative_infinities: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            positive: Bins::default(),
            negative: Bins::default(),
        }
    }

    /// Values counted (NaN is not one).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Counts `value` (NaN is skipped); returns how many heap bytes the
    /// sketch grew by.
    #[inline]
    pub fn add(&mut self, value: f64) -> isize {
        // Positive finite values first: latencies, sizes, counts.
        if value > 0.0 && value < f64::INFINITY {
            self.count_extremes(value);
            return self.positive.add(bin_of(value), 1);
        }
        self.add_other(value)
    }

    #[inline]
    fn count_extremes(&mut self, value: f64) {
        self.count += 1;
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
    }

    /// [`QuantileSketch::add`] for zero, negative, infinite and NaN values.
    fn add_other(&mut self, value: f64) -> isize {
        if value.is_nan() {
            return 0;
        }
        self.count_extremes(value);
        if value == 0.0 {
            self.zeros += 1;
        } else if value == f64::INFINITY {
            self.positive_infinities += 1;
        } else if value == f64::NEG_INFINITY {
            self.negative_infinities += 1;
        } else {
            return self.negative.add(bin_of(-value), 1);
        }
        0
    }

    /// Adds every value `other` counted; returns how many heap bytes the
    /// sketch grew by.
    pub fn merge(&mut self, other: &QuantileSketch) -> isize {
        // Saturating: states come from other processes, and two valid
        // ones may hold near 2^64 each.
        self.count = self.count.saturating_add(other.count);
        self.zeros = self.zeros.saturating_add(other.zeros);
        self.positive_infinities = self
            .positive_infinities
            .saturating_add(other.positive_infinities);
        self.negative_infinities = self
            .negative_infinities
            .saturating_add(other.negative_infinities);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.positive.merge(&other.positive) + self.negative.merge(&other.negative)
    }

    /// The value at `fraction` (0 to 1) of the way through the counted
    /// values, as `percentile_cont` has it: at rank `h = fraction × (n −
    /// 1)` of the sorted values, interpolated linearly between ranks
    /// `⌊h⌋` and `⌈h⌉`, each read within [`RELATIVE_ERROR`]. `None` when
    /// none were counted.
    pub fn quantile(&self, fraction: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let fraction = fraction.clamp(0.0, 1.0);
        if fraction == 0.0 {
            return Some(self.min);
        }
        if fraction == 1.0 {
            return Some(self.max);
        }
        let rank = fraction * (self.count - 1) as f64;
        let below = rank.floor();
        let low = self.value_at(below as u64);
        let weight = rank - below;
        if weight == 0.0 {
            return Some(low);
        }
        let high = self.value_at(below as u64 + 1);
        Some(if low == high {
            low
        } else if !low.is_finite() || !high.is_finite() {
            // No line through an infinity: the nearer rank's value.
            if weight < 0.5 { low } else { high }
        } else {
            low + (high - low) * weight
        })
    }

    /// The value of zero-based rank `rank` (below the count), within
    /// [`RELATIVE_ERROR`]: the first place where the running count passes
    /// it holds that value.
    fn value_at(&self, rank: u64) -> f64 {
        let mut seen = self.negative_infinities;
        if seen > rank {
            return f64::NEG_INFINITY;
        }
        for (index, count) in self.negative.iter().rev() {
            seen = seen.saturating_add(count);
            if seen > rank {
                return self.clamp(-value_of(index));
            }
        }
        seen = seen.saturating_add(self.zeros);
        if seen > rank {
            return 0.0;
        }
        for (index, count) in self.positive.iter() {
            seen = seen.saturating_add(count);
            if seen > rank {
                return self.clamp(value_of(index));
            }
        }
        f64::INFINITY.min(self.max)
    }

    fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.min, self.max)
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.positive.bytes() + self.negative.bytes()
    }

    /// The sketch as bytes that [`QuantileSketch::decode`] reads back.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        out.push(VERSION);
        for count in [
            self.count,
            self.zeros,
            self.positive_infinities,
            self.negative_infinities,
        ] {
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        self.positive.encode(&mut out);
        self.negative.encode(&mut out);
        out
    }

    /// Reads an encoded sketch, refusing any whose parts do not add up.
    pub fn decode(mut input: &[u8]) -> Result<QuantileSketch, SketchDecodeError> {
        let input = &mut input;
        let [version] = take::<1>(input)?;
        if version != VERSION {
            return Err(SketchDecodeError("unknown version"));
        }
        let count = u64::from_le_bytes(take(input)?);
        let zeros = u64::from_le_bytes(take(input)?);
        let positive_infinities = u64::from_le_bytes(take(input)?);
        let negative_infinities = u64::from_le_bytes(take(input)?);
        let min = f64::from_le_bytes(take(input)?);
        let max = f64::from_le_bytes(take(input)?);
        let (positive, positive_total) = Bins::decode(input)?;
        let (negative, negative_total) = Bins::decode(input)?;
        if !input.is_empty() {
            return Err(SketchDecodeError("bytes after the sketch"));
        }
        let total = [
            zeros,
            positive_infinities,
            negative_infinities,
            positive_total,
            negative_total,
        ]
        .into_iter()
        .try_fold(0u64, u64::checked_add);
        if total != Some(count) {
            return Err(SketchDecodeError("bin counts do not add up to the count"));
        }
        if count > 0 && (min.is_nan() || max.is_nan() || min > max) {
            return Err(SketchDecodeError("minimum and maximum out of order"));
        }
        if count == 0 {
            return Ok(QuantileSketch::new());
        }
        Ok(QuantileSketch {
            count,
            zeros,
            positive_infinities,
            negative_infinities,
            min,
            max,
            positive,
            negative,
        })
    }
}

fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], SketchDecodeError> {
    let (head, rest) = input
        .split_first_chunk::<N>()
        .ok_or(SketchDecodeError("truncated"))?;
    *input = rest;
    Ok(*head)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(input: &mut &[u8]) -> Result<u64, SketchDecodeError> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let [byte] = take::<1>(input)?;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(SketchDecodeError("a count longer than 64 bits"));
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(SketchDecodeError("a count longer than 64 bits"))
}

#[cfg(test)]
#[path = "quantile_sketch_tests.rs"]
mod tests;

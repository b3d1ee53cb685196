use super::*;

/// γ = (1 + α) / (1 - α): a bin's upper bound over its lower, at most.
const GAMMA: f64 = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);

/// A deterministic stream of values in `[0, 1)` (xorshift).
fn uniform(seed: u64) -> impl Iterator<Item = f64> {
    let mut state = seed.max(1);
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Some((state >> 11) as f64 / (1u64 << 53) as f64)
    })
}

/// `percentile_cont`: rank `h = fraction × (n − 1)` of the sorted values,
/// interpolated between ranks `⌊h⌋` and `⌈h⌉`; and the error allowed, 1%
/// of each neighbour in its share.
fn exact_and_bound(sorted: &[f64], fraction: f64) -> (f64, f64) {
    let rank = fraction * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let weight = rank - rank.floor();
    let low = sorted[below];
    let high = sorted[(below + 1).min(sorted.len() - 1)];
    let exact = if weight == 0.0 {
        low
    } else {
        low + (high - low) * weight
    };
    let bound = RELATIVE_ERROR * ((1.0 - weight) * low.abs() + weight * high.abs());
    (exact, bound * (1.0 + 1e-9) + 1e-12)
}

fn assert_close(values: &[f64]) {
    let mut sketch = QuantileSketch::new();
    values.iter().for_each(|value| {
        sketch.add(*value);
    });
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    for fraction in [
        0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0,
    ] {
        let (want, bound) = exact_and_bound(&sorted, fraction);
        let got = sketch.quantile(fraction).unwrap();
        assert!((got - want).abs() <= bound, "q{fraction}: {got} vs {want}");
    }
}

#[test]
fn the_written_out_logarithm_is_the_logarithm_of_gamma() {
    assert!((LN_GAMMA - GAMMA.ln()).abs() < 1e-15);
}

#[test]
fn every_bin_spans_at_most_gamma_and_the_stand_in_logarithm_inverts() {
    for index in (-40_300..40_300).step_by(7) {
        let low = exp2_approx(f64::from(index - 1) / BINS_PER_OCTAVE);
        let high = exp2_approx(f64::from(index) / BINS_PER_OCTAVE);
        // Subnormal bounds round too coarsely to compare.
        if low >= f64::MIN_POSITIVE && high.is_finite() {
            assert!(
                high / low <= GAMMA * (1.0 + 1e-12),
                "bin {index}: {low}..{high}"
            );
            assert!(high > low, "bin {index}");
        }
    }
    for value in [
        1e-310, 5e-324, 1e-300, 0.001, 0.7, 1.0, 1.5, 3.0, 1e6, 1.7e308,
    ] {
        let back = exp2_approx(log2_approx(value));
        assert!((back - value).abs() <= value * 1e-9, "{value}: {back}");
        assert!((log2_approx(value) - value.log2()).abs() < 0.09, "{value}");
        let bin = bin_of(value);
        assert!(bin.abs() < 40_300, "{value}: {bin}");
    }
}

#[test]
fn quantiles_are_within_the_relative_error_however_values_spread() {
    let uniform_ms: Vec<f64> = uniform(7).take(50_000).map(|u| 1.0 + u * 9_999.0).collect();
    assert_close(&uniform_ms);
    // Heavy tailed, over nine orders of magnitude.
    let tailed: Vec<f64> = uniform(11)
        .take(50_000)
        .map(|u| (u * 20.0).exp() * 1e-3)
        .collect();
    assert_close(&tailed);
    // Both signs, zeros among them.
    let mixed: Vec<f64> = uniform(13)
        .take(50_000)
        .map(|u| ((u - 0.5) * 2_000.0).round())
        .collect();
    assert_close(&mixed);
    // Integers of few distinct values, as status codes are.
    let codes: Vec<f64> = uniform(17)
        .take(10_000)
        .map(|u| [200.0, 404.0, 500.0][(u * 3.0) as usize])
        .collect();
    assert_close(&codes);
}

#[test]
fn small_groups_interpolate_as_percentile_cont_does() {
    let mut sketch = QuantileSketch::new();
    [10.0; 9].iter().chain(&[5000.0]).for_each(|value| {
        sketch.add(*value);
    });
    // 10 + 0.91 × 4990: a single outlier still shows in the p99.
    let p99 = sketch.quantile(0.99).unwrap();
    assert!((p99 - 4550.9).abs() <= 0.01 * 5000.0, "{p99}");
    let mut two = QuantileSketch::new();
    let _ = two.add(0.0);
    let _ = two.add(100.0);
    let median = two.quantile(0.5).unwrap();
    assert!((median - 50.0).abs() <= 0.5, "{median}");
    // An infinity is not a line's end: the nearer rank's value.
    let mut infinite = QuantileSketch::new();
    let _ = infinite.add(1.0);
    let _ = infinite.add(f64::INFINITY);
    assert_eq!(infinite.quantile(0.4), Some(1.0));
    assert_eq!(infinite.quantile(0.6), Some(f64::INFINITY));
}

#[test]
fn values_below_folded_bins_do_not_copy_them() {
    let mut sketch = QuantileSketch::new();
    let _ = sketch.add(1e300);
    let _ = sketch.add(1e-300);
    let bins = sketch.positive.counts.len();
    assert_eq!(bins, MAX_BINS);
    let pointer = sketch.positive.counts.as_ptr();
    for _ in 0..1_000 {
        assert_eq!(sketch.add(1e-300), 0);
    }
    // The same allocation, not a copy a value.
    assert_eq!(sketch.positive.counts.as_ptr(), pointer);
    assert_eq!(sketch.count(), 1_002);
    let mut other = QuantileSketch::new();
    let _ = other.add(1e-200);
    assert_eq!(sketch.merge(&other), 0);
    assert_eq!(sketch.positive.counts.as_ptr(), pointer);
    // Rising values grow the bins a half at a time, not one by one.
    let mut rising = QuantileSketch::new();
    let mut reshapes = 0;
    for step in 0..2_000 {
        if rising.add(1.0 + f64::from(step)) != 0 {
            reshapes += 1;
        }
    }
    assert!(reshapes < 40, "{reshapes}");
}

#[test]
fn merged_parts_answer_as_the_whole_does() {
    let values: Vec<f64> = uniform(23)
        .take(30_000)
        .map(|u| (u * 12.0).exp() - 50.0)
        .collect();
    let mut whole = QuantileSketch::new();
    values.iter().for_each(|value| {
        whole.add(*value);
    });
    let mut merged = QuantileSketch::new();
    for part in values.chunks(7_001) {
        let mut sketch = QuantileSketch::new();
        part.iter().for_each(|value| {
            sketch.add(*value);
        });
        let _ = merged.merge(&QuantileSketch::decode(&sketch.encode()).unwrap());
    }
    assert_eq!(merged.count(), whole.count());
    for step in 0..=100 {
        let fraction = f64::from(step) / 100.0;
        assert_eq!(
            merged.quantile(fraction),
            whole.quantile(fraction),
            "q{fraction}"
        );
    }
}

#[test]
fn zeros_infinities_nan_and_empty_sketches() {
    let mut sketch = QuantileSketch::new();
    assert_eq!(sketch.quantile(0.5), None);
    sketch.add(f64::NAN);
    assert_eq!(sketch.count(), 0);
    assert_eq!(sketch.quantile(0.5), None);
    for value in [f64::NEG_INFINITY, -0.0, 0.0, 0.0, 5.0, f64::INFINITY] {
        sketch.add(value);
    }
    assert_eq!(sketch.quantile(0.0), Some(f64::NEG_INFINITY));
    assert_eq!(sketch.quantile(0.4), Some(0.0));
    assert_eq!(
        sketch.quantile(0.8),
        Some(sketch.clamp(value_of(bin_of(5.0))))
    );
    assert_eq!(sketch.quantile(1.0), Some(f64::INFINITY));
    let round_trip = QuantileSketch::decode(&sketch.encode()).unwrap();
    assert_eq!(round_trip, sketch);
    // Every answer lies between the minimum and the maximum.
    let mut single = QuantileSketch::new();
    single.add(1234.5);
    for step in 0..=10 {
        assert_eq!(single.quantile(f64::from(step) / 10.0), Some(1234.5));
    }
}

#[test]
fn the_widest_spread_keeps_its_largest_values_exact_within_the_error() {
    let mut sketch = QuantileSketch::new();
    let mut values = Vec::new();
    // Falling order, over the whole range of f64 magnitudes.
    for exponent in (-300..300).rev() {
        let value = 10f64.powi(exponent);
        values.push(value);
        sketch.add(value);
    }
    assert!(sketch.positive.counts.len() <= MAX_BINS);
    assert!(sketch.bytes() <= 2 * MAX_BINS * 8);
    // The largest 10^65 of spread stay within the error (1e235 and up,
    // the top 65 of 600 values); smaller values fold into the lowest kept
    // bin, and their quantiles answer that bin's value.
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    for fraction in [0.9, 0.95, 0.99] {
        let (want, bound) = exact_and_bound(&sorted, fraction);
        let got = sketch.quantile(fraction).unwrap();
        assert!(
            (got - want).abs() <= bound,
            "q{fraction}: {got:e} vs {want:e}"
        );
    }
    let folded = sketch.quantile(0.5).unwrap();
    assert!(folded > 1e230 && folded < 1e236, "{folded}");
    assert_eq!(sketch.quantile(0.0), Some(sorted[0]));
    let round_trip = QuantileSketch::decode(&sketch.encode()).unwrap();
    assert_eq!(round_trip.quantile(0.99), sketch.quantile(0.99));
}

#[test]
fn encoded_sketches_that_do_not_add_up_are_refused() {
    let mut sketch = QuantileSketch::new();
    [1.0, 2.0, 3.0, -4.0].iter().for_each(|value| {
        sketch.add(*value);
    });
    let encoded = sketch.encode();
    for cut in 0..encoded.len() {
        assert!(
            QuantileSketch::decode(&encoded[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = encoded.clone();
    longer.push(0);
    assert!(QuantileSketch::decode(&longer).is_err());
    let mut miscounted = encoded.clone();
    miscounted[1] += 1;
    assert_eq!(
        QuantileSketch::decode(&miscounted),
        Err(SketchDecodeError("bin counts do not add up to the count"))
    );
    let mut versioned = encoded;
    versioned[0] = 9;
    assert!(QuantileSketch::decode(&versioned).is_err());
    // Random bytes never panic.
    let mut noise = uniform(29);
    for len in 0..2_000 {
        let bytes: Vec<u8> = (0..len % 200)
            .map(|_| (noise.next().unwrap() * 256.0) as u8)
            .collect();
        let _ = QuantileSketch::decode(&bytes);
    }
}

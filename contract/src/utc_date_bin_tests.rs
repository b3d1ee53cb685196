use std::sync::Arc;

use arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, IntervalDayTime, IntervalMonthDayNano, TimeUnit};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
use datafusion::scalar::ScalarValue;

use super::FastDateBin;

fn invoke(function: &dyn ScalarUDFImpl, args: Vec<ColumnarValue>, rows: usize) -> ArrayRef {
    let arg_fields = args
        .iter()
        .enumerate()
        .map(|(i, arg)| Arc::new(Field::new(format!("a{i}"), arg.data_type(), true)))
        .collect::<Vec<_>>();
    let return_field = arg_fields[1].clone();
    let args = ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field,
        config_options: Arc::new(ConfigOptions::default()),
    };
    let shown = format!(
        "{:?}",
        args.args.iter().map(|a| a.data_type()).collect::<Vec<_>>()
    );
    match function
        .invoke_with_args(args)
        .unwrap_or_else(|e| panic!("{shown}: {e}"))
    {
        ColumnarValue::Array(array) => array,
        ColumnarValue::Scalar(scalar) => scalar.to_array_of_size(rows).unwrap(),
    }
}

fn month_day_nano(months: i32, days: i32, nanoseconds: i64) -> ColumnarValue {
    ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano {
            months,
            days,
            nanoseconds,
        },
    )))
}

#[test]
fn answers_as_datafusion_does_for_every_stride_origin_and_value() {
    let hour = 3_600_000_000_000;
    let strides = [
        month_day_nano(0, 0, 1_000),
        month_day_nano(0, 0, 1_000_000_000),
        month_day_nano(0, 0, 3 * hour),
        month_day_nano(0, 1, 0),
        month_day_nano(0, 7, 5 * hour),
        month_day_nano(0, 0, 1_500),
        month_day_nano(1, 0, 0),
        ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(IntervalDayTime::new(
            0, 250,
        )))),
        ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(IntervalDayTime::new(
            2, 0,
        )))),
    ];
    let utc = Some(Arc::<str>::from("UTC"));
    let origins = [
        None,
        Some(ScalarValue::TimestampNanosecond(Some(0), utc.clone())),
        Some(ScalarValue::TimestampNanosecond(
            Some(1_763_000_040_123_456_000),
            utc.clone(),
        )),
        Some(ScalarValue::TimestampNanosecond(
            Some(-86_399_999_000_000),
            None,
        )),
        Some(ScalarValue::TimestampNanosecond(
            Some(1_000_000_000_000_000_000),
            utc.clone(),
        )),
        Some(ScalarValue::TimestampNanosecond(
            Some(1_234_567),
            utc.clone(),
        )),
    ];
    let values = vec![
        Some(0),
        Some(-1),
        Some(1),
        None,
        Some(1_763_000_040_000_000),
        Some(1_763_000_099_999_999),
        Some(-2_208_988_800_000_000),
        Some(4_102_444_800_000_001),
    ];
    // Beyond the fast path's range: the whole batch goes to DataFusion.
    let mut far = values.clone();
    far.push(Some(9_200_000_000_000_000));
    far.push(Some(i64::MIN));
    let ours = FastDateBin::new();
    let theirs = datafusion::functions::datetime::date_bin();
    for zone in [utc.clone(), None] {
        for times in [&values, &far] {
            let times: ArrayRef = Arc::new(
                TimestampMicrosecondArray::from(times.clone()).with_timezone_opt(zone.clone()),
            );
            for stride in &strides {
                for origin in &origins {
                    let mut args = vec![stride.clone(), ColumnarValue::Array(times.clone())];
                    args.extend(origin.clone().map(ColumnarValue::Scalar));
                    let expected = invoke(theirs.inner().as_ref(), args.clone(), times.len());
                    let got = invoke(&ours, args, times.len());
                    assert_eq!(
                        got.as_ref(),
                        expected.as_ref(),
                        "{stride:?} {origin:?} {zone:?}"
                    );
                    assert_eq!(
                        got.data_type(),
                        &DataType::Timestamp(TimeUnit::Microsecond, zone.clone())
                    );
                }
            }
        }
    }
}

#[test]
fn the_fast_path_takes_ordinary_times_and_leaves_far_ones() {
    let ordinary =
        TimestampMicrosecondArray::from(vec![Some(1_763_000_040_000_001), None, Some(-5)]);
    let binned = super::bin_micros(&ordinary, 10_800_000_000, 0).expect("fast path");
    assert_eq!(binned.value(0), 1_762_992_000_000_000);
    assert!(binned.is_null(1));
    assert_eq!(binned.value(2), -10_800_000_000);
    let far = TimestampMicrosecondArray::from(vec![Some(0), Some(i64::MAX)]);
    assert!(super::bin_micros(&far, 10_800_000_000, 0).is_none());
}

/// A session over one table `t` with a µs UTC `time`, a ns `at` and a
/// `Time64(µs)` `clock`, with or without Shoal's functions.
fn session(shoal: bool) -> datafusion::prelude::SessionContext {
    use arrow::array::{RecordBatch, Time64MicrosecondArray, TimestampNanosecondArray};
    let context = datafusion::prelude::SessionContext::new();
    if shoal {
        crate::functions::register_functions(&context);
    }
    let micros = vec![1_763_000_040_000_001, -1, 1_763_010_000_123_456];
    let batch = RecordBatch::try_from_iter(vec![
        (
            "time",
            Arc::new(TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC"))
                as ArrayRef,
        ),
        (
            "at",
            Arc::new(TimestampNanosecondArray::from(vec![
                1_763_000_040_000_000_123,
                -7,
                5,
            ])) as ArrayRef,
        ),
        (
            "clock",
            Arc::new(Time64MicrosecondArray::from(vec![
                1_000_001,
                86_399_999_999,
                0,
            ])) as ArrayRef,
        ),
    ])
    .unwrap();
    context.register_batch("t", batch).unwrap();
    context
}

/// `sql`'s answer with Shoal's functions, or with DataFusion's.
async fn answer(shoal: bool, sql: &str) -> Vec<arrow::array::RecordBatch> {
    let frame = session(shoal).sql(sql).await.unwrap();
    frame.collect().await.unwrap()
}

#[tokio::test]
async fn in_sql_answers_as_datafusion_does_and_keeps_microseconds() {
    use arrow::util::pretty::pretty_format_batches;
    let queries = [
        "SELECT date_bin(INTERVAL '3 hours', time, TIMESTAMP '1970-01-01T00:00:00Z') AS b FROM t",
        "SELECT date_bin(INTERVAL '15 minutes', time) AS b FROM t",
        "SELECT date_bin(INTERVAL '1 day', time, TIMESTAMP '2026-01-01T05:00:00+05:00') AS b FROM t",
        "SELECT date_bin(INTERVAL '1 second', at, TIMESTAMP '1970-01-01T00:00:00Z') AS b FROM t",
        "SELECT date_bin(INTERVAL '10 minutes', clock) AS b FROM t",
        "SELECT date_bin(INTERVAL '1 month', time, TIMESTAMP '2000-01-01T00:00:00Z') AS b FROM t",
        // A zone other than UTC, and a zone-less origin: read as UTC.
        "SELECT date_bin(INTERVAL '1 day', arrow_cast(time, 'Timestamp(Microsecond, Some(\"Europe/Paris\"))'), \
         TIMESTAMP '2024-01-01T00:00:00') AS b FROM t",
        "SELECT date_bin(INTERVAL '1 day', arrow_cast(time, 'Timestamp(Microsecond, Some(\"Europe/Paris\"))'), \
         arrow_cast(TIMESTAMP '2024-01-01T00:00:00', 'Timestamp(Nanosecond, Some(\"+05:00\"))')) AS b FROM t",
        // Seconds and milliseconds: DataFusion's nanosecond bins.
        "SELECT date_bin(INTERVAL '1500 milliseconds', arrow_cast(time, 'Timestamp(Second, Some(\"UTC\"))')) AS b FROM t",
        "SELECT date_bin(INTERVAL '7 milliseconds', arrow_cast(time, 'Timestamp(Millisecond, None)')) AS b FROM t",
        // An origin centuries away: DataFusion's overflow, NULL.
        "SELECT date_bin(INTERVAL '1 hour', time, TIMESTAMP '1700-01-01T00:00:00Z') AS b FROM t",
    ];
    for sql in queries {
        let ours = answer(true, sql).await;
        let theirs = answer(false, sql).await;
        // The same instants, printed in each answer's own unit.
        let text = |batches: &[arrow::array::RecordBatch]| {
            let column = arrow::compute::cast(
                batches[0].column(0),
                &match batches[0].column(0).data_type() {
                    DataType::Timestamp(_, zone) => {
                        DataType::Timestamp(TimeUnit::Nanosecond, zone.clone())
                    }
                    other => other.clone(),
                },
            )
            .unwrap();
            pretty_format_batches(&[
                arrow::array::RecordBatch::try_from_iter(vec![("b", column)]).unwrap(),
            ])
            .unwrap()
            .to_string()
        };
        assert_eq!(text(&ours), text(&theirs), "{sql}");
    }
    // Shoal's time column stays microseconds, in UTC.
    let ours = answer(true, queries[0]).await;
    assert_eq!(
        ours[0].column(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
}

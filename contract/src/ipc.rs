//! Arrow IPC stream bytes: how batches travel in ingest requests, prepared
//! statement handles and write-ahead records.

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;

/// About the bytes `batches` take encoded: the memory of the rows they
/// hold (a slice counts its own rows only), and room for the messages.
/// Nested columns (string sets) are left to grow: a slice of one counts
/// every value of the whole array.
pub fn encoded_size_hint(batches: &[RecordBatch]) -> usize {
    let data: usize = batches
        .iter()
        .flat_map(|batch| batch.columns())
        .filter(|array| !array.data_type().is_nested())
        .map(|array| array.to_data().get_slice_memory_size().unwrap_or(0))
        .sum();
    data + 4096 * (batches.len() + 1)
}

/// `batches` (at least one, all of one schema) as one Arrow IPC stream.
pub fn encode_stream(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let Some(first) = batches.first() else {
        return Err(ArrowError::InvalidArgumentError(
            "an IPC stream needs at least one batch".to_string(),
        ));
    };
    // Made at about its final size: grown as it fills, the stream would be
    // copied again each time it doubles.
    let mut bytes = Vec::with_capacity(encoded_size_hint(batches));
    let mut writer = StreamWriter::try_new(&mut bytes, &first.schema())?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// The batches of an Arrow IPC stream from elsewhere (a client's handle, a
/// request, a record read back), never a panic: arrow-ipc panics on some
/// malformed streams (a buffer declared longer than its body: found by
/// fuzzing), and messages must fit in `bytes`. With `max_rows`, a stream whose batches declare more rows in
/// all is refused before anything is decoded, so a few bytes cannot make
/// the reader allocate for a billion rows.
pub fn decode_stream(bytes: &[u8], max_rows: Option<u64>) -> Result<Vec<RecordBatch>, String> {
    // arrow-ipc allocates a message's declared body before reading it: a
    // stream whose messages do not fit in its bytes is refused first (a
    // 120 GB body declared in a few bytes aborted the process: found by
    // fuzzing).
    let declared = declared_rows(bytes)?;
    if let Some(max_rows) = max_rows
        && declared > max_rows
    {
        return Err(format!(
            "the stream declares {declared} rows, at most {max_rows} are taken here"
        ));
    }
    std::panic::catch_unwind(|| {
        arrow::ipc::reader::StreamReader::try_new(bytes, None)
            .and_then(|reader| reader.collect::<Result<Vec<_>, _>>())
            .map_err(|e| e.to_string())
    })
    .unwrap_or_else(|_| Err("the Arrow IPC stream cannot be decoded".to_string()))
}

/// The IPC message whose framing starts at `offset` of `bytes` (an optional
/// `0xFFFFFFFF` continuation marker, a little-endian length, then the
/// flatbuffer), and where its metadata ends; `None` when the framing is
/// broken, the stream's end marker (length 0) is there, or the metadata
/// runs past `bytes`. The one reader of IPC framing that block files and
/// streams share.
pub fn message_at(bytes: &[u8], offset: usize) -> Option<(arrow::ipc::Message<'_>, usize)> {
    let word = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(
            bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let mut offset = offset;
    let mut length = word(offset)?;
    offset += 4;
    if length == -1 {
        length = word(offset)?;
        offset += 4;
    }
    let length = usize::try_from(length).ok().filter(|&l| l > 0)?;
    let end = offset.checked_add(length)?;
    let message = arrow::ipc::root_as_message(bytes.get(offset..end)?).ok()?;
    Some((message, end))
}

/// Why a message's body is refused: compressed, its decompressed size is
/// whatever the sender wrote, and arrow allocates it at once, so a few
/// bytes could ask for terabytes and abort the process. Shoal writes no
/// compressed IPC itself.
pub const COMPRESSED: &str =
    "compressed Arrow IPC bodies (LZ4, ZSTD) are not accepted: send uncompressed batches";

/// Whether `message` is a record batch or dictionary whose body buffers
/// are compressed.
pub fn is_compressed(message: &arrow::ipc::Message<'_>) -> bool {
    let batch = message
        .header_as_record_batch()
        .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
    batch.is_some_and(|batch| batch.compression().is_some())
}

/// Rows the record batch and dictionary messages of a stream declare,
/// read from their headers alone; refused when the framing is broken, a
/// message (metadata and body) runs past the end of `bytes`, or a body is
/// compressed ([`COMPRESSED`]).
fn declared_rows(bytes: &[u8]) -> Result<u64, String> {
    const BROKEN: &str = "not an Arrow IPC stream: a message runs past its end";
    let broken = || BROKEN.to_string();
    let mut offset = 0usize;
    let mut total = 0u64;
    while offset < bytes.len() {
        if end_marker_at(bytes, offset) {
            break;
        }
        let (message, end) = message_at(bytes, offset).ok_or_else(broken)?;
        if is_compressed(&message) {
            return Err(COMPRESSED.to_string());
        }
        let rows = match (
            message.header_as_record_batch(),
            message.header_as_dictionary_batch(),
        ) {
            (Some(batch), _) => batch.length(),
            (_, Some(dictionary)) => dictionary.data().map_or(0, |d| d.length()),
            _ => 0,
        };
        let rows = u64::try_from(rows).map_err(|_| broken())?;
        total = total.checked_add(rows).ok_or_else(broken)?;
        let body = usize::try_from(message.bodyLength()).map_err(|_| broken())?;
        offset = end.checked_add(body).ok_or_else(broken)?;
        if offset > bytes.len() {
            return Err(broken());
        }
    }
    Ok(total)
}

/// Whether the stream's end marker (a zero length, after an optional
/// continuation marker) starts at `offset`.
fn end_marker_at(bytes: &[u8], offset: usize) -> bool {
    match bytes.get(offset..offset.saturating_add(8)) {
        Some([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]) => true,
        _ => bytes.get(offset..offset.saturating_add(4)) == Some(&[0, 0, 0, 0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    #[test]
    fn compressed_streams_are_refused_before_they_are_decoded() {
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(0..100)) as arrow::array::ArrayRef,
        )])
        .unwrap();
        for compression in [
            arrow::ipc::CompressionType::LZ4_FRAME,
            arrow::ipc::CompressionType::ZSTD,
        ] {
            let options = arrow::ipc::writer::IpcWriteOptions::default()
                .try_with_compression(Some(compression))
                .unwrap();
            let mut bytes = Vec::new();
            let mut writer = arrow::ipc::writer::StreamWriter::try_new_with_options(
                &mut bytes,
                &batch.schema(),
                options,
            )
            .unwrap();
            writer.write(&batch).unwrap();
            writer.finish().unwrap();
            drop(writer);
            assert_eq!(decode_stream(&bytes, None).unwrap_err(), COMPRESSED);
        }
    }

    #[test]
    fn row_counts_are_read_from_headers_and_limits_refuse_before_decoding() {
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(0..10)) as _)])
                .unwrap();
        let bytes = encode_stream(&[batch.clone(), batch]).unwrap();
        assert_eq!(declared_rows(&bytes).ok(), Some(20));
        assert_eq!(decode_stream(&bytes, Some(20)).unwrap().len(), 2);
        let refused = decode_stream(&bytes, Some(1)).unwrap_err();
        assert!(refused.contains("declares 20 rows"), "{refused}");
        assert!(decode_stream(&bytes[..bytes.len() / 2], None).is_err());
        assert_eq!(declared_rows(&bytes[..bytes.len() - 20]).ok(), None);
    }

    /// `declared_rows` as it read framing itself, before [`message_at`].
    fn declared_rows_before(bytes: &[u8]) -> Option<u64> {
        let word = |at: usize| -> Option<i32> {
            Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        let mut offset = 0usize;
        let mut total = 0u64;
        while offset < bytes.len() {
            let mut length = word(offset)?;
            offset += 4;
            if length == -1 {
                length = word(offset)?;
                offset += 4;
            }
            if length == 0 {
                break;
            }
            let length = usize::try_from(length).ok()?;
            let end = offset.checked_add(length)?;
            let message = arrow::ipc::root_as_message(bytes.get(offset..end)?).ok()?;
            let rows = match (
                message.header_as_record_batch(),
                message.header_as_dictionary_batch(),
            ) {
                (Some(batch), _) => batch.length(),
                (_, Some(dictionary)) => dictionary.data().map_or(0, |d| d.length()),
                _ => 0,
            };
            total = total.checked_add(u64::try_from(rows).ok()?)?;
            let body = usize::try_from(message.bodyLength()).ok()?;
            offset = end.checked_add(body)?;
            if offset > bytes.len() {
                return None;
            }
        }
        Some(total)
    }

    #[test]
    fn message_framing_reads_every_input_as_the_code_it_replaced() {
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(0..3)) as _)])
                .unwrap();
        let stream = encode_stream(&[batch.clone(), batch]).unwrap();
        let same = |bytes: &[u8]| {
            assert_eq!(
                declared_rows(bytes).ok(),
                declared_rows_before(bytes),
                "{bytes:02x?}"
            );
        };
        // Every cut of a stream, and every word of it replaced by an end
        // marker, a continuation, a negative or an oversized length.
        for end in 0..=stream.len() {
            same(&stream[..end]);
        }
        let words = [0i32, -1, -2, 1, 4, 8, i32::MAX, i32::MIN];
        for at in (0..stream.len().saturating_sub(3)).step_by(4) {
            for word in words {
                let mut bytes = stream.clone();
                bytes[at..at + 4].copy_from_slice(&word.to_le_bytes());
                same(&bytes);
            }
        }
        // Short inputs made of those words, unaligned tails too.
        for first in words {
            for second in words {
                let mut bytes = [first.to_le_bytes(), second.to_le_bytes()].concat();
                for end in 0..=bytes.len() {
                    same(&bytes[..end]);
                }
                bytes.extend_from_slice(&stream);
                same(&bytes);
            }
        }
    }
}

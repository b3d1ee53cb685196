//! Strings stored at the narrowest dictionary a block allows (block format
//! 4): a string column with at most 256 distinct values in the block keeps
//! 8-bit keys (16 otherwise), and a string set column keeps its strings as
//! a dictionary too (8- or 16-bit keys; a block with more distinct set
//! members than 16 bits hold keeps them plain). Queries read both as the
//! table's types (32-bit keys, lists of plain strings): the scan casts the
//! columns it reads, see [`crate::table_schema::conform`]; a block stays
//! mapped as it is.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, RecordBatch, RecordBatchOptions};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;

/// Most distinct values a column with 8-bit keys holds.
const BYTE_KEYS: usize = 256;

/// `batch` with its dictionary strings and string sets as narrow as their
/// distinct values allow.
pub fn narrow_strings(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let narrow = match column.data_type() {
            DataType::Dictionary(_, _) => narrow_dictionary(column)?,
            DataType::List(item) if item.data_type() == &DataType::Utf8 => dictionary_list(column)?,
            _ => None,
        };
        let column = narrow.unwrap_or_else(|| column.clone());
        fields.push(
            field
                .as_ref()
                .clone()
                .with_data_type(column.data_type().clone()),
        );
        columns.push(column);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// The dictionary with 8-bit keys when its values fit, else `None`.
fn narrow_dictionary(column: &ArrayRef) -> Result<Option<ArrayRef>> {
    let Some(dictionary) = column.as_any_dictionary_opt() else {
        return Ok(None);
    };
    let DataType::Dictionary(key, value) = column.data_type() else {
        return Ok(None);
    };
    if dictionary.values().len() > BYTE_KEYS || key.as_ref() == &DataType::UInt8 {
        return Ok(None);
    }
    let narrow = DataType::Dictionary(Box::new(DataType::UInt8), value.clone());
    Ok(Some(cast(column, &narrow)?))
}

/// A list of strings as a list of dictionary strings (8-bit keys when the
/// block's distinct members fit, 16 otherwise), or `None` when they do not
/// fit 16 bits.
fn dictionary_list(column: &ArrayRef) -> Result<Option<ArrayRef>> {
    let list = column.as_list::<i32>();
    // A block's rows are a slice of the open block's: only the members
    // its rows hold are encoded, with offsets from 0.
    let offsets = list.value_offsets();
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    let values = list.values().slice(first as usize, (last - first) as usize);
    let offsets = OffsetBuffer::new(offsets.iter().map(|o| o - first).collect());
    let wide = DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8));
    // The cast fails when the members have more distinct values than
    // 16-bit keys hold: such a block keeps them plain.
    let Ok(members) = cast(&values, &wide) else {
        return Ok(None);
    };
    let members = narrow_dictionary(&members)?.unwrap_or(members);
    let item = Arc::new(Field::new("item", members.data_type().clone(), true));
    let narrow = ListArray::try_new(item, offsets, members, list.nulls().cloned())?;
    Ok(Some(Arc::new(narrow)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, ListBuilder, StringBuilder};
    use arrow::datatypes::UInt16Type;

    fn batch(distinct: usize) -> RecordBatch {
        let strings: Vec<Option<String>> = (0..1000)
            .map(|i| (i % 7 != 0).then(|| format!("v{}", i % distinct)))
            .collect();
        let keys: DictionaryArray<UInt16Type> = strings.iter().map(Option::as_deref).collect();
        let mut tags = ListBuilder::new(StringBuilder::new());
        for i in 0..1000 {
            match i % 5 {
                0 => tags.append_null(),
                1 => tags.append(true),
                _ => {
                    tags.values().append_value(format!("t{}", i % distinct));
                    tags.values().append_value("beta");
                    tags.append(true);
                }
            }
        }
        RecordBatch::try_from_iter([
            ("s", Arc::new(keys) as ArrayRef),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
        ])
        .unwrap()
    }

    /// What a query reads back: the table's types.
    fn widened(batch: &RecordBatch, like: &RecordBatch) -> Vec<ArrayRef> {
        batch
            .columns()
            .iter()
            .zip(like.columns())
            .map(|(c, l)| cast(c, l.data_type()).unwrap())
            .collect()
    }

    #[test]
    fn few_values_get_byte_keys_and_read_back_the_same() {
        let wide = batch(40);
        let narrow = narrow_strings(&wide).unwrap();
        let byte = DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::Utf8));
        assert_eq!(narrow.column(0).data_type(), &byte);
        let DataType::List(item) = narrow.column(1).data_type() else {
            panic!("{}", narrow.column(1).data_type());
        };
        assert_eq!(item.data_type(), &byte);
        assert_eq!(widened(&narrow, &wide), wide.columns());
    }

    #[test]
    fn a_slice_encodes_only_its_own_members() {
        let wide = batch(40).slice(500, 300);
        let narrow = narrow_strings(&wide).unwrap();
        let tags = narrow.column(1).as_list::<i32>();
        assert_eq!(tags.value_offsets()[0], 0);
        assert_eq!(tags.values().len(), 2 * 180);
        assert_eq!(widened(&narrow, &wide), wide.columns());
    }

    #[test]
    fn many_values_keep_sixteen_bit_keys() {
        let wide = batch(1000);
        let narrow = narrow_strings(&wide).unwrap();
        let short = DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8));
        assert_eq!(narrow.column(0).data_type(), &short);
        let DataType::List(item) = narrow.column(1).data_type() else {
            panic!("{}", narrow.column(1).data_type());
        };
        assert_eq!(item.data_type(), &short);
        assert_eq!(widened(&narrow, &wide), wide.columns());
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use crate::block::{BlockId, SealedBlock};
    use arrow::array::{ListBuilder, StringBuilder, TimestampMicrosecondArray};

    /// A block of narrow strings is written, mapped and read back as it was
    /// narrowed (zero-copy), and its string sets widen to what was sent.
    #[test]
    fn a_block_of_narrow_strings_reads_back_zero_copy() {
        let mut tags = ListBuilder::new(StringBuilder::new());
        for i in 0..1000 {
            if i % 3 == 0 {
                tags.values().append_value(format!("t{}", i % 9));
            }
            tags.append(i % 10 != 0);
        }
        let time = TimestampMicrosecondArray::from_iter_values(0..1000).with_timezone("UTC");
        let wide = RecordBatch::try_from_iter([
            ("time", Arc::new(time) as ArrayRef),
            ("tags", Arc::new(tags.finish()) as ArrayRef),
        ])
        .unwrap();
        let narrow = narrow_strings(&wide).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let id = BlockId {
            segment: 1,
            part: 0,
        };
        SealedBlock::write(dir.path(), id, &narrow).unwrap();
        let block = SealedBlock::open(&dir.path().join(id.file_name()), id).unwrap();
        let back = block.batch().unwrap();
        assert_eq!(back.columns(), narrow.columns());
        assert!(block.is_zero_copy().unwrap());
        let widened = cast(back.column(1), wide.column(1).data_type()).unwrap();
        assert_eq!(&widened, wide.column(1));
    }
}

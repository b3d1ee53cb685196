//! The protobuf wire format read in place, for the OTLP fast path
//! ([`otlp_view`]): fields as they come, strings and bytes borrowed from the
//! request body, nothing allocated.
//!
//! The reader gives up ([`Unread`]) wherever prost, which decodes the
//! request otherwise, could read the bytes differently or refuse them: a
//! field number 0, a key past 32 bits, groups, wire types past 5, varints
//! longer than ten bytes, lengths past the end. Its callers give up on the
//! rest (a known field with another wire type, a singular message twice,
//! invalid UTF-8, a message at prost's depth limit, an unknown field one
//! level above it). A request given up on is decoded by prost.
//!
//! [`otlp_view`]: crate::ingest::otlp_view

/// The bytes are not read here: prost decides what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread;

/// Messages nested this deep are refused by prost (its recursion limit of
/// 100 counts from the request, at depth 0).
pub const PROST_DEPTH_LIMIT: usize = 101;

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Wire<'a> {
    pub fn varint(self) -> Result<u64, Unread> {
        match self {
            Wire::Varint(value) => Ok(value),
            _ => Err(Unread),
        }
    }

    pub fn fixed64(self) -> Result<u64, Unread> {
        match self {
            Wire::Fixed64(value) => Ok(value),
            _ => Err(Unread),
        }
    }

    pub fn fixed32(self) -> Result<u32, Unread> {
        match self {
            Wire::Fixed32(value) => Ok(value),
            _ => Err(Unread),
        }
    }

    /// A length-delimited field: bytes, a string or a message.
    pub fn bytes(self) -> Result<&'a [u8], Unread> {
        match self {
            Wire::Bytes(bytes) => Ok(bytes),
            _ => Err(Unread),
        }
    }

    /// A `string` field: prost refuses one that is not UTF-8.
    #[inline]
    pub fn text(self) -> Result<&'a str, Unread> {
        utf8(self.bytes()?)
    }
}

/// `bytes` as text, if they are UTF-8 (as prost requires of a string).
/// A string field's text ([`crate::ingest::utf8`]).
#[inline]
pub fn utf8(bytes: &[u8]) -> Result<&str, Unread> {
    crate::ingest::utf8::utf8(bytes).map_err(|_| Unread)
}

/// The fields of one message, in order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(message: &'a [u8]) -> Self {
        Self { rest: message }
    }

    /// The next field's number and value; `None` at the end.
    #[inline]
    pub fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, Unread> {
        // A one-byte key (a field number below 16) then a one-byte varint
        // or length, as nearly every field of a log record is, inline.
        if let [key, second, ref rest @ ..] = *self.rest
            && (8..0x80).contains(&key)
            && second < 0x80
        {
            let number = u32::from(key >> 3);
            match key & 7 {
                0 => {
                    self.rest = rest;
                    return Ok(Some((number, Wire::Varint(u64::from(second)))));
                }
                2 if usize::from(second) <= rest.len() => {
                    let (taken, rest) = rest.split_at(usize::from(second));
                    self.rest = rest;
                    return Ok(Some((number, Wire::Bytes(taken))));
                }
                _ => {}
            }
        }
        self.any_field()
    }

    /// [`Self::next_field`] for any field.
    #[inline(never)]
    fn any_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, Unread> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        // prost refuses a key past 32 bits (a field number past 2^29 - 1).
        let key = u32::try_from(self.varint()?).map_err(|_| Unread)?;
        let number = key >> 3;
        if number == 0 {
            return Err(Unread);
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take_array()?)),
            2 => {
                let length = usize::try_from(self.varint()?).map_err(|_| Unread)?;
                Wire::Bytes(self.take(length)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take_array()?)),
            _ => return Err(Unread),
        };
        Ok(Some((number, value)))
    }

    #[inline]
    fn take(&mut self, length: usize) -> Result<&'a [u8], Unread> {
        if length > self.rest.len() {
            return Err(Unread);
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Unread> {
        self.take(N)?.try_into().map_err(|_| Unread)
    }

    /// Nothing left to read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// A varint of at most ten bytes whose tenth byte is 0 or 1, as prost
    /// reads them.
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, Unread> {
        // One byte (field keys, short lengths) or two (most other lengths)
        // inline; longer ones out of line.
        match *self.rest {
            [low, ref rest @ ..] if low < 0x80 => {
                self.rest = rest;
                Ok(u64::from(low))
            }
            [low, high, ref rest @ ..] if high < 0x80 => {
                self.rest = rest;
                Ok(u64::from(low & 0x7f) | (u64::from(high) << 7))
            }
            _ => self.long_varint(),
        }
    }

    #[cold]
    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, Unread> {
        let mut value = 0u64;
        for (position, &byte) in self.rest.iter().enumerate().take(10) {
            if position == 9 && byte > 1 {
                return Err(Unread);
            }
            value |= u64::from(byte & 0x7f) << (7 * position);
            if byte < 0x80 {
                self.rest = &self.rest[position + 1..];
                return Ok(value);
            }
        }
        Err(Unread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, Unread> {
        let mut fields = Fields::new(bytes);
        let mut out = Vec::new();
        while let Some(field) = fields.next_field()? {
            out.push(field);
        }
        Ok(out)
    }

    #[test]
    fn fields_read_as_prost_writes_them() {
        use prost::encoding::{WireType, encode_key, encode_varint};
        let mut bytes = Vec::new();
        encode_key(1, WireType::Varint, &mut bytes);
        encode_varint(u64::MAX, &mut bytes);
        encode_key(2, WireType::SixtyFourBit, &mut bytes);
        bytes.extend_from_slice(&7u64.to_le_bytes());
        encode_key(536_870_911, WireType::LengthDelimited, &mut bytes);
        encode_varint(3, &mut bytes);
        bytes.extend_from_slice("hé".as_bytes());
        encode_key(4, WireType::ThirtyTwoBit, &mut bytes);
        bytes.extend_from_slice(&9u32.to_le_bytes());
        let fields = all(&bytes).unwrap();
        assert_eq!(fields[0], (1, Wire::Varint(u64::MAX)));
        assert_eq!(fields[1], (2, Wire::Fixed64(7)));
        assert_eq!(fields[2].1.text(), Ok("hé"));
        assert_eq!(fields[2].0, 536_870_911);
        assert_eq!(fields[3], (4, Wire::Fixed32(9)));
    }

    #[test]
    fn one_byte_keys_and_lengths_read_as_longer_ones() {
        use prost::encoding::{WireType, encode_key, encode_varint};
        let mut bytes = Vec::new();
        for (number, value) in [(1, 0x7f), (15, 0), (16, 5), (2, 0x80), (3, 300)] {
            encode_key(number, WireType::Varint, &mut bytes);
            encode_varint(value, &mut bytes);
        }
        let text = "x".repeat(0x7f);
        for (number, value) in [(4, ""), (15, text.as_str()), (5, &text[..0x7e])] {
            encode_key(number, WireType::LengthDelimited, &mut bytes);
            encode_varint(value.len() as u64, &mut bytes);
            bytes.extend_from_slice(value.as_bytes());
        }
        let fields = all(&bytes).unwrap();
        let varints: Vec<(u32, u64)> = fields[..5]
            .iter()
            .map(|&(number, wire)| (number, wire.varint().unwrap()))
            .collect();
        assert_eq!(varints, [(1, 0x7f), (15, 0), (16, 5), (2, 0x80), (3, 300)]);
        let texts: Vec<(u32, &str)> = fields[5..]
            .iter()
            .map(|&(number, wire)| (number, wire.text().unwrap()))
            .collect();
        assert_eq!(texts, [(4, ""), (15, text.as_str()), (5, &text[..0x7e])]);
        // A one-byte length past the end is given up, as a longer one is.
        assert_eq!(all(&[0x12, 0x7f, 0x61]), Err(Unread));
        assert_eq!(Wire::Bytes("é".as_bytes()).text(), Ok("é"));
    }

    #[test]
    fn varints_read_as_prost_reads_them() {
        use prost::encoding::decode_varint;
        let prost = |bytes: &[u8]| {
            let mut buffer = bytes;
            decode_varint(&mut buffer)
                .ok()
                .map(|value| (value, bytes.len() - buffer.len()))
        };
        let ours = |bytes: &[u8]| {
            let mut fields = Fields::new(bytes);
            let value = fields.varint().ok()?;
            Some((value, bytes.len() - fields.rest.len()))
        };
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for first in 0..=255u8 {
            inputs.push(vec![first]);
            for second in 0..=255u8 {
                inputs.push(vec![first, second]);
                inputs.push(vec![first, second, 0x05]);
                inputs.push(vec![first, second, 0x85, 0x01]);
            }
        }
        for last in [0, 1, 2, 0x7f, 0x80] {
            let mut ten = vec![0xff; 9];
            ten.push(last);
            inputs.push(ten.clone());
            ten.push(0);
            inputs.push(ten);
        }
        for input in inputs {
            assert_eq!(ours(&input), prost(&input), "{input:?}");
        }
    }

    #[test]
    fn what_prost_might_read_otherwise_is_given_up() {
        // Field 0, a key past 32 bits, a group, wire type 6, a length past
        // the end, an eleven-byte varint, a tenth varint byte over 1, a
        // truncated fixed64.
        for bytes in [
            &[0x00, 0x01][..],
            &[0xf0, 0xef, 0xef, 0xe8, 0x10, 0x01],
            &[0x0b],
            &[0x0e],
            &[0x0a, 0x05, 0x61],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
            &[0x09, 0x01, 0x02],
        ] {
            assert_eq!(all(bytes), Err(Unread), "{bytes:?}");
        }
        assert_eq!(Wire::Bytes(&[0xff]).text(), Err(Unread));
        assert_eq!(Wire::Varint(1).bytes(), Err(Unread));
    }
}

//! Protocol Buffers' wire format, read by hand (no protoc at build time): a message is a
//! sequence of fields, each a key (field number and wire type) and a varint, a fixed 32- or
//! 64-bit word, or a length-delimited run of bytes (strings, nested messages, packed
//! repeated numbers).

/// One field's value as the wire carries it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one message, in order.
pub(super) struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Fields<'a> {
        Fields { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or("a varint runs past the end of its message")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("a field runs past the end of its message")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next field's number and value, or None at the end of the message.
    pub(super) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, String> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| "a field number past 2^32")?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "a length past memory")?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            wire => {
                return Err(format!(
                    "field {number} has wire type {wire} (groups are not read)"
                ))
            }
        };
        Ok(Some((number, value)))
    }
}

impl<'a> Value<'a> {
    pub(super) fn bytes(self, what: &str) -> Result<&'a [u8], String> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => Err(format!("{what} is {other:?}, not bytes")),
        }
    }

    pub(super) fn string(self, what: &str) -> Result<String, String> {
        String::from_utf8(self.bytes(what)?.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    pub(super) fn int(self, what: &str) -> Result<i64, String> {
        match self {
            // int64 and int32 fields carry two's complement in ten bytes when negative.
            Value::Varint(v) => Ok(v as i64),
            other => Err(format!("{what} is {other:?}, not an integer")),
        }
    }

    pub(super) fn float(self, what: &str) -> Result<f32, String> {
        match self {
            Value::Fixed32(v) => Ok(f32::from_bits(v)),
            other => Err(format!("{what} is {other:?}, not a float")),
        }
    }

    /// A repeated integer field's values, packed or not, appended to `out`.
    pub(super) fn ints(self, out: &mut Vec<i64>, what: &str) -> Result<(), String> {
        match self {
            Value::Bytes(packed) => {
                let mut fields = Fields::new(packed);
                while fields.at < packed.len() {
                    out.push(fields.varint()? as i64);
                }
                Ok(())
            }
            other => other.int(what).map(|v| out.push(v)),
        }
    }

    /// A repeated float field's values, packed or not, appended to `out`.
    pub(super) fn floats(self, out: &mut Vec<f32>, what: &str) -> Result<(), String> {
        match self {
            Value::Bytes(packed) if packed.len() % 4 == 0 => {
                out.extend(
                    packed
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                Ok(())
            }
            other => other.float(what).map(|v| out.push(v)),
        }
    }

    /// A repeated double field's values, packed or not, appended to `out`.
    pub(super) fn doubles(self, out: &mut Vec<f64>, what: &str) -> Result<(), String> {
        match self {
            Value::Bytes(packed) if packed.len() % 8 == 0 => {
                out.extend(
                    packed
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
                );
                Ok(())
            }
            Value::Fixed64(v) => {
                out.push(f64::from_bits(v));
                Ok(())
            }
            other => Err(format!("{what} is {other:?}, not doubles")),
        }
    }
}

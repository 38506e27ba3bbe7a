//! Zip archives as NumPy's `.npz` files use them: members stored or deflated. Read through
//! the central directory, with Zip64 sizes, offsets and end records (NumPy gives every member
//! a Zip64 local header, and Python writes the Zip64 end records past 4 GiB), each member's
//! CRC-32 checked. Written as plain zip, byte for byte the same for the same members (the
//! timestamps are the format's earliest date); an archive that would need Zip64 to be
//! written is refused.

use std::io::{Read, Write};

use flate2::Crc;

/// One file in an archive.
#[derive(Debug, PartialEq)]
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
}

/// How members are written: as they are, or deflated (`np.savez` / `np.savez_compressed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Stored,
    Deflated,
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_RECORD: u32 = 0x0605_4b50;
const ZIP64_END_RECORD: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
const END_RECORD_LEN: usize = 22;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const UTF8_NAMES: u16 = 1 << 11;
/// DOS date of 1980-01-01, the earliest a zip timestamp can hold.
const EARLIEST_DATE: u16 = (1 << 5) | 1;

/// Little-endian fields of `bytes`, each read at an offset, failing past the end.
struct Fields<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn get(&self, at: usize, len: usize) -> Result<&'a [u8], String> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| format!("the {} runs past the end of the archive", self.what))
    }

    fn u16(&self, at: usize) -> Result<u16, String> {
        self.get(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32, String> {
        self.get(at, 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&self, at: usize) -> Result<u64, String> {
        self.get(at, 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

fn offset(value: u64) -> Result<usize, String> {
    usize::try_from(value).map_err(|_| format!("an offset of {value} bytes cannot be addressed"))
}

/// Where the central directory starts, and how many members it lists.
fn directory(bytes: &[u8]) -> Result<(usize, u64), String> {
    let fields = Fields {
        bytes,
        what: "end record",
    };
    // The end record is the last thing in the file but for a comment of up to 64 KiB.
    let last = bytes
        .len()
        .checked_sub(END_RECORD_LEN)
        .ok_or("not a zip archive (shorter than an end record)")?;
    let end = (last.saturating_sub(u16::MAX as usize)..=last)
        .rev()
        .find(|&at| fields.u32(at) == Ok(END_RECORD))
        .ok_or("not a zip archive (no end record)")?;
    if fields.u16(end + 4)? != 0
        || fields.u16(end + 6)? != 0
        || fields.u16(end + 8)? != fields.u16(end + 10)?
    {
        return Err("a multi-volume archive is not read (or a corrupt end record)".into());
    }
    let locator = end.checked_sub(20);
    match locator.filter(|&at| fields.u32(at) == Ok(ZIP64_LOCATOR)) {
        Some(at) => {
            let record = offset(fields.u64(at + 8)?)?;
            let zip64 = Fields {
                bytes,
                what: "Zip64 end record",
            };
            if zip64.u32(record)? != ZIP64_END_RECORD {
                return Err("the Zip64 locator does not point at a Zip64 end record".into());
            }
            Ok((offset(zip64.u64(record + 48)?)?, zip64.u64(record + 32)?))
        }
        None => Ok((
            fields.u32(end + 16)? as usize,
            u64::from(fields.u16(end + 10)?),
        )),
    }
}

/// One central directory entry: the member's name, method, sizes, CRC and where its local
/// header is; and where the next entry starts.
struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local: usize,
}

fn entry(bytes: &[u8], at: usize) -> Result<(Entry, usize), String> {
    let fields = Fields {
        bytes,
        what: "central directory",
    };
    if fields.u32(at)? != CENTRAL_HEADER {
        return Err("the central directory is corrupt (no entry signature)".into());
    }
    let flags = fields.u16(at + 8)?;
    let (name_len, extra_len, comment_len) = (
        fields.u16(at + 28)? as usize,
        fields.u16(at + 30)? as usize,
        fields.u16(at + 32)? as usize,
    );
    let name = String::from_utf8(fields.get(at + 46, name_len)?.to_vec())
        .map_err(|_| "a member's name is not UTF-8".to_string())?;
    if flags & 1 != 0 {
        return Err(format!("member {name} is encrypted"));
    }
    let mut entry = Entry {
        method: fields.u16(at + 10)?,
        crc: fields.u32(at + 16)?,
        compressed: u64::from(fields.u32(at + 20)?),
        size: u64::from(fields.u32(at + 24)?),
        local: 0,
        name,
    };
    let mut local = u64::from(fields.u32(at + 42)?);
    let extra = fields.get(at + 46 + name_len, extra_len)?;
    zip64_sizes(extra, &mut entry, &mut local)?;
    entry.local = offset(local)?;
    Ok((entry, at + 46 + name_len + extra_len + comment_len))
}

/// Replace the 32-bit fields that hold 0xFFFFFFFF with their Zip64 values, which the extra
/// field lists in this order, only those that overflowed.
fn zip64_sizes(extra: &[u8], entry: &mut Entry, local: &mut u64) -> Result<(), String> {
    let fields = Fields {
        bytes: extra,
        what: "Zip64 extra field",
    };
    let mut at = 0;
    while at + 4 <= extra.len() {
        let (id, len) = (fields.u16(at)?, fields.u16(at + 2)? as usize);
        if id == ZIP64_EXTRA {
            let mut next = at + 4;
            for value in [&mut entry.size, &mut entry.compressed, local] {
                if *value == u64::from(u32::MAX) {
                    *value = fields.u64(next)?;
                    next += 8;
                }
            }
            if next > at + 4 + len {
                return Err(format!("member {}: a short Zip64 extra field", entry.name));
            }
        }
        at += 4 + len;
    }
    Ok(())
}

/// The member's bytes, inflated and checked against its CRC.
fn contents(bytes: &[u8], entry: &Entry) -> Result<Vec<u8>, String> {
    let fields = Fields {
        bytes,
        what: "local header",
    };
    let at = entry.local;
    if fields.u32(at)? != LOCAL_HEADER {
        return Err(format!(
            "member {}: no local header where the directory says",
            entry.name
        ));
    }
    let name_len = fields.u16(at + 26)? as usize;
    if fields.get(at + 30, name_len)? != entry.name.as_bytes() {
        return Err(format!(
            "member {}: the local header names another file (a corrupt archive)",
            entry.name
        ));
    }
    let start = at + 30 + name_len + fields.u16(at + 28)? as usize;
    let stored = Fields {
        bytes,
        what: "member data",
    }
    .get(start, offset(entry.compressed)?)?;
    let data = match entry.method {
        STORED => stored.to_vec(),
        DEFLATED => {
            // Reading one byte past the declared size finds a member that inflates to more,
            // without trusting the header with the allocation.
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(stored)
                .take(entry.size.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| format!("member {}: corrupt deflate data ({e})", entry.name))?;
            out
        }
        method => {
            return Err(format!(
                "member {} is compressed with method {method}; stored (0) and deflate (8) are read",
                entry.name
            ))
        }
    };
    if data.len() as u64 != entry.size {
        return Err(format!(
            "member {} holds {} bytes, its header says {}",
            entry.name,
            data.len(),
            entry.size
        ));
    }
    let mut crc = Crc::new();
    crc.update(&data);
    if crc.sum() != entry.crc {
        return Err(format!(
            "member {}: CRC-32 mismatch (corrupt data)",
            entry.name
        ));
    }
    Ok(data)
}

/// Every member of the archive in `bytes`, in the directory's order.
pub fn read(bytes: &[u8]) -> Result<Vec<Member>, String> {
    let (mut at, count) = directory(bytes)?;
    let mut members = Vec::new();
    for _ in 0..count {
        let (entry, next) = entry(bytes, at)?;
        members.push(Member {
            data: contents(bytes, &entry)?,
            name: entry.name,
        });
        at = next;
    }
    Ok(members)
}

fn too_large(what: &str) -> String {
    format!("{what} past 4 GiB needs Zip64, which is not written; save the arrays in parts")
}

/// An archive of `members` (name, bytes), in order.
pub fn write(members: &[(&str, &[u8])], compression: Compression) -> Result<Vec<u8>, String> {
    if members.len() > u16::MAX as usize {
        return Err(format!(
            "{} members: more than 65535 needs Zip64, which is not written",
            members.len()
        ));
    }
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for &(name, data) in members {
        let mut crc = Crc::new();
        crc.update(data);
        let (method, packed) = match compression {
            Compression::Stored => (STORED, data.to_vec()),
            Compression::Deflated => {
                let mut encoder =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                encoder
                    .write_all(data)
                    .and_then(|_| encoder.finish())
                    .map(|packed| (DEFLATED, packed))
                    .map_err(|e| format!("member {name}: {e}"))?
            }
        };
        let fit = |value: usize| u32::try_from(value).ok().filter(|&v| v != u32::MAX);
        let (Some(size), Some(packed_len), Some(local)) =
            (fit(data.len()), fit(packed.len()), fit(out.len()))
        else {
            return Err(too_large(&format!("member {name} or the data before it")));
        };
        let name_len =
            u16::try_from(name.len()).map_err(|_| format!("member name {name} is too long"))?;
        // Version 2.0 of the format, the same fields in both headers.
        let common = [
            &20u16.to_le_bytes()[..],
            &UTF8_NAMES.to_le_bytes(),
            &method.to_le_bytes(),
            &0u16.to_le_bytes(),
            &EARLIEST_DATE.to_le_bytes(),
            &crc.sum().to_le_bytes(),
            &packed_len.to_le_bytes(),
            &size.to_le_bytes(),
            &name_len.to_le_bytes(),
            &0u16.to_le_bytes(),
        ]
        .concat();
        out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        directory.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes());
        directory.extend_from_slice(&common);
        // No comment, disk 0, no attributes.
        directory.extend_from_slice(&[0; 10]);
        directory.extend_from_slice(&local.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let (Ok(start), Ok(length)) = (u32::try_from(out.len()), u32::try_from(directory.len())) else {
        return Err(too_large("an archive"));
    };
    let count = (members.len() as u16).to_le_bytes();
    out.extend_from_slice(&directory);
    out.extend_from_slice(&END_RECORD.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count);
    out.extend_from_slice(&count);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("a.npy", (0..=255u8).cycle().take(1000).collect()),
            ("empty.npy", Vec::new()),
            ("ünïcode.npy", b"x".repeat(70_000)),
        ]
    }

    #[test]
    fn members_come_back_from_either_compression() {
        let members = sample();
        let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (*n, &d[..])).collect();
        for compression in [Compression::Stored, Compression::Deflated] {
            let bytes = write(&refs, compression).unwrap();
            let back = read(&bytes).unwrap();
            let names: Vec<&str> = back.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, ["a.npy", "empty.npy", "ünïcode.npy"]);
            for (m, (_, data)) in back.iter().zip(&members) {
                assert_eq!(&m.data, data, "{compression:?} {}", m.name);
            }
        }
    }

    #[test]
    fn every_truncation_and_flipped_byte_is_an_error_or_the_same_members() {
        let members = sample();
        let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (*n, &d[..])).collect();
        let bytes = write(&refs[..1], Compression::Deflated).unwrap();
        let original = read(&bytes).unwrap();
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x5a;
            // A flip in a field the reader ignores (a timestamp, the version) changes nothing.
            if let Ok(members) = read(&bad) {
                assert_eq!(members, original, "flip at {at}");
            }
        }
    }
}

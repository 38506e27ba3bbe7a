//! The IDX format of MNIST: a big-endian header (two zero bytes, a type code, the number of
//! dimensions, each dimension as u32) followed by the values. Only unsigned bytes (type
//! 0x08), as MNIST and its relatives use; files may be gzipped, as they are distributed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::Dataset;
use crate::error::{Error, Result};

fn bad(what: &str, message: impl Into<String>) -> Error {
    Error::Data {
        what: what.to_string(),
        message: message.into(),
    }
}

/// The dimensions and the values of the IDX file `what` held in `bytes`.
fn parse(what: &str, bytes: &[u8]) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(what, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(bad(
            what,
            format!("IDX type 0x{:02x} is not unsigned bytes (0x08)", bytes[2]),
        ));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(bad(what, "truncated header"));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| {
            u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("four bytes")) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(what, format!("dimensions {dims:?} overflow a size")))?;
    if bytes.len() - header != count {
        return Err(bad(
            what,
            format!(
                "{} data bytes for dimensions {dims:?} ({count} expected)",
                bytes.len() - header
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// The dimensions and the values of the IDX file at `path`, gzipped or not.
fn read(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let what = path.display().to_string();
    let mut bytes = std::fs::read(path).map_err(|e| bad(&what, e.to_string()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .map_err(|e| bad(&what, format!("gzip: {e}")))?;
        bytes = plain;
    }
    parse(&what, &bytes)
}

/// The file of `dir` named `stem`, gzipped (`stem.gz`) or not.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            bad(
                &dir.display().to_string(),
                format!("no {stem} (or {stem}.gz) there: an MNIST-style set is a directory of train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte"),
            )
        })
}

/// The training and test sets of an MNIST-style directory.
pub(super) fn load_set(dir: &Path) -> Result<(Dataset, Dataset)> {
    let part = |prefix: &str| {
        load(
            &find(dir, &format!("{prefix}-images-idx3-ubyte"))?,
            &find(dir, &format!("{prefix}-labels-idx1-ubyte"))?,
        )
    };
    let (train, test) = (part("train")?, part("t10k")?);
    if train.cols != test.cols {
        return Err(bad(
            &dir.display().to_string(),
            format!(
                "training images have {} pixels and test images {}",
                train.cols, test.cols
            ),
        ));
    }
    Ok((train, test))
}

pub(super) fn load(images: &Path, labels: &Path) -> Result<Dataset> {
    dataset(&images.display().to_string(), read(images)?, read(labels)?)
}

/// `load` of two IDX files held in memory, named `images` and `labels` in errors.
pub(super) fn from_bytes(images: &[u8], labels: &[u8]) -> Result<Dataset> {
    dataset("images", parse("images", images)?, parse("labels", labels)?)
}

/// A dataset of parsed images and labels; `images` names the images in errors.
fn dataset(
    images: &str,
    (dims, pixels): (Vec<usize>, Vec<u8>),
    (label_dims, label_bytes): (Vec<usize>, Vec<u8>),
) -> Result<Dataset> {
    if dims.is_empty() || label_dims.len() != 1 || label_dims[0] != dims[0] {
        return Err(bad(
            images,
            format!("images {dims:?} do not match labels {label_dims:?}"),
        ));
    }
    let (rows, cols) = (dims[0], dims[1..].iter().product::<usize>());
    if rows == 0 || cols == 0 {
        return Err(bad(
            images,
            format!("images {dims:?} hold no pixels to learn from"),
        ));
    }
    let classes = label_bytes
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    Ok(Dataset {
        features: pixels.into_iter().map(f32::from).collect(),
        targets: label_bytes.into_iter().map(f32::from).collect(),
        rows,
        cols,
        classes: Some(classes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_what_it_was_given_and_refuses_damage() {
        let dir = std::env::temp_dir().join(format!("lepton-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (img, lab) = (dir.join("images"), dir.join("labels"));
        let pixels: Vec<u8> = (0..2 * 3 * 2).collect();
        std::fs::write(&img, idx(&[2, 3, 2], &pixels)).unwrap();
        std::fs::write(&lab, idx(&[2], &[7, 1])).unwrap();
        let d = load(&img, &lab).unwrap();
        assert_eq!((d.rows, d.cols, d.classes), (2, 6, Some(8)));
        assert_eq!(d.features[7], 7.0);
        assert_eq!(d.targets, vec![7.0, 1.0]);

        std::fs::write(&img, &idx(&[2, 3, 2], &pixels)[..20]).unwrap();
        assert!(load(&img, &lab)
            .unwrap_err()
            .to_string()
            .contains("data bytes"));
        std::fs::write(&img, b"\x01\x02\x08\x01").unwrap();
        assert!(load(&img, &lab).unwrap_err().to_string().contains("magic"));
        std::fs::write(&img, idx(&[3, 3, 2], &[0; 18])).unwrap();
        assert!(load(&img, &lab)
            .unwrap_err()
            .to_string()
            .contains("do not match"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

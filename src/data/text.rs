//! Character-level text corpora: a vocabulary of the distinct characters (sorted, so the same
//! text always gives the same ids), the text as ids, the held-out tail for validation, and
//! seeded windows for training a next-character model.

use crate::data::gunzip;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Tensor;

/// A text as character ids over its own vocabulary.
#[derive(Clone, Debug)]
pub struct CharCorpus {
    /// The distinct characters, sorted; a character's id is its position.
    pub vocab: Vec<char>,
    pub ids: Vec<u32>,
}

/// Inputs and next-character targets of `rows` windows of `context` characters, as ids
/// [rows, context].
pub struct Windows {
    pub inputs: Vec<i32>,
    pub targets: Vec<i32>,
    pub rows: usize,
    pub context: usize,
}

impl Windows {
    pub fn tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        let shape = [self.rows, self.context];
        Ok((
            Tensor::from_slice(&self.inputs, &shape, device)?,
            Tensor::from_slice(&self.targets, &shape, device)?,
        ))
    }
}

impl CharCorpus {
    /// A corpus of `text` over the characters it contains.
    pub fn new(text: &str) -> CharCorpus {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        let ids = text
            .chars()
            .map(|c| vocab.binary_search(&c).unwrap_or(0) as u32)
            .collect();
        CharCorpus { vocab, ids }
    }

    /// The tiny Shakespeare text (data/README.md): 1,115,394 characters over 65 symbols.
    pub fn tiny_shakespeare() -> Result<CharCorpus> {
        let text = gunzip(
            "tinyshakespeare",
            include_bytes!("../../data/tinyshakespeare.txt.gz"),
        )?;
        Ok(CharCorpus::new(&text))
    }

    /// The ids of `text` in this vocabulary, or an error naming the first character it lacks.
    pub fn encode(vocab: &[char], text: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|c| {
                vocab
                    .iter()
                    .position(|&v| v == c)
                    .map(|i| i as u32)
                    .ok_or_else(|| {
                        Error::invalid(
                            "encode",
                            format!(
                                "{c:?} is not in the model's vocabulary of {} characters",
                                vocab.len()
                            ),
                        )
                    })
            })
            .collect()
    }

    /// The text of `ids`, or an error naming an id past the vocabulary.
    pub fn decode(vocab: &[char], ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                vocab.get(i as usize).copied().ok_or_else(|| {
                    Error::invalid(
                        "decode",
                        format!(
                            "id {i} is past the vocabulary of {} characters",
                            vocab.len()
                        ),
                    )
                })
            })
            .collect()
    }

    /// The first `1 − validation` of the ids for training and the rest for validation.
    pub fn split(&self, validation: f64) -> (&[u32], &[u32]) {
        let cut = ((self.ids.len() as f64) * (1.0 - validation)) as usize;
        self.ids.split_at(cut.min(self.ids.len()))
    }
}

/// `rows` windows of `context` characters starting at positions drawn uniformly from `ids`
/// by (seed, draw): the same windows for the same draw on every run.
pub fn random_windows(
    ids: &[u32],
    rows: usize,
    context: usize,
    seed: u64,
    draw: u64,
) -> Result<Windows> {
    let starts = ids.len().checked_sub(context + 1).ok_or_else(|| {
        Error::invalid(
            "random_windows",
            format!(
                "a text of {} characters has no window of {context} and its next",
                ids.len()
            ),
        )
    })? + 1;
    let positions = (0..rows).map(|r| {
        let u = crate::counter_rng::uniform(
            seed,
            draw.wrapping_mul(rows as u64 * 2 + 1)
                .wrapping_add(r as u64),
        );
        ((u * starts as f64) as usize).min(starts - 1)
    });
    Ok(windows_at(ids, positions.collect(), context))
}

/// Every window of `context` characters that fits in `ids`, back to back from the start
/// (what validation reads: each character but the first predicted once).
pub fn consecutive_windows(ids: &[u32], context: usize) -> Windows {
    let count = ids.len().saturating_sub(1) / context.max(1);
    windows_at(ids, (0..count).map(|w| w * context).collect(), context)
}

fn windows_at(ids: &[u32], starts: Vec<usize>, context: usize) -> Windows {
    let mut inputs = Vec::with_capacity(starts.len() * context);
    let mut targets = Vec::with_capacity(starts.len() * context);
    for &s in &starts {
        inputs.extend(ids[s..s + context].iter().map(|&i| i as i32));
        targets.extend(ids[s + 1..s + context + 1].iter().map(|&i| i as i32));
    }
    Windows {
        inputs,
        targets,
        rows: starts.len(),
        context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_shakespeare_has_its_documented_size_and_round_trips() {
        let corpus = CharCorpus::tiny_shakespeare().unwrap();
        assert_eq!((corpus.ids.len(), corpus.vocab.len()), (1_115_394, 65));
        let (train, validation) = corpus.split(0.1);
        assert_eq!((train.len(), validation.len()), (1_003_854, 111_540));
        let text = CharCorpus::decode(&corpus.vocab, &corpus.ids[..200]).unwrap();
        assert!(text.starts_with("First Citizen:\nBefore we proceed any further"));
        assert_eq!(
            CharCorpus::encode(&corpus.vocab, &text).unwrap(),
            corpus.ids[..200]
        );
        assert!(CharCorpus::encode(&corpus.vocab, "é").is_err());
        assert!(CharCorpus::decode(&corpus.vocab, &[65]).is_err());
    }

    #[test]
    fn windows_are_shifted_by_one_and_seeded() {
        let ids: Vec<u32> = (0..50).collect();
        let w = random_windows(&ids, 3, 7, 1, 0).unwrap();
        for r in 0..3 {
            let (x, y) = (&w.inputs[r * 7..r * 7 + 7], &w.targets[r * 7..r * 7 + 7]);
            assert!(x.windows(2).all(|p| p[1] == p[0] + 1));
            assert!(x.iter().zip(y).all(|(a, b)| *b == a + 1));
            assert!(y[6] <= 49);
        }
        assert_eq!(random_windows(&ids, 3, 7, 1, 0).unwrap().inputs, w.inputs);
        assert_ne!(random_windows(&ids, 3, 7, 1, 1).unwrap().inputs, w.inputs);
        // A text with room for one window gives that window.
        let tight = random_windows(&ids, 4, 49, 2, 0).unwrap();
        assert!(tight.inputs.chunks(49).all(|x| x[0] == 0));
        assert!(random_windows(&ids, 1, 50, 1, 0).is_err());
        let all = consecutive_windows(&ids, 7);
        assert_eq!(all.rows, 7);
        assert_eq!(all.targets.last(), Some(&49));
    }
}

//! Static word-piece vectors distilled offline from the all-MiniLM-L6-v2 sentence encoder
//! (`scripts/distill_vectors.py`; the file and its licence are in `models/`). They give the classifier a
//! sense of meaning that n-grams lack: "lost" and "stolen", "pin" and "passcode" land near each other even
//! when the training examples never pair them.
//!
//! A message's vector is the normalised mean of the vectors of its word pieces (BERT's WordPiece: greedy
//! longest match, continuation pieces prefixed `##`). No transformer runs at run time: a look-up per piece
//! and one sum. The vectors are English; [`WordVectors::english_share`] tells how much of a text they know.

use super::classifier::FxHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

/// The distilled vectors, embedded in the binary so the bot needs no file at run time.
static EMBEDDED: &[u8] = include_bytes!("../../models/minilm-static.pvec");

const MAGIC: &[u8] = b"PVEC1\n";

/// Longest word looked up piece by piece (BERT's own limit is 100 characters).
const MAX_WORD_CHARS: usize = 40;

/// Word-piece vectors, quantised to 8 bits per dimension with one scale per piece.
pub struct WordVectors {
    pieces: HashMap<String, u32, BuildHasherDefault<FxHasher>>,
    dim: usize,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl std::fmt::Debug for WordVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordVectors")
            .field("pieces", &self.pieces.len())
            .field("dim", &self.dim)
            .finish()
    }
}

/// Why a vector file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("word vectors: {0}")]
pub struct FormatError(&'static str);

impl WordVectors {
    /// The vectors shipped with parcours, parsed on first use.
    pub fn embedded() -> &'static WordVectors {
        static VECTORS: OnceLock<WordVectors> = OnceLock::new();
        VECTORS.get_or_init(|| {
            WordVectors::parse(EMBEDDED)
                .expect("the embedded vector file is checked by a unit test")
        })
    }

    /// Reads the format written by `scripts/distill_vectors.py`: magic, piece count and dimension (u32 LE),
    /// the pieces (u8 length + UTF-8), one f32 scale per piece, then the i8 values row by row.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(FormatError("not a PVEC1 file"))?;
        let u32_at = |b: &[u8], at: usize| -> Result<usize, FormatError> {
            b.get(at..at + 4)
                .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
                .ok_or(FormatError("truncated header"))
        };
        let (n, dim) = (u32_at(rest, 0)?, u32_at(rest, 4)?);
        let mut at = 8;
        let mut pieces = HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
        for id in 0..n {
            let len = *rest.get(at).ok_or(FormatError("truncated piece list"))? as usize;
            let text = rest
                .get(at + 1..at + 1 + len)
                .ok_or(FormatError("truncated piece list"))?;
            let text =
                std::str::from_utf8(text).map_err(|_| FormatError("a piece is not UTF-8"))?;
            pieces.insert(text.to_string(), id as u32);
            at += 1 + len;
        }
        let scales: Vec<f32> = rest
            .get(at..at + 4 * n)
            .ok_or(FormatError("truncated scales"))?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        at += 4 * n;
        let values: Vec<i8> = rest
            .get(at..at + n * dim)
            .ok_or(FormatError("truncated values"))?
            .iter()
            .map(|&b| b as i8)
            .collect();
        if at + n * dim != rest.len() {
            return Err(FormatError("trailing bytes"));
        }
        Ok(WordVectors {
            pieces,
            dim,
            scales,
            values,
        })
    }

    /// Dimensions of a vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.values.len() + self.scales.len() * 4 + self.pieces.capacity() * 40
    }

    /// The word pieces of one lower-case word, as piece ids (BERT's WordPiece); empty when a part of the
    /// word has no piece, as BERT would give `[UNK]`.
    fn pieces_of(&self, word: &str, out: &mut Vec<u32>) {
        let start_len = out.len();
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.is_empty() || chars.len() > MAX_WORD_CHARS {
            return;
        }
        let mut buf = String::with_capacity(word.len() + 2);
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let from = chars[start].0;
                let to = chars.get(end).map_or(word.len(), |c| c.0);
                buf.clear();
                if start > 0 {
                    buf.push_str("##");
                }
                buf.push_str(&word[from..to]);
                if let Some(&id) = self.pieces.get(buf.as_str()) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => out.push(id),
                None => {
                    out.truncate(start_len);
                    return;
                }
            }
            start = end;
        }
    }

    /// The piece ids of every token, in order.
    fn piece_ids(&self, tokens: &[String]) -> Vec<u32> {
        let mut ids = Vec::with_capacity(tokens.len() * 2);
        for t in tokens {
            self.pieces_of(t, &mut ids);
        }
        ids
    }

    /// Writes the normalised mean vector of `tokens` (lower-case words), times `weight`, into `out`
    /// (`dim` long). Returns false, with `out` all zeros, when no token has a vector.
    pub fn sentence(&self, tokens: &[String], weight: f32, out: &mut [f32]) -> bool {
        debug_assert_eq!(out.len(), self.dim);
        out.fill(0.0);
        let ids = self.piece_ids(tokens);
        for &id in &ids {
            let id = id as usize;
            let scale = self.scales[id];
            let row = &self.values[id * self.dim..(id + 1) * self.dim];
            for (o, &v) in out.iter_mut().zip(row) {
                *o += scale * f32::from(v);
            }
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm == 0.0 {
            out.fill(0.0);
            return false;
        }
        out.iter_mut().for_each(|o| *o *= weight / norm);
        true
    }

    /// Writes the power means of `tokens`' piece vectors (Rücklé et al. 2018) into `out` (`3 × dim` long):
    /// their mean, their maximum and their minimum in each dimension, one after the other, each scaled to
    /// the length given in `lengths`. The maximum and minimum keep the salient word that the mean of a long
    /// message dilutes. Returns false, with `out` all zeros, when no token has a vector.
    pub fn power_means(&self, tokens: &[String], lengths: [f32; 3], out: &mut [f32]) -> bool {
        debug_assert_eq!(out.len(), 3 * self.dim);
        let ids = self.piece_ids(tokens);
        if ids.is_empty() {
            out.fill(0.0);
            return false;
        }
        let (mean, rest) = out.split_at_mut(self.dim);
        let (max, min) = rest.split_at_mut(self.dim);
        mean.fill(0.0);
        max.fill(f32::NEG_INFINITY);
        min.fill(f32::INFINITY);
        for &id in &ids {
            let id = id as usize;
            let scale = self.scales[id];
            let row = &self.values[id * self.dim..(id + 1) * self.dim];
            for (d, &v) in row.iter().enumerate() {
                let x = scale * f32::from(v);
                mean[d] += x;
                max[d] = max[d].max(x);
                min[d] = min[d].min(x);
            }
        }
        if mean.iter().all(|v| *v == 0.0) {
            out.fill(0.0);
            return false;
        }
        for (part, length) in out.chunks_exact_mut(self.dim).zip(lengths) {
            let norm = part.iter().map(|v| v * v).sum::<f32>().sqrt();
            let k = if norm > 0.0 { length / norm } else { 0.0 };
            part.iter_mut().for_each(|v| *v *= k);
        }
        true
    }

    /// Whether `word` is a whole piece of the vocabulary (a word in its own right, not a fragment).
    pub fn is_word(&self, word: &str) -> bool {
        self.pieces.contains_key(word)
    }

    /// The share of `tokens` that are whole pieces of the (English) vocabulary: near 1 for English text,
    /// lower for French, where many words only split into fragments.
    pub fn english_share<'a>(&self, tokens: impl IntoIterator<Item = &'a String>) -> f32 {
        let (mut known, mut total) = (0usize, 0usize);
        for t in tokens {
            total += 1;
            known += usize::from(self.is_word(t));
        }
        if total == 0 {
            return 0.0;
        }
        known as f32 / total as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(v: &WordVectors, a: &str, b: &str) -> f32 {
        let toks = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let (mut x, mut y) = (vec![0.0; v.dim()], vec![0.0; v.dim()]);
        assert!(v.sentence(&toks(a), 1.0, &mut x));
        assert!(v.sentence(&toks(b), 1.0, &mut y));
        x.iter().zip(&y).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn the_embedded_file_parses_and_places_related_words_together() {
        let v = WordVectors::embedded();
        assert!(v.dim() >= 64);
        let near = cosine(v, "my card was stolen", "someone took my credit card");
        let far = cosine(v, "my card was stolen", "what is the weather tomorrow");
        assert!(near > far + 0.2, "near {near}, far {far}");
    }

    #[test]
    fn words_split_into_pieces_and_unknown_scripts_give_nothing() {
        let v = WordVectors::embedded();
        let mut ids = Vec::new();
        v.pieces_of("unbelievably", &mut ids);
        assert!(ids.len() >= 2, "{ids:?}");
        ids.clear();
        v.pieces_of("\u{10348}\u{10349}", &mut ids);
        assert!(ids.is_empty());
        let mut out = vec![0.0; v.dim()];
        assert!(!v.sentence(&[], 1.0, &mut out));
        assert!(out.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn power_means_are_the_mean_maximum_and_minimum_at_the_lengths_asked() {
        let v = WordVectors::embedded();
        let d = v.dim();
        let toks = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let mut out = vec![0.0; 3 * d];
        assert!(v.power_means(&toks("refund my card payment"), [1.5, 3.0, 3.0], &mut out));
        let norm = |p: &[f32]| p.iter().map(|x| x * x).sum::<f32>().sqrt();
        let parts: Vec<&[f32]> = out.chunks_exact(d).collect();
        for (part, length) in parts.iter().zip([1.5, 3.0, 3.0]) {
            assert!(
                (norm(part) - length).abs() < 1e-3,
                "{} vs {length}",
                norm(part)
            );
        }
        // The mean part is the sentence vector.
        let mut mean = vec![0.0; d];
        assert!(v.sentence(&toks("refund my card payment"), 1.5, &mut mean));
        assert!(mean.iter().zip(parts[0]).all(|(a, b)| (a - b).abs() < 1e-5));
        // One piece: its maximum and minimum are the piece itself.
        assert!(v.power_means(&toks("card"), [1.0, 1.0, 1.0], &mut out));
        let (m, rest) = out.split_at(d);
        assert!(m.iter().zip(&rest[..d]).all(|(a, b)| (a - b).abs() < 1e-5));
        assert!(m.iter().zip(&rest[d..]).all(|(a, b)| (a - b).abs() < 1e-5));
        assert!(!v.power_means(&[], [1.0, 1.0, 1.0], &mut out));
        assert!(out.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn english_is_known_and_french_less_so() {
        let v = WordVectors::embedded();
        let toks = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert!(v.english_share(&toks("where is my order please")) > 0.9);
        assert!(v.english_share(&toks("je voudrais annuler ma commande")) < 0.6);
    }

    #[test]
    fn damaged_files_are_refused() {
        assert!(WordVectors::parse(b"nope").is_err());
        let mut truncated = EMBEDDED[..EMBEDDED.len() / 2].to_vec();
        assert!(WordVectors::parse(&truncated).is_err());
        truncated.clear();
        truncated.extend_from_slice(MAGIC);
        truncated.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 0, 200]);
        assert!(WordVectors::parse(&truncated).is_err());
    }
}

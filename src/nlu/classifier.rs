//! The intent classifier: TF-IDF over word 1-2-grams and character 2-5-grams (within word boundaries),
//! and one linear SVM per intent (L2-regularised squared hinge, solved in the dual by coordinate descent
//! with shrinking, as in liblinear; Hsieh et al., ICML 2008). Trained at start-up from the examples.
//!
//! Messages in English also get a dense block: the normalised mean of static word-piece vectors distilled
//! from a sentence encoder ([`super::vectors`]), so that words never seen in an intent's examples still count
//! when they mean the same thing. With few examples per intent the block also holds the vectors' maximum and
//! minimum in each dimension, and each intent keeps the centroid of its examples' mean vectors for a
//! prototype term ([`Classifier::similarities`]) that the NLU adds to the SVM's decision when ranking.
//!
//! Features are hashed to 64 bits, so featurising a message allocates nothing per n-gram; only n-grams seen
//! in training have a weight. Weights are stored feature-major, so scoring a message touches one row of
//! `n_labels` floats per feature it has.

use super::stems;
use super::vectors::WordVectors;
use crate::message::Lang;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// SVM regularisation: larger fits the training examples more closely.
    pub c: f32,
    /// Character n-gram lengths.
    pub char_ngrams: (usize, usize),
    /// Weight of the character block against the word block (both are L2-normalised first).
    pub char_weight: f32,
    /// Stop when the projected gradient's spread falls below this (liblinear's default 0.1).
    pub eps: f32,
    /// Upper bound on passes over the data per intent.
    pub max_epochs: usize,
    /// Add each word's stem in this language to the word block (see [`super::stems`]), or `None`. Used for
    /// French sets, which have no word vectors: on 5-fold cross-validation over the snips_fr and wikit_fr
    /// train splits it gained on clean, typo'd and unaccented text, where English stems (beside the
    /// vectors) lost a little on held-out parts of the Banking77 and HWU64 train splits (see the README).
    pub stems: Option<Lang>,
    /// Word vectors for the dense block, or `None` for n-grams only.
    pub vectors: Option<&'static WordVectors>,
    /// Weight of the dense block's mean part against the two n-gram blocks (each of norm 1).
    pub vector_weight: f32,
    /// Weight of the dense block's maximum and minimum parts (see [`WordVectors::power_means`]), relative
    /// to its mean part; 0 for the mean alone.
    pub extremes_weight: f32,
    /// The extremes are used only when there are at most this many examples per intent on average: with
    /// few examples they carry what the n-grams cannot learn, with many they add noise (and training time).
    /// Chosen on held-out parts of the Banking77 and HWU64 train splits at 3, 5, 10, 20 and 40 examples per
    /// intent and in full (see the README).
    pub extremes_up_to: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            c: 1.0,
            char_ngrams: (2, 5),
            char_weight: 1.0,
            eps: 0.1,
            max_epochs: 1000,
            stems: None,
            vectors: None,
            vector_weight: 1.5,
            extremes_weight: 2.0,
            extremes_up_to: 25.0,
        }
    }
}

impl Config {
    /// Width of the dense block: the word vectors' mean, and their maximum and minimum if weighted.
    fn dense_dim(&self) -> usize {
        let parts = if self.extremes_weight > 0.0 { 3 } else { 1 };
        self.vectors.map_or(0, |v| v.dim() * parts)
    }
}

/// A fast, non-cryptographic hasher for n-grams and for maps keyed by their hashes (FxHash's mixing).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(SEED);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SEED);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

fn hash(namespace: u64, bytes: &[u8]) -> u64 {
    let mut h = FxHasher(namespace);
    h.write(bytes);
    h.write_u64(bytes.len() as u64);
    h.finish()
}

const WORD: u64 = 1;
const BIGRAM: u64 = 2;
const CHARS: u64 = 3;
const STEM: u64 = 4;

/// Hashes of the n-grams of one tokenised message: (word block, char block).
fn ngrams(tokens: &[String], cfg: &Config, words: &mut Vec<u64>, chars: &mut Vec<u64>) {
    words.clear();
    chars.clear();
    let mut buf = Vec::with_capacity(64);
    for (i, t) in tokens.iter().enumerate() {
        words.push(hash(WORD, t.as_bytes()));
        // A number is one placeholder already: it has no stem to add.
        if let (Some(lang), false) = (cfg.stems, t.bytes().all(|b| b.is_ascii_digit())) {
            words.push(hash(STEM, stems::stem(lang, t).as_bytes()));
        }
        if let Some(next) = tokens.get(i + 1) {
            buf.clear();
            buf.extend_from_slice(t.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(next.as_bytes());
            words.push(hash(BIGRAM, &buf));
        }
        // Character n-grams of " token " (scikit-learn's char_wb).
        buf.clear();
        buf.push(b' ');
        buf.extend_from_slice(t.as_bytes());
        buf.push(b' ');
        let s = std::str::from_utf8(&buf).unwrap_or(" ");
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let n_chars = bounds.len() - 1;
        let (lo, hi) = cfg.char_ngrams;
        for n in lo..=hi.min(n_chars) {
            for start in 0..=(n_chars - n) {
                chars.push(hash(CHARS, &buf[bounds[start]..bounds[start + n]]));
            }
        }
    }
}

/// A sparse, L2-normalised TF-IDF vector.
type SparseVec = Vec<(u32, f32)>;

/// A trained classifier.
#[derive(Clone)]
pub struct Classifier {
    cfg: Config,
    labels: Vec<String>,
    vocab: FxMap<u64, u32>,
    idf: Vec<f32>,
    /// `n_features × n_labels`, feature-major.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// For each label, the unit mean word vectors of its training examples (the dense block's mean part),
    /// row after row (see [`Classifier::nearest`]).
    examples_dense: Vec<Vec<f32>>,
    /// For each label, the unit-length mean of its examples' unit mean vectors, row after row (see
    /// [`Classifier::similarities`]).
    centroids: Vec<f32>,
    /// For each label, its examples' mean cosine to its centroid: high for a tight intent, low for a
    /// scattered one such as an out-of-scope class.
    typical: Vec<f32>,
}

/// Scratch space reused across calls to avoid allocating per message.
#[derive(Default)]
pub struct Scratch {
    words: Vec<u64>,
    chars: Vec<u64>,
    vec: SparseVec,
    /// The dense block, when the message has one (`has_dense`).
    dense: Vec<f32>,
    has_dense: bool,
    scores: Vec<f32>,
    /// Centred similarity of the dense block to each label's centroid (empty without a dense block).
    similarities: Vec<f32>,
}

/// The training examples as vectors: the sparse n-gram part, and the dense blocks as one row-major matrix
/// (a zero row for examples without one), so that the solver's dense dot products are contiguous.
struct Examples {
    /// The n-gram parts of all examples, one after the other (example `i` is `sparse[ends[i - 1]..ends[i]]`),
    /// so that the solver finds each without following a pointer.
    sparse: SparseVec,
    ends: Vec<usize>,
    dense: Vec<f32>,
    has_dense: Vec<bool>,
    /// Each example's squared norm, sparse and dense parts together (the same for every label's solver).
    sq_norms: Vec<f32>,
    /// Index of the first dense feature (= number of n-gram features), and the block's width.
    first_dense: usize,
    dim: usize,
}

impl Scratch {
    /// The decision values written by the last [`Classifier::scores`].
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
}

impl Examples {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn sparse_row(&self, i: usize) -> &[(u32, f32)] {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        &self.sparse[start..self.ends[i]]
    }

    fn dense_row(&self, i: usize) -> Option<&[f32]> {
        self.has_dense[i].then(|| &self.dense[i * self.dim..(i + 1) * self.dim])
    }
}

impl Classifier {
    /// Trains on tokenised examples with their label; `dense[i]` says whether example `i` gets the dense
    /// block (true for English examples when `cfg.vectors` is set; missing entries count as false).
    pub fn train(examples: &[(Vec<String>, String)], dense: &[bool], mut cfg: Config) -> Self {
        let mut labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
        labels.sort();
        labels.dedup();
        if examples.len() as f32 > cfg.extremes_up_to * labels.len() as f32 {
            cfg.extremes_weight = 0.0;
        }
        let ys: Vec<usize> = {
            let label_of: HashMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            examples.iter().map(|(_, l)| label_of[l.as_str()]).collect()
        };
        // Vocabulary and document frequencies.
        let mut vocab: FxMap<u64, u32> = FxMap::default();
        let mut df: Vec<u32> = Vec::new();
        let (mut words, mut chars) = (Vec::new(), Vec::new());
        let mut seen: Vec<u64> = Vec::new();
        for (tokens, _) in examples {
            ngrams(tokens, &cfg, &mut words, &mut chars);
            seen.clear();
            seen.extend(words.iter().chain(chars.iter()));
            seen.sort_unstable();
            seen.dedup();
            for h in &seen {
                let next = vocab.len() as u32;
                let id = *vocab.entry(*h).or_insert(next);
                if id as usize == df.len() {
                    df.push(0);
                }
                df[id as usize] += 1;
            }
        }
        let n = examples.len() as f32;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)
            .collect();
        let mut model = Classifier {
            cfg,
            labels,
            vocab,
            idf,
            weights: Vec::new(),
            bias: Vec::new(),
            examples_dense: Vec::new(),
            centroids: Vec::new(),
            typical: Vec::new(),
        };
        let mean_dim = model.cfg.vectors.map_or(0, WordVectors::dim);
        let xs = model.featurise(examples, dense);
        let n_features = model.n_features();
        let mut examples_dense = vec![Vec::new(); model.labels.len()];
        for (i, &y) in ys.iter().enumerate() {
            if let (Some(row), true) = (xs.dense_row(i), cfg.vector_weight > 0.0) {
                let unit = row[..mean_dim].iter().map(|v| v / cfg.vector_weight);
                examples_dense[y].extend(unit);
            }
        }
        (model.centroids, model.typical) = centroids(&examples_dense, mean_dim);
        model.examples_dense = examples_dense;
        let n_labels = model.labels.len();
        let mut weights = vec![0f32; n_features * n_labels];
        let mut bias = vec![0f32; n_labels];
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(n_labels.max(1));
        let solved: Vec<(usize, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (xs, ys) = (&xs, &ys);
                    s.spawn(move || {
                        (t..n_labels)
                            .step_by(threads)
                            .map(|label| (label, solve_binary(xs, ys, label, n_features, &cfg)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("training thread"))
                .collect()
        });
        for (label, w) in solved {
            for f in 0..n_features {
                weights[f * n_labels + label] = w[f];
            }
            bias[label] = w[n_features];
        }
        model.weights = weights;
        model.bias = bias;
        model
    }

    /// The training examples as vectors, with this model's vocabulary and dense block.
    fn featurise(&self, examples: &[(Vec<String>, String)], dense: &[bool]) -> Examples {
        let mut scratch = Scratch::default();
        let dim = self.cfg.dense_dim();
        let mut xs = Examples {
            sparse: Vec::new(),
            ends: Vec::with_capacity(examples.len()),
            dense: vec![0.0; examples.len() * dim],
            has_dense: Vec::with_capacity(examples.len()),
            sq_norms: Vec::with_capacity(examples.len()),
            first_dense: self.idf.len(),
            dim,
        };
        for (i, (t, _)) in examples.iter().enumerate() {
            self.vectorize(t, dense.get(i).copied().unwrap_or(false), &mut scratch);
            xs.sparse.extend_from_slice(&scratch.vec);
            xs.ends.push(xs.sparse.len());
            xs.has_dense.push(scratch.has_dense);
            let mut sq_norm = scratch.vec.iter().map(|(_, v)| v * v).sum::<f32>();
            if scratch.has_dense {
                xs.dense[i * dim..(i + 1) * dim].copy_from_slice(&scratch.dense);
                sq_norm += scratch.dense.iter().map(|v| v * v).sum::<f32>();
            }
            xs.sq_norms.push(sq_norm);
        }
        xs
    }

    /// The labels, in score order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of features: distinct n-grams learnt, plus the dimensions of the dense block.
    pub fn n_features(&self) -> usize {
        self.idf.len() + self.cfg.dense_dim()
    }

    /// The cosine similarity between the message last scored (with its dense block) and the closest
    /// training example of `label`, or `None` without a dense block on either side. Low values mean a
    /// message unlike anything the intent was taught, however the linear scores came out.
    pub fn nearest(&self, label: usize, scratch: &Scratch) -> Option<f32> {
        let dim = self.cfg.vectors?.dim();
        if !scratch.has_dense || self.cfg.vector_weight <= 0.0 {
            return None;
        }
        let query = &scratch.dense[..dim];
        let rows = self.examples_dense.get(label)?;
        let mut best: Option<f32> = None;
        let mut take = |d: f32| {
            let sim = d / self.cfg.vector_weight;
            if best.is_none_or(|b| sim.total_cmp(&b).is_ge()) {
                best = Some(sim);
            }
        };
        // Four rows at a time against the query, each with the same sums as `dot`.
        let mut quads = rows.chunks_exact(4 * dim);
        for quad in &mut quads {
            dots4(quad, query).into_iter().for_each(&mut take);
        }
        for row in quads.remainder().chunks_exact(dim) {
            take(dot(row, query));
        }
        best
    }

    /// How close the message last scored is to each label's centroid (the mean of its examples' mean word
    /// vectors), in label order: its cosine to the centroid minus the label's typical cosine (see
    /// [`centroids`]), so about 0 for a message as close as the label's own examples and negative for one
    /// further away; a label without word vectors in its examples gets the lowest value. `None` without a
    /// dense block. A prototype classifier (as in Snell et al. 2017) that generalises from few examples,
    /// where the SVM's weights for each dimension need many; scattered labels (an out-of-scope class)
    /// are not penalised for being scattered.
    pub fn similarities<'s>(&self, scratch: &'s Scratch) -> Option<&'s [f32]> {
        (!scratch.similarities.is_empty()).then_some(scratch.similarities.as_slice())
    }

    /// The language of the word stems in the features, if any.
    pub fn stems(&self) -> Option<Lang> {
        self.cfg.stems
    }

    /// Whether the classifier has a dense block.
    pub fn has_vectors(&self) -> bool {
        self.cfg.vectors.is_some()
    }

    /// The word vectors of the dense block, if any.
    pub fn vectors(&self) -> Option<&'static WordVectors> {
        self.cfg.vectors
    }

    /// Bytes held by the model's tables (weights, vocabulary, idf, word vectors), for reports.
    pub fn memory_bytes(&self) -> usize {
        self.weights.len() * 4
            + self.idf.len() * 4
            + self.vocab.capacity() * 16
            + self.bias.len() * 4
            + self.cfg.vectors.map_or(0, WordVectors::memory_bytes)
            + self
                .examples_dense
                .iter()
                .map(|v| v.len() * 4)
                .sum::<usize>()
            + (self.centroids.len() + self.typical.len()) * 4
    }

    /// Fills `scratch.vec` with the message's TF-IDF vector, followed by the dense block if `dense`.
    fn vectorize(&self, tokens: &[String], dense: bool, scratch: &mut Scratch) {
        ngrams(tokens, &self.cfg, &mut scratch.words, &mut scratch.chars);
        scratch.vec.clear();
        for (block, weight) in [
            (&mut scratch.words, 1.0),
            (&mut scratch.chars, self.cfg.char_weight),
        ] {
            block.sort_unstable();
            let start = scratch.vec.len();
            let mut i = 0;
            while i < block.len() {
                let mut j = i;
                while j < block.len() && block[j] == block[i] {
                    j += 1;
                }
                if let Some(&id) = self.vocab.get(&block[i]) {
                    let tf = 1.0 + ((j - i) as f32).ln();
                    scratch.vec.push((id, tf * self.idf[id as usize]));
                }
                i = j;
            }
            let norm = scratch.vec[start..]
                .iter()
                .map(|(_, v)| v * v)
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                for (_, v) in &mut scratch.vec[start..] {
                    *v *= weight / norm;
                }
            }
        }
        scratch.has_dense = false;
        if let (true, Some(vectors)) = (dense, self.cfg.vectors) {
            let w = self.cfg.vector_weight;
            scratch.dense.resize(self.cfg.dense_dim(), 0.0);
            scratch.has_dense = if self.cfg.extremes_weight > 0.0 {
                let extremes = w * self.cfg.extremes_weight;
                vectors.power_means(tokens, [w, extremes, extremes], &mut scratch.dense)
            } else {
                vectors.sentence(tokens, w, &mut scratch.dense)
            };
        }
    }

    /// The decision value of every label for a tokenised message (higher is more likely); in
    /// `scratch.scores`, in the order of [`Classifier::labels`]. `dense` as in [`Classifier::train`].
    pub fn scores<'s>(
        &self,
        tokens: &[String],
        dense: bool,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        self.vectorize(tokens, dense, scratch);
        scratch.scores.clear();
        scratch.scores.extend_from_slice(&self.bias);
        let dense = scratch.has_dense.then_some(scratch.dense.as_slice());
        let first = self.idf.len();
        let dense_features = dense
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(d, v)| (first + d, *v));
        let sparse_features = scratch.vec.iter().map(|&(f, v)| (f as usize, v));
        accumulate(
            &mut scratch.scores,
            &self.weights,
            sparse_features.chain(dense_features),
        );
        scratch.similarities.clear();
        let weighted = self.cfg.vector_weight > 0.0;
        if let (true, true, Some(dim)) = (
            scratch.has_dense,
            weighted,
            self.cfg.vectors.map(WordVectors::dim),
        ) {
            let scale = 1.0 / self.cfg.vector_weight;
            let sims = self
                .centroids
                .chunks_exact(dim)
                .zip(&self.typical)
                .map(|(c, typical)| dot(c, &scratch.dense[..dim]) * scale - typical);
            scratch.similarities.extend(sims);
            // A label without dense rows (NaN) has no prototype: it gets the lowest term of the others,
            // never a free advantage.
            let lowest = scratch
                .similarities
                .iter()
                .copied()
                .filter(|s| !s.is_nan())
                .fold(f32::INFINITY, f32::min);
            let lowest = if lowest.is_finite() { lowest } else { 0.0 };
            for s in &mut scratch.similarities {
                if s.is_nan() {
                    *s = lowest;
                }
            }
        }
        &scratch.scores
    }

    /// The share of the message's n-grams the classifier knows (0 to 1): low for gibberish and for topics
    /// far from every example.
    pub fn coverage(&self, tokens: &[String], scratch: &mut Scratch) -> f32 {
        ngrams(tokens, &self.cfg, &mut scratch.words, &mut scratch.chars);
        let total = scratch.words.len();
        if total == 0 {
            return 0.0;
        }
        let known = scratch
            .words
            .iter()
            .filter(|h| self.vocab.contains_key(h))
            .count();
        known as f32 / total as f32
    }
}

/// The unit-length mean of each label's unit rows (`dim` wide), label after label (a zero row for a label
/// without dense rows), and each label's typical similarity to its centroid: how close one of its examples
/// is to the centroid of the *others* (leave-one-out, so that an example is not measured against itself,
/// which would favour labels with more examples). A label with a single example takes the mean of the
/// other labels' typical values; a label without dense rows gets NaN (see [`Classifier::similarities`]).
fn centroids(rows_by_label: &[Vec<f32>], dim: usize) -> (Vec<f32>, Vec<f32>) {
    if dim == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut out = vec![0f32; rows_by_label.len() * dim];
    let mut typical: Vec<Option<f32>> = Vec::with_capacity(rows_by_label.len());
    for (c, rows) in out.chunks_exact_mut(dim).zip(rows_by_label) {
        for row in rows.chunks_exact(dim) {
            c.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        // Rows are unit vectors: cos(r, S - r) = (r·S - 1) / |S - r|, with |S - r|² = |S|² - 2 r·S + 1.
        let sum_sq = dot(c, c);
        let n = rows.len() / dim;
        let loo = rows.chunks_exact(dim).map(|r| {
            let rs = dot(r, c);
            let rest = (sum_sq - 2.0 * rs + 1.0).max(0.0).sqrt();
            if rest > 1e-6 { (rs - 1.0) / rest } else { 1.0 }
        });
        typical.push((n >= 2).then(|| loo.sum::<f32>() / n as f32));
        let norm = sum_sq.sqrt();
        if norm > 0.0 {
            c.iter_mut().for_each(|v| *v /= norm);
        }
    }
    let known: Vec<f32> = typical.iter().flatten().copied().collect();
    let fallback = if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f32>() / known.len() as f32
    };
    let typical = typical
        .iter()
        .zip(rows_by_label)
        .map(|(t, rows)| match (t, rows.is_empty()) {
            (_, true) => f32::NAN,
            (Some(t), false) => *t,
            (None, false) => fallback,
        })
        .collect();
    (out, typical)
}

/// One-vs-rest: the weights (and bias, last) separating `label` from the others. Training is spent
/// reading examples in random order and taking dot products with them, so the solver prefetches the
/// example after next ([`prefetch_example`]), keeps four running sums in sparse dot products, and on x86-64
/// CPUs with AVX2 is compiled a second time for 256-bit registers, chosen at run time (the binary still
/// runs on any x86-64).
fn solve_binary(
    xs: &Examples,
    ys: &[usize],
    label: usize,
    n_features: usize,
    cfg: &Config,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { solve_binary_avx2(xs, ys, label, n_features, cfg) };
    }
    solve_binary_generic(xs, ys, label, n_features, cfg)
}

/// [`solve_binary_generic`] compiled with AVX2; callers must check that the CPU has it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn solve_binary_avx2(
    xs: &Examples,
    ys: &[usize],
    label: usize,
    n_features: usize,
    cfg: &Config,
) -> Vec<f32> {
    solve_binary_generic(xs, ys, label, n_features, cfg)
}

#[inline(always)]
fn solve_binary_generic(
    xs: &Examples,
    ys: &[usize],
    label: usize,
    n_features: usize,
    cfg: &Config,
) -> Vec<f32> {
    let l = xs.len();
    let (first, dim) = (xs.first_dense, xs.dim);
    let mut w = vec![0f32; n_features + 1];
    let mut alpha = vec![0f32; l];
    let diag = 0.5 / cfg.c;
    let y: Vec<f32> = ys
        .iter()
        .map(|&c| if c == label { 1.0 } else { -1.0 })
        .collect();
    // ‖x‖² plus the bias feature (1) plus the diagonal of the squared-hinge dual.
    let qd: Vec<f32> = xs.sq_norms.iter().map(|n| n + 1.0 + diag).collect();
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    // Squared hinge has no upper bound on alpha, so only the upper projected-gradient bound shrinks.
    let mut pg_max_old = f32::INFINITY;
    // A fixed-seed generator keeps training reproducible.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ label as u64;
    for _ in 0..cfg.max_epochs {
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        for i in 0..active {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let j = i + (rng % (active - i) as u64) as usize;
            index.swap(i, j);
        }
        let mut s = 0;
        while s < active {
            if let Some(&ahead) = index.get(s + 2).filter(|_| s + 2 < active) {
                prefetch_example(xs, ahead);
            }
            let i = index[s];
            let x = xs.sparse_row(i);
            let dense = xs.dense_row(i);
            let mut wx = sparse_dot(x, &w) + w[n_features];
            if let Some(row) = dense {
                wx += dot(&w[first..first + dim], row);
            }
            let g = y[i] * wx - 1.0 + alpha[i] * diag;
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (alpha[i] - g / qd[i]).max(0.0);
                let d = (alpha[i] - old) * y[i];
                for &(f, v) in x {
                    w[f as usize] += d * v;
                }
                if let Some(row) = dense {
                    for (wi, v) in w[first..first + dim].iter_mut().zip(row) {
                        *wi += d * v;
                    }
                }
                w[n_features] += d;
            }
            s += 1;
        }
        if pg_max - pg_min <= cfg.eps {
            if active == l {
                break;
            }
            active = l;
            pg_max_old = f32::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f32::INFINITY } else { pg_max };
    }
    w
}

/// The dot product of a sparse vector with dense weights, in four independent sums: one running sum
/// would make every addition wait for the one before.
#[inline(always)]
fn sparse_dot(x: &[(u32, f32)], w: &[f32]) -> f32 {
    let mut sums = [0f32; 4];
    let chunks = x.chunks_exact(4);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|&(f, v)| w[f as usize] * v)
        .sum();
    for chunk in chunks {
        for (sum, &(f, v)) in sums.iter_mut().zip(chunk) {
            *sum += w[f as usize] * v;
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// Asks the CPU to bring example `i` into cache while an earlier one is processed: the solver visits
/// examples in random order, so the hardware cannot guess which comes next, and it spends most of its time
/// waiting for them otherwise.
#[inline(always)]
fn prefetch_example(xs: &Examples, i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let sparse = xs.sparse_row(i);
        let dense = xs.dense_row(i).unwrap_or(&[]);
        let lines = (0..size_of_val(sparse))
            .step_by(64)
            .map(|o| sparse.as_ptr().cast::<i8>().wrapping_add(o));
        let lines = lines.chain(
            (0..size_of_val(dense))
                .step_by(64)
                .map(|o| dense.as_ptr().cast::<i8>().wrapping_add(o)),
        );
        for line in lines {
            // SAFETY: every x86-64 CPU has SSE, which is all `_mm_prefetch` needs; a prefetch is only a hint
            // and never faults, and the addresses are within the example's own allocations anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
        }
    }
}

/// A dot product in eight independent lanes, which the compiler turns into SIMD: 256-bit where the
/// processor has AVX2 (the same additions in the same order, so the same result to the bit; no FMA).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { dot_avx2(a, b) };
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// [`dot`] of four rows (one after the other in `rows`, each as long as `query`) with `query`: the
/// query read once for the four, each row's sum the same to the bit as `dot`'s.
#[inline(always)]
fn dots4(rows: &[f32], query: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { dots4_avx2(rows, query) };
    }
    let dim = query.len();
    std::array::from_fn(|r| dot_lanes(&rows[r * dim..(r + 1) * dim], query))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots4_avx2(rows: &[f32], query: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let dim = query.len();
    assert_eq!(rows.len(), 4 * dim);
    let whole = dim / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 4];
    for c in (0..whole).step_by(8) {
        // SAFETY: `c + 8 <= whole <= dim`, and row `r` is `rows[r * dim..(r + 1) * dim]`.
        unsafe {
            let q = _mm256_loadu_ps(query.as_ptr().add(c));
            for (r, a) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(rows.as_ptr().add(r * dim + c));
                *a = _mm256_add_ps(*a, _mm256_mul_ps(x, q));
            }
        }
    }
    let mut out = [0f32; 4];
    for (r, (o, a)) in out.iter_mut().zip(acc).enumerate() {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), a) };
        // As `dot_lanes` ends: the lanes in order, then the products past the last eight.
        let tail: f32 = rows[r * dim + whole..(r + 1) * dim]
            .iter()
            .zip(&query[whole..])
            .map(|(x, y)| x * y)
            .sum();
        *o = lanes.iter().sum::<f32>() + tail;
    }
    out
}

/// Adds each feature's value times its row of `weights` (one weight per label) to `scores`: element
/// by element, so 256-bit lanes where the processor has AVX2 give the same sums to the bit (no FMA).
#[inline(always)]
fn accumulate<I>(scores: &mut [f32], weights: &[f32], features: I)
where
    I: Iterator<Item = (usize, f32)> + Clone,
{
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { accumulate_avx2(scores, weights, features) };
    }
    accumulate_lanes(scores, weights, features)
}

/// [`accumulate`] with the scores held in registers: up to 64 labels at a time (eight 256-bit lanes),
/// each feature's row added to them, and written back once. Each label's sum takes the same
/// multiplications and additions in the same order as [`accumulate_lanes`], so the same result.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_avx2<I>(scores: &mut [f32], weights: &[f32], features: I)
where
    I: Iterator<Item = (usize, f32)> + Clone,
{
    let n = scores.len();
    let mut start = 0;
    while start < n {
        let width = (n - start).min(64);
        let block = &mut scores[start..start + width];
        let features = features.clone();
        // SAFETY (all arms): the processor has AVX2 (this function's own requirement).
        unsafe {
            match width.div_ceil(8) {
                1 => accumulate_block::<1, I>(block, weights, n, start, features),
                2 => accumulate_block::<2, I>(block, weights, n, start, features),
                3 => accumulate_block::<3, I>(block, weights, n, start, features),
                4 => accumulate_block::<4, I>(block, weights, n, start, features),
                5 => accumulate_block::<5, I>(block, weights, n, start, features),
                6 => accumulate_block::<6, I>(block, weights, n, start, features),
                7 => accumulate_block::<7, I>(block, weights, n, start, features),
                _ => accumulate_block::<8, I>(block, weights, n, start, features),
            }
        }
        start += width;
    }
}

/// Labels `start..start + block.len()` of every feature's row (rows are `n` wide), into `block`, in
/// `LANES` registers of eight; the last one masked to the labels there are.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_block<const LANES: usize, I>(
    block: &mut [f32],
    weights: &[f32],
    n: usize,
    start: usize,
    features: I,
) where
    I: Iterator<Item = (usize, f32)>,
{
    use std::arch::x86_64::*;
    let width = block.len();
    assert!(width > (LANES - 1) * 8 && width <= LANES * 8);
    let last = (LANES - 1) * 8;
    let mut lanes = [0i32; 8];
    for (k, lane) in lanes.iter_mut().enumerate() {
        if last + k < width {
            *lane = -1;
        }
    }
    // SAFETY: the loads and stores stay within `block` and within the rows checked below; masked lanes
    // are neither read nor written.
    unsafe {
        let mask = _mm256_loadu_si256(lanes.as_ptr().cast());
        // A macro, not a closure: the intrinsics stay inlined in this function's AVX2 code.
        macro_rules! load {
            ($p:expr, $k:expr) => {
                if $k + 1 == LANES {
                    _mm256_maskload_ps($p.add($k * 8), mask)
                } else {
                    _mm256_loadu_ps($p.add($k * 8))
                }
            };
        }
        let mut acc = [_mm256_setzero_ps(); LANES];
        for (k, a) in acc.iter_mut().enumerate() {
            *a = load!(block.as_ptr(), k);
        }
        for (f, v) in features {
            let row = &weights[f * n + start..f * n + start + width];
            let v = _mm256_set1_ps(v);
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(v, load!(row.as_ptr(), k)));
            }
        }
        for (k, a) in acc.iter().enumerate() {
            let p = block.as_mut_ptr().add(k * 8);
            if k + 1 == LANES {
                _mm256_maskstore_ps(p, mask, *a);
            } else {
                _mm256_storeu_ps(p, *a);
            }
        }
    }
}

#[inline(always)]
fn accumulate_lanes(
    scores: &mut [f32],
    weights: &[f32],
    features: impl Iterator<Item = (usize, f32)>,
) {
    let n = scores.len();
    for (f, v) in features {
        let row = &weights[f * n..(f + 1) * n];
        for (s, w) in scores.iter_mut().zip(row) {
            *s += v * w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn with_vectors() -> Config {
        Config {
            vectors: Some(WordVectors::embedded()),
            ..Config::default()
        }
    }

    fn labelled(rows: &[(&str, &str)]) -> Vec<(Vec<String>, String)> {
        rows.iter().map(|(t, l)| (toks(t), l.to_string())).collect()
    }

    #[test]
    fn with_french_stems_a_verb_shares_a_word_feature_with_its_other_endings() {
        let words_of = |w: &str, cfg: &Config| {
            let (mut words, mut chars) = (Vec::new(), Vec::new());
            ngrams(&toks(w), cfg, &mut words, &mut chars);
            words
        };
        let shared = |cfg: &Config| {
            let a = words_of("jouer", cfg);
            words_of("jouez", cfg)
                .iter()
                .filter(|h| a.contains(h))
                .count()
        };
        let stems = Config {
            stems: Some(Lang::Fr),
            ..Config::default()
        };
        assert_eq!(shared(&Config::default()), 0);
        assert_eq!(shared(&stems), 1);
    }

    #[test]
    fn a_small_problem_is_learnt() {
        let data = labelled(&[
            ("where is my order", "status"),
            ("has my parcel shipped", "status"),
            ("track my package", "status"),
            ("i want my money back", "refund"),
            ("refund please", "refund"),
            ("when do i get my refund", "refund"),
        ]);
        let c = Classifier::train(&data, &[], Config::default());
        let mut s = Scratch::default();
        let scores = c
            .scores(&toks("where is my parcel"), false, &mut s)
            .to_vec();
        assert!(scores[c.labels().iter().position(|l| l == "status").unwrap()] > 0.0);
        let scores = c.scores(&toks("money back"), false, &mut s).to_vec();
        assert!(scores[c.labels().iter().position(|l| l == "refund").unwrap()] > 0.0);
    }

    #[test]
    fn the_prototype_term_favours_the_intent_whose_examples_are_near_and_spares_scattered_ones() {
        let data = labelled(&[
            ("my card was stolen", "lost_card"),
            ("i lost my card", "lost_card"),
            ("someone stole my credit card", "lost_card"),
            ("what is the weather tomorrow", "other"),
            ("play some jazz music", "other"),
            ("book a table for two", "other"),
        ]);
        let cfg = with_vectors();
        let c = Classifier::train(&data, &[true; 6], cfg);
        let lost = c.labels().iter().position(|l| l == "lost_card").unwrap();
        let other = 1 - lost;
        // The scattered label's examples are less alike than the tight one's.
        assert!(c.typical[other] < c.typical[lost], "{:?}", c.typical);
        let mut s = Scratch::default();
        c.scores(&toks("my wallet and bank card were stolen"), true, &mut s);
        let sims = c.similarities(&s).expect("a dense block").to_vec();
        assert!(sims[lost] > sims[other], "{sims:?}");
        // Without a dense block, or with the vectors weighted 0, there is no prototype term.
        c.scores(&toks("my card was stolen"), false, &mut s);
        assert!(c.similarities(&s).is_none());
        let unweighted = Config {
            vector_weight: 0.0,
            ..cfg
        };
        let c = Classifier::train(&data, &[true; 6], unweighted);
        c.scores(&toks("my card was stolen"), true, &mut s);
        assert!(c.similarities(&s).is_none());
    }

    #[test]
    fn examples_are_stored_one_after_the_other_and_read_back_whole() {
        let data = labelled(&[
            ("where is my order", "status"),
            ("refund", "refund"),
            ("i want my money back for the broken kettle", "refund"),
        ]);
        let c = Classifier::train(&data, &[], Config::default());
        let xs = c.featurise(&data, &[]);
        assert_eq!(xs.len(), 3);
        let mut scratch = Scratch::default();
        for (i, (tokens, _)) in data.iter().enumerate() {
            c.vectorize(tokens, false, &mut scratch);
            assert_eq!(xs.sparse_row(i), scratch.vec.as_slice(), "example {i}");
            let sq_norm: f32 = scratch.vec.iter().map(|(_, v)| v * v).sum();
            assert!((xs.sq_norms[i] - sq_norm).abs() < 1e-5);
        }
    }

    /// Repeatable numbers in [-0.5, 0.5) from `seed` (a linear congruential generator).
    fn numbers(mut seed: u64) -> impl FnMut() -> f32 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    #[test]
    fn four_rows_at_a_time_give_each_row_its_own_dot_product_to_the_bit() {
        let mut next = numbers(11);
        for dim in [1, 7, 8, 9, 64, 100, 256, 300] {
            let rows: Vec<f32> = (0..4 * dim).map(|_| next()).collect();
            let query: Vec<f32> = (0..dim).map(|_| next()).collect();
            let four = dots4(&rows, &query);
            for (r, got) in four.iter().enumerate() {
                let one = dot(&rows[r * dim..(r + 1) * dim], &query);
                assert_eq!(got.to_bits(), one.to_bits(), "dim {dim}, row {r}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_scores_held_in_registers_are_the_plain_loops_sums_to_the_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut next = numbers(7);
        for n in [1, 5, 8, 9, 27, 63, 64, 65, 77, 150] {
            let rows = 40;
            let weights: Vec<f32> = (0..rows * n).map(|_| next()).collect();
            let features: Vec<(usize, f32)> =
                (0..90).map(|i| ((i * 7) % rows, next() * 3.0)).collect();
            let base: Vec<f32> = (0..n).map(|_| next()).collect();
            let mut plain = base.clone();
            accumulate_lanes(&mut plain, &weights, features.iter().copied());
            let mut fast = base.clone();
            // SAFETY: the processor has AVX2, checked above.
            unsafe { accumulate_avx2(&mut fast, &weights, features.iter().copied()) };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&plain), bits(&fast), "{n} labels");
            assert_ne!(bits(&plain), bits(&base), "{n} labels: nothing was added");
        }
    }

    #[test]
    fn the_sparse_dot_product_adds_every_term_whatever_the_length() {
        let w: Vec<f32> = (0..16).map(|i| i as f32 * 0.5 - 3.0).collect();
        for len in 0..=11 {
            let x: Vec<(u32, f32)> = (0..len)
                .map(|i| ((i * 3 % 16) as u32, 1.0 + i as f32))
                .collect();
            let plain: f32 = x.iter().map(|&(f, v)| w[f as usize] * v).sum();
            assert!((sparse_dot(&x, &w) - plain).abs() < 1e-4, "length {len}");
        }
    }

    #[test]
    fn the_solver_gives_the_same_weights_whichever_instructions_it_runs_on() {
        let data = labelled(&[
            ("my card was stolen", "lost_card"),
            ("i lost my card", "lost_card"),
            ("what is the exchange rate", "exchange"),
            ("how much is a dollar in euros", "exchange"),
            ("where is my parcel", "status"),
            ("track my package please", "status"),
        ]);
        let cfg = with_vectors();
        let c = Classifier::train(&data, &[true; 6], cfg);
        let xs = c.featurise(&data, &[true; 6]);
        let ys: Vec<usize> = data
            .iter()
            .map(|(_, l)| c.labels().iter().position(|x| x == l).unwrap())
            .collect();
        for label in 0..c.labels().len() {
            let chosen = solve_binary(&xs, &ys, label, c.n_features(), &cfg);
            let generic = solve_binary_generic(&xs, &ys, label, c.n_features(), &cfg);
            let diff = chosen
                .iter()
                .zip(&generic)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-4, "label {label}: {diff}");
            assert!(generic.iter().any(|w| *w != 0.0));
        }
    }

    #[test]
    fn a_label_with_one_example_or_no_vectors_gets_no_free_advantage() {
        let data = labelled(&[
            ("my card was stolen", "lost_card"),
            ("i lost my card", "lost_card"),
            ("someone stole my credit card", "lost_card"),
            ("what is the exchange rate", "exchange"),
            ("how much is a dollar in euros", "exchange"),
            ("convert pounds to yen", "exchange"),
            ("where is my parcel", "status"),
            ("1234 5678", "numbers"),
        ]);
        let cfg = with_vectors();
        // The last example has no dense block, so "numbers" has no centroid.
        let dense = [true, true, true, true, true, true, true, false];
        let c = Classifier::train(&data, &dense, cfg);
        let at = |l: &str| c.labels().iter().position(|x| x == l).unwrap();
        // A single example is not measured against itself (which would give 1): it takes the mean of
        // the labels that have several.
        let (lost, exchange) = (c.typical[at("lost_card")], c.typical[at("exchange")]);
        assert!(lost < 1.0 && exchange < 1.0);
        assert!((c.typical[at("status")] - (lost + exchange) / 2.0).abs() < 1e-5);
        assert!(c.typical[at("numbers")].is_nan());
        let mut s = Scratch::default();
        c.scores(&toks("someone stole my card"), true, &mut s);
        let sims = c.similarities(&s).unwrap();
        assert!(sims.iter().all(|x| x.is_finite()), "{sims:?}");
        let lowest = sims.iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(sims[at("numbers")], lowest);
        assert!(sims[at("lost_card")] > sims[at("numbers")]);
    }

    #[test]
    fn the_vectors_extremes_are_used_for_few_examples_per_intent_only() {
        let cfg = with_vectors();
        let dim = WordVectors::embedded().dim();
        let rows = |n: usize| -> Vec<(Vec<String>, String)> {
            (0..n)
                .flat_map(|i| {
                    [
                        (toks(&format!("where is parcel {i}")), "status".to_string()),
                        (
                            toks(&format!("refund order {i} please")),
                            "refund".to_string(),
                        ),
                    ]
                })
                .collect()
        };
        let few = Classifier::train(&rows(5), &[true; 10], cfg);
        assert_eq!(few.n_features() - few.idf.len(), 3 * dim);
        let many = rows(cfg.extremes_up_to as usize + 1);
        let many = Classifier::train(&many, &vec![true; many.len()], cfg);
        assert_eq!(many.n_features() - many.idf.len(), dim);
        // Either way a message is scored, and its nearest example is measured on the mean alone.
        let mut s = Scratch::default();
        for c in [&few, &many] {
            let scores = c.scores(&toks("where is parcel 3"), true, &mut s).to_vec();
            let status = c.labels().iter().position(|l| l == "status").unwrap();
            assert!(scores[status] > scores[1 - status], "{scores:?}");
            let near = c.nearest(status, &s).unwrap();
            assert!(near > 0.99 && near < 1.01, "{near}");
        }
    }

    #[test]
    fn word_vectors_carry_meaning_the_examples_never_showed() {
        let data = labelled(&[
            ("my card was stolen", "lost_card"),
            ("i lost my card", "lost_card"),
            ("where is my card", "lost_card"),
            ("what is the exchange rate", "exchange"),
            ("how much is a dollar in euros", "exchange"),
            ("currency conversion rate", "exchange"),
        ]);
        // The mean of the vectors alone (the extremes are too noisy to learn from three examples).
        let cfg = Config {
            vectors: Some(WordVectors::embedded()),
            extremes_weight: 0.0,
            ..Config::default()
        };
        let with = Classifier::train(&data, &[true; 6], cfg);
        let without = Classifier::train(&data, &[], Config::default());
        assert!(with.n_features() > without.n_features());
        // No word of this message is in any example: only the vectors can tell.
        let msg = toks("somebody pickpocketed me");
        let lost = with.labels().iter().position(|l| l == "lost_card").unwrap();
        let mut s = Scratch::default();
        let scores = with.scores(&msg, true, &mut s).to_vec();
        assert!(scores[lost] > scores[1 - lost], "{scores:?}");
    }
}

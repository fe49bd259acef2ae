//! `parcours eval`: intent accuracy on a labelled CSV file (`text,intent`), trained on the intents folder
//! or on a training CSV, with the metrics of CONTRACT.md and a readable report.

use crate::intents::IntentPack;
use crate::nlu::{Nlu, NluConfig, normalize};
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub test: PathBuf,
    /// Train on this CSV instead of the intents folder.
    pub train: Option<PathBuf>,
    pub intents: PathBuf,
    /// Label of out-of-scope rows; fallbacks count as this prediction.
    pub oos_label: Option<String>,
    pub nlu: NluConfig,
}

/// Scores of one label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// The evaluation's result; the JSON keys are part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub n: usize,
    pub fit_s: f64,
    pub ms_per_utterance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oos_recall: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oos_precision: Option<f64>,
    pub n_train: usize,
    pub n_labels: usize,
    pub n_features: usize,
    pub model_bytes: usize,
    /// Test sentences that also appear (after normalisation) in the training data.
    pub train_overlap: usize,
    #[serde(skip)]
    pub per_label: Vec<LabelScore>,
    #[serde(skip)]
    pub confusions: Vec<(String, String, usize)>,
    /// The misclassified test rows: (text, gold, predicted).
    #[serde(skip)]
    pub errors: Vec<(String, String, String)>,
}

/// Reads a `text,intent` CSV.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(t), Some(i)) = (col("text"), col("intent")) else {
        bail!(
            "{}: the header must have the columns text,intent",
            path.display()
        );
    };
    let mut rows = Vec::new();
    for (n, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), n + 2))?;
        rows.push((
            rec.get(t).unwrap_or("").to_string(),
            rec.get(i).unwrap_or("").trim().to_string(),
        ));
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(rows)
}

/// Trains, predicts every test row and scores.
pub fn run(opts: &EvalOptions, progress: &indicatif::ProgressBar) -> anyhow::Result<Report> {
    let test = read_csv(&opts.test)?;
    let t0 = Instant::now();
    let (nlu, train_texts) = match &opts.train {
        Some(path) => {
            let train = read_csv(path)?;
            let texts: Vec<String> = train.iter().map(|(t, _)| t.clone()).collect();
            (Nlu::train(&train, opts.nlu), texts)
        }
        None => {
            let pack = IntentPack::load(&opts.intents).context("loading the intents")?;
            let texts = pack
                .intents
                .iter()
                .flat_map(|i| i.examples.values().flatten().cloned())
                .collect();
            (Nlu::from_pack(&pack, opts.nlu), texts)
        }
    };
    let fit_s = t0.elapsed().as_secs_f64();
    let seen: HashSet<Vec<String>> = train_texts
        .iter()
        .map(|t| normalize::normalize(t).tokens)
        .collect();
    let train_overlap = test
        .iter()
        .filter(|(t, _)| seen.contains(&normalize::normalize(t).tokens))
        .count();

    progress.set_length(test.len() as u64);
    let mut predictions = Vec::with_capacity(test.len());
    let t0 = Instant::now();
    for (text, _) in &test {
        let label = match &opts.oos_label {
            Some(oos) => nlu.predict(text).0.unwrap_or_else(|| oos.clone()),
            None => nlu
                .classify(&normalize::normalize(text).tokens)
                .0
                .unwrap_or_default(),
        };
        predictions.push(label);
        progress.inc(1);
    }
    let ms_per_utterance = t0.elapsed().as_secs_f64() * 1e3 / test.len() as f64;
    progress.finish_and_clear();
    let gold: Vec<&str> = test.iter().map(|(_, l)| l.as_str()).collect();
    let mut report = score(&gold, &predictions, opts.oos_label.as_deref());
    report.fit_s = fit_s;
    report.ms_per_utterance = ms_per_utterance;
    report.n_train = train_texts.len();
    report.n_labels = nlu.classifier().labels().len();
    report.n_features = nlu.classifier().n_features();
    report.model_bytes = nlu.classifier().memory_bytes();
    report.train_overlap = train_overlap;
    report.errors = test
        .iter()
        .zip(&predictions)
        .filter(|((_, gold), pred)| gold != *pred)
        .map(|((text, gold), pred)| (text.clone(), gold.clone(), pred.clone()))
        .collect();
    Ok(report)
}

/// Accuracy, macro F1 (over every label in the gold or predicted sets, as scikit-learn), per-label scores
/// and confusions.
pub fn score(gold: &[&str], pred: &[String], oos: Option<&str>) -> Report {
    let n = gold.len();
    let correct = gold
        .iter()
        .zip(pred)
        .filter(|(g, p)| **g == p.as_str())
        .count();
    let mut labels: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new(); // tp, fp, fn
    let mut confusions: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (g, p) in gold.iter().zip(pred) {
        if *g == p.as_str() {
            labels.entry(g).or_default().0 += 1;
        } else {
            labels.entry(p.as_str()).or_default().1 += 1;
            labels.entry(g).or_default().2 += 1;
            *confusions.entry((g.to_string(), p.clone())).or_default() += 1;
        }
    }
    let f = |a: f64, b: f64| if a + b == 0.0 { 0.0 } else { a / (a + b) };
    let per_label: Vec<LabelScore> = labels
        .iter()
        .map(|(l, &(tp, fp, fnn))| {
            let precision = f(tp as f64, fp as f64);
            let recall = f(tp as f64, fnn as f64);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            LabelScore {
                label: l.to_string(),
                precision,
                recall,
                f1,
                support: tp + fnn,
            }
        })
        .collect();
    let macro_f1 = per_label.iter().map(|s| s.f1).sum::<f64>() / per_label.len().max(1) as f64;
    let mut confusions: Vec<(String, String, usize)> = confusions
        .into_iter()
        .map(|((g, p), c)| (g, p, c))
        .collect();
    confusions.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let (mut in_scope_accuracy, mut oos_recall, mut oos_precision) = (None, None, None);
    if let Some(oos) = oos {
        let ins: Vec<_> = gold.iter().zip(pred).filter(|(g, _)| **g != oos).collect();
        let outs: Vec<_> = gold.iter().zip(pred).filter(|(g, _)| **g == oos).collect();
        in_scope_accuracy = Some(
            ins.iter().filter(|(g, p)| **g == p.as_str()).count() as f64 / ins.len().max(1) as f64,
        );
        oos_recall = Some(
            outs.iter().filter(|(_, p)| p.as_str() == oos).count() as f64
                / outs.len().max(1) as f64,
        );
        let flagged = pred.iter().filter(|p| p.as_str() == oos).count();
        oos_precision = Some(
            outs.iter().filter(|(_, p)| p.as_str() == oos).count() as f64 / flagged.max(1) as f64,
        );
    }
    Report {
        accuracy: correct as f64 / n.max(1) as f64,
        macro_f1,
        n,
        fit_s: 0.0,
        ms_per_utterance: 0.0,
        in_scope_accuracy,
        oos_recall,
        oos_precision,
        n_train: 0,
        n_labels: 0,
        n_features: 0,
        model_bytes: 0,
        train_overlap: 0,
        per_label,
        confusions,
        errors: Vec::new(),
    }
}

impl Report {
    /// The report for people.
    pub fn readable(&self) -> String {
        let mut s = String::new();
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        s.push_str(&format!(
            "{:<28} {:>9} {:>9} {:>9} {:>8}\n",
            "intent", "precision", "recall", "f1", "support"
        ));
        for l in &self.per_label {
            s.push_str(&format!(
                "{:<28} {:>9} {:>9} {:>9} {:>8}\n",
                l.label,
                pct(l.precision),
                pct(l.recall),
                pct(l.f1),
                l.support
            ));
        }
        if !self.confusions.is_empty() {
            s.push_str("\nmost confused (gold -> predicted: count)\n");
            for (g, p, c) in self.confusions.iter().take(10) {
                s.push_str(&format!("  {g} -> {p}: {c}\n"));
            }
        }
        if !self.errors.is_empty() {
            s.push_str("\nmisclassified (gold -> predicted: text), first 20\n");
            for (text, g, p) in self.errors.iter().take(20) {
                let text: String = text.chars().take(80).collect();
                s.push_str(&format!("  {g} -> {p}: {text}\n"));
            }
        }
        s.push_str(&format!("\naccuracy          {}\n", pct(self.accuracy)));
        s.push_str(&format!("macro F1          {}\n", pct(self.macro_f1)));
        if let (Some(i), Some(o)) = (self.in_scope_accuracy, self.oos_recall) {
            s.push_str(&format!("in-scope accuracy {}\n", pct(i)));
            s.push_str(&format!("out-of-scope rec. {}\n", pct(o)));
        }
        s.push_str(&format!("test sentences    {}\n", self.n));
        s.push_str(&format!(
            "training          {} examples, {} intents, {} features, {:.1} MB model, {:.2} s\n",
            self.n_train,
            self.n_labels,
            self.n_features,
            self.model_bytes as f64 / 1e6,
            self.fit_s
        ));
        s.push_str(&format!(
            "speed             {:.3} ms per message\n",
            self.ms_per_utterance
        ));
        if self.train_overlap > 0 {
            s.push_str(&format!(
                "warning: {} test sentences also appear in the training data\n",
                self.train_overlap
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_counts_every_gold_and_predicted_label() {
        let gold = ["a", "a", "b", "oos"];
        let pred: Vec<String> = ["a", "b", "b", "oos"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = score(&gold, &pred, Some("oos"));
        assert_eq!(r.accuracy, 0.75);
        assert_eq!(r.in_scope_accuracy, Some(2.0 / 3.0));
        assert_eq!(r.oos_recall, Some(1.0));
        // a: p=1 r=.5 f=.667; b: p=.5 r=1 f=.667; oos: 1 → mean 0.778
        assert!((r.macro_f1 - 0.7778).abs() < 1e-3, "{}", r.macro_f1);
        assert_eq!(r.confusions[0], ("a".into(), "b".into(), 1));
    }
}

#!/usr/bin/env python3
"""Side-by-side intent accuracy: parcours against the scikit-learn TF-IDF + linear SVM reference, on the same
files in the same run. Prints a Markdown table (and writes it to --out if given).

  scripts/compare.py [--data ../shared/data/eval] [--parcours target/release/parcours] [--sets banking77,...]

Needs `pip install scikit-learn` for the reference. Trains on train, scores on test; nothing is tuned here."""
import argparse, csv, json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (name, train, test, oos label, transform of the test text). parcours runs with its defaults (fallback
# threshold 0.2, chosen on the shipped pack's dev files), and once more without its word vectors (n-grams only).
def sets(data):
    return [
        ("banking77", f"{data}/banking77/train.csv", f"{data}/banking77/test.csv", None, None),
        ("clinc150 (oos)", f"{data}/clinc150/train.csv", f"{data}/clinc150/test.csv", "oos", None),
        ("hwu64", f"{data}/hwu64/train.csv", f"{data}/hwu64/test.csv", None, None),
        ("wikit_fr", f"{data}/wikit_fr/train.csv", f"{data}/wikit_fr/test.csv", None, None),
        ("snips_fr test_typos", f"{data}/snips_fr/train.csv", f"{data}/snips_fr/test_typos.csv", None, None),
        ("banking77 10-shot", "few:" + f"{data}/banking77/train.csv", f"{data}/banking77/test.csv", None, None),
        # Noisy input: what a phone transcript looks like, typos, French typed without accents.
        ("banking77 spoken", f"{data}/banking77/train.csv", f"{data}/banking77/test.csv", None, "spoken"),
        ("banking77 typos", f"{data}/banking77/train.csv", f"{data}/banking77/test.csv", None, "typos"),
        ("clinc150 (oos) spoken", f"{data}/clinc150/train.csv", f"{data}/clinc150/test.csv", "oos", "spoken"),
        ("clinc150 (oos) typos", f"{data}/clinc150/train.csv", f"{data}/clinc150/test.csv", "oos", "typos"),
        ("hwu64 spoken", f"{data}/hwu64/train.csv", f"{data}/hwu64/test.csv", None, "spoken"),
        ("hwu64 typos", f"{data}/hwu64/train.csv", f"{data}/hwu64/test.csv", None, "typos"),
        ("wikit_fr no accents", f"{data}/wikit_fr/train.csv", f"{data}/wikit_fr/test.csv", None, "noaccents"),
        ("wikit_fr typos", f"{data}/wikit_fr/train.csv", f"{data}/wikit_fr/test.csv", None, "typos"),
        ("snips_fr test_typos, no accents", f"{data}/snips_fr/train.csv", f"{data}/snips_fr/test_typos.csv", None,
         "noaccents"),
    ]

ONES = "zero one two three four five six seven eight nine".split()

def spoken(text):
    """What a phone transcript looks like: lower case, no punctuation, digits read as words."""
    out = []
    for ch in text.lower():
        if ch.isdigit():
            out.append(f" {ONES[int(ch)]} ")
        elif ch.isalnum() or ch.isspace():
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())

def typos(text, rng):
    """One typo (swap, drop, double or replace a letter) in each word of 4+ letters, with probability 0.3."""
    words = []
    for w in text.split():
        if len(w) >= 4 and w.isalpha() and rng.random() < 0.3:
            i = rng.randrange(1, len(w) - 1)
            op = rng.randrange(4)
            if op == 0:
                w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
            elif op == 1:
                w = w[:i] + w[i + 1:]
            elif op == 2:
                w = w[:i] + w[i] + w[i:]
            else:
                w = w[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[i + 1:]
        words.append(w)
    return " ".join(words)

def noaccents(text):
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))

def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["intent"]) for r in csv.DictReader(f)]

def write(rows, tmp, name):
    path = os.path.join(tmp, name)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent"])
        w.writerows(rows)
    return path

def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "eval"))
    ap.add_argument("--parcours", default=os.path.join(ROOT, "target", "release", "parcours"))
    ap.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "tools", "reference_classifier.py"))
    ap.add_argument("--sets", help="comma-separated names to run (default: all)")
    ap.add_argument("--out")
    a = ap.parse_args()
    rng = random.Random(7)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, train, test, oos, transform in sets(a.data):
            if a.sets and name not in a.sets.split(","):
                continue
            if train.startswith("few:"):
                seen, few = {}, []
                for t, l in read(train[4:]):
                    if seen.get(l, 0) < 10:
                        seen[l] = seen.get(l, 0) + 1
                        few.append((t, l))
                train = write(few, tmp, "few.csv")
            if transform:
                f = {"spoken": spoken, "typos": lambda t: typos(t, rng), "noaccents": noaccents}[transform]
                test = write([(f(t), l) for t, l in read(test)], tmp, f"{transform}.csv")
            extra = ["--oos-label", oos] if oos else []
            p = run([a.parcours, "eval", "--train", train, "--test", test, "--json"] + extra)
            n = run([a.parcours, "eval", "--train", train, "--test", test, "--json", "--no-vectors"] + extra)
            r = run([sys.executable, a.reference, "--train", train, "--test", test, "--json"] + extra)
            rows.append((name, p, n, r, oos))
            print(f"done: {name}", file=sys.stderr)
    pct = lambda x: f"{100 * x:.1f}%"
    lines = ["| set | parcours | reference (TF-IDF + SVM) | parcours, n-grams only | parcours ms/msg | reference ms/msg "
             "| parcours fit s | parcours model MB |",
             "|---|---|---|---|---|---|---|---|"]
    score = lambda x, oos: (f"in-scope {pct(x['in_scope_accuracy'])}, oos recall {pct(x['oos_recall'])}" if oos
                            else pct(x["accuracy"]))
    for name, p, n, r, oos in rows:
        lines.append(f"| {name} | {score(p, oos)} | {score(r, oos)} | {score(n, oos)} | {p['ms_per_utterance']:.3f} "
                     f"| {r['ms_per_utterance']:.3f} | {p['fit_s']:.2f} | {p['model_bytes'] / 1e6:.0f} |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")

if __name__ == "__main__":
    main()

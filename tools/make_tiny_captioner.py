#!/usr/bin/env python3
"""Builds the tiny captioner test fixture: test/fixtures/tiny-captioner/.

A random-weight vit-gpt2-style VisionEncoderDecoderModel (ViT encoder: 32 px images, 8 px patches,
hidden 32, 2 layers; GPT-2 decoder: n_embd 32, 2 layers, a 272-token byte-level BPE vocabulary), exported to ONNX
with optimum-onnx (task image-to-text-with-past, merged decoder) into the transformers.js layout:

    config.json generation_config.json preprocessor_config.json
    tokenizer.json tokenizer_config.json vocab.json merges.txt special_tokens_map.json
    onnx/encoder_model.onnx onnx/decoder_model_merged.onnx

plus 8 fixture images (32x32 PNGs of coloured digits, images/*.png) and the reference generations
of the Python transformers model on them (reference.json): greedy and beam search (3 beams, 3
returned sequences), token ids (decoder start token included, EOS included when produced) and the
decoded text. Nothing is downloaded: the GPT-2 tokenizer is built from a vocab.json/merges.txt
written here.

Regenerate (from the repository root; about 15 s on a CPU):

    python3.11 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-tiny-captioner.txt
    tools/.venv/bin/python tools/make_tiny_captioner.py            # writes test/fixtures/tiny-captioner
    npx vitest run test/unit/captioner.test.ts                     # parity with the new reference

The weights come from torch.manual_seed(SEED); other torch versions may produce different weights,
which is fine as long as the bundle and reference.json are regenerated together.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from transformers import (
    GenerationConfig,
    GPT2Config,
    GPT2TokenizerFast,
    ViTConfig,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
)

from vit_gpt2_export import save_and_export

SEED = 0
IMAGE_SIZE = 32
MAX_NEW_TOKENS = 10
NUM_BEAMS = 3
# Larger than GPT-2's 0.02 so that the random model's outputs depend on the image and its logits
# are far apart (parity between torch and onnxruntime then does not hinge on float rounding).
INIT_RANGE = 0.3
EOS_SCALE = 2.5

WORDS = (
    "a photo of the digit number zero one two three four five six seven eight nine red green blue "
    "yellow white purple orange cyan pink gray on black background with small big colored"
).split()
EOS = "<|endoftext|>"

COLOURS = [
    (230, 30, 30), (30, 200, 40), (40, 70, 230), (240, 220, 30),
    (240, 240, 240), (160, 40, 200), (250, 140, 20), (20, 220, 220),
]


def byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A GPT-2 byte-level BPE vocabulary: lower-case letters, digits, 'Ġ' (space) and merges that
    build every word of WORDS (with and without a leading space) left to right."""
    tokens: list[str] = ["Ġ", *"abcdefghijklmnopqrstuvwxyz", *"0123456789", ".", ","]
    merges: list[tuple[str, str]] = []
    seen = set(tokens)
    for word in WORDS:
        for form in (word, "Ġ" + word):
            current = form[0]
            for ch in form[1:]:
                merged = current + ch
                if merged not in seen:
                    merges.append((current, ch))
                    tokens.append(merged)
                    seen.add(merged)
                current = merged
    tokens.append(EOS)
    return {t: i for i, t in enumerate(tokens)}, merges


def make_tokenizer(work: Path) -> GPT2TokenizerFast:
    vocab, merges = byte_level_vocab()
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (work / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = GPT2TokenizerFast(
        vocab_file=str(work / "vocab.json"),
        merges_file=str(work / "merges.txt"),
        bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS,
        add_prefix_space=False,
    )
    # Sanity: the words round-trip.
    ids = tok(" a red digit seven")["input_ids"]
    assert tok.decode(ids) == " a red digit seven", tok.decode(ids)
    return tok


def make_model(vocab_size: int, eos_id: int) -> VisionEncoderDecoderModel:
    torch.manual_seed(SEED)
    encoder = ViTConfig(
        image_size=IMAGE_SIZE, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, initializer_range=INIT_RANGE,
    )
    decoder = GPT2Config(
        vocab_size=vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64,
        bos_token_id=eos_id, eos_token_id=eos_id, add_cross_attention=True, is_decoder=True,
        initializer_range=INIT_RANGE,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = eos_id
    config.pad_token_id = eos_id
    config.eos_token_id = eos_id
    config.bos_token_id = eos_id
    model = VisionEncoderDecoderModel(config=config)
    with torch.no_grad():
        # A bigger EOS embedding (tied to the LM head) makes EOS likely enough that some captions
        # end before max_new_tokens, so the fixtures exercise finished beams too.
        model.decoder.transformer.wte.weight[eos_id] *= EOS_SCALE
    model.generation_config = GenerationConfig(
        decoder_start_token_id=eos_id, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        max_length=MAX_NEW_TOKENS + 1,
    )
    model.eval()
    return model


def make_images(out: Path) -> list[Path]:
    font = ImageFont.load_default(size=26)
    paths = []
    for i, colour in enumerate(COLOURS):
        im = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (10 * i, 0, 20))
        draw = ImageDraw.Draw(im)
        digit = str((3 * i + 1) % 10)
        left, top, right, bottom = draw.textbbox((0, 0), digit, font=font)
        draw.text(((IMAGE_SIZE - (right - left)) / 2 - left, (IMAGE_SIZE - (bottom - top)) / 2 - top), digit,
                  fill=colour, font=font)
        path = out / f"digit-{i}-{digit}.png"
        im.save(path)
        paths.append(path)
    return paths


def trim(ids: list[int], eos_id: int) -> list[int]:
    """Generated ids up to and including the first EOS after the start token (pads dropped)."""
    for j in range(1, len(ids)):
        if ids[j] == eos_id:
            return ids[: j + 1]
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "test" / "fixtures" / "tiny-captioner")
    args = parser.parse_args()
    out: Path = args.out

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tok = make_tokenizer(work)
        eos_id = tok.convert_tokens_to_ids(EOS)
        model = make_model(len(tok), eos_id)
        hf_dir, onnx_dir, processor = save_and_export(model, tok, IMAGE_SIZE, work)

        if out.exists():
            shutil.rmtree(out)
        (out / "onnx").mkdir(parents=True)
        (out / "images").mkdir()
        for name in ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                     "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
            shutil.copy(hf_dir / name, out / name)
        for name in ("encoder_model.onnx", "decoder_model_merged.onnx"):
            shutil.copy(onnx_dir / name, out / "onnx" / name)

    images = make_images(out / "images")
    reference = {
        "note": "written by tools/make_tiny_captioner.py; ids include the decoder start token",
        "torch": torch.__version__,
        "max_new_tokens": MAX_NEW_TOKENS,
        "num_beams": NUM_BEAMS,
        "eos_token_id": eos_id,
        "images": [],
    }
    with torch.no_grad():
        for path in images:
            pixel_values = processor(images=Image.open(path).convert("RGB"), return_tensors="pt").pixel_values
            greedy = model.generate(pixel_values, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1)
            beams = model.generate(pixel_values, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                   num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS)
            greedy_ids = trim(greedy[0].tolist(), eos_id)
            beam_ids = [trim(b.tolist(), eos_id) for b in beams]
            reference["images"].append({
                "file": f"images/{path.name}",
                "greedy": {"ids": greedy_ids, "text": tok.decode(greedy_ids, skip_special_tokens=True).strip()},
                "beam": [{"ids": ids, "text": tok.decode(ids, skip_special_tokens=True).strip()} for ids in beam_ids],
            })
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    for item in reference["images"]:
        print(item["file"], "|", item["greedy"]["text"], "|", " / ".join(b["text"] for b in item["beam"]))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

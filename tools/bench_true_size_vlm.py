#!/usr/bin/env python3
"""Python transformers (PyTorch, CPU, float32) captioning a true-size bundle from tools/make_true_size_vlm.py
the way scripts/bench-true-size-captioner.ts does with the product: the same weights (model.safetensors next to
the ONNX files), the same pictures (true_size.json's images), the same prompt (Florence-2: "<CAPTION>"; chat
VLMs: one user turn with the image and "Describe the image.", rendered by the bundle's chat template), one image
per call, generate(num_beams=3, num_return_sequences=3, max_new_tokens=20, do_sample=False). Prints one JSON
line: seconds per image (first image = warm-up, not counted; each includes opening the PNG, the processor,
generate and decoding), CPU seconds per image (user + system, all threads: less sensitive than wall time to a
busy machine, though threads spinning while they wait count too) and peak RSS (resource.getrusage ru_maxrss).

    OMP_NUM_THREADS=2 tools/.venv/bin/python tools/bench_true_size_vlm.py .diffubias/true-size/smolvlm-256m [--images 4]

SmolVLM's inputs come from make_tiny_smolvlm.load_processor (Idefics3Processor over the bundle's files: the
SmolVLM processor module needs torchvision and num2words, which the venv does not have; same prompt expansion).
LLaVA-OneVision's from make_tiny_onevision.load_processor (LlavaOnevisionProcessor without its video processor,
which needs torchvision: the same LlavaOnevisionImageProcessor anyres tiling and "<image>" expansion).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from PIL import Image
from transformers import (
    Florence2ForConditionalGeneration,
    Florence2Processor,
    LlavaForConditionalGeneration,
    LlavaOnevisionForConditionalGeneration,
    LlavaProcessor,
    SmolVLMForConditionalGeneration,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tiny_onevision as ov  # noqa: E402
import make_tiny_smolvlm as sm  # noqa: E402

NUM_BEAMS = 3
MAX_NEW_TOKENS = 20
INSTRUCTION = "Describe the image."
MESSAGES = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": INSTRUCTION}]}]
CLASSES = {"florence2": Florence2ForConditionalGeneration, "smolvlm": SmolVLMForConditionalGeneration,
           "llava": LlavaForConditionalGeneration, "llava_onevision": LlavaOnevisionForConditionalGeneration}


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation (default sdpa, transformers' own default)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    assert args.images >= 2, "--images must be at least 2 (the first is a warm-up)"
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    meta = json.loads((folder / "true_size.json").read_text())
    model_type = json.loads((folder / "config.json").read_text())["model_type"]
    files = meta["images"][: args.images]
    assert len(files) == args.images, f"{folder} has {len(files)} images"

    t0 = time.time()
    model, info = CLASSES[model_type].from_pretrained(folder, dtype=torch.float32, attn_implementation=args.attn,
                                                      output_loading_info=True)
    model.eval()
    if model_type == "florence2":
        processor = Florence2Processor.from_pretrained(folder)
        text = "<CAPTION>"
    elif model_type == "smolvlm":
        processor = sm.load_processor(folder)
        text = processor.tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    elif model_type == "llava_onevision":
        processor = ov.load_processor(folder)
        text = processor.tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    else:
        processor = LlavaProcessor.from_pretrained(folder)
        text = processor.tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    load_s = time.time() - t0
    # Anything missing from the checkpoint would be random-initialised here (tied weights are stored once and re-tied).
    tied = {"lm_head.weight", "model.language_model.encoder.embed_tokens.weight", "model.language_model.decoder.embed_tokens.weight",
            "model.language_model.shared.weight", "model.language_model.embed_tokens.weight"}
    missing = [k for k in info["missing_keys"] if k not in tied]
    assert not missing and not info["unexpected_keys"], (missing, info["unexpected_keys"])
    assert not [n for n, p in model.named_parameters() if p.device.type == "meta"], "weights left unloaded"

    per_image, cpu_per_image, first = [], [], None
    with torch.inference_mode():
        for file in files:
            t, c = time.time(), cpu_seconds()
            image = Image.open(folder / file).convert("RGB")
            inputs = processor(images=[image] if model_type == "smolvlm" else image, text=text, return_tensors="pt")
            out = model.generate(**inputs, num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS, max_new_tokens=MAX_NEW_TOKENS,
                                 do_sample=False)
            new = out if model.config.is_encoder_decoder else out[:, inputs["input_ids"].shape[1]:]
            captions = processor.tokenizer.batch_decode(new, skip_special_tokens=True)
            per_image.append(time.time() - t)
            cpu_per_image.append(cpu_seconds() - c)
            if first is None:
                ids = [row.tolist()[1:] if model.config.is_encoder_decoder else row.tolist() for row in new]  # Florence: drop the decoder start token
                first = {"tokens": ids, "captions": [c.strip() for c in captions],
                         "prompt_tokens": inputs["input_ids"].shape[1]}
                if "pixel_values" in inputs:
                    first["pixel_values"] = list(inputs["pixel_values"].shape)
    timed = per_image[1:]
    print(json.dumps({
        "runner": f"python transformers {__import__('transformers').__version__} + torch {torch.__version__} (CPU fp32, {args.attn}, {threads} threads)",
        "family": meta["family"],
        "model_type": model_type,
        "params": sum(p.numel() for p in model.parameters()),
        "images": len(files),
        "timed_images": len(timed),
        "s_per_image": round(sum(timed) / len(timed), 2),
        "per_image_s": [round(s, 2) for s in per_image],
        "cpu_s_per_image": round(sum(cpu_per_image[1:]) / len(timed), 2),
        "load_s": round(load_s, 1),
        "loadavg": os.getloadavg()[0],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "first_image": first,
    }))


if __name__ == "__main__":
    main()

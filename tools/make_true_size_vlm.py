#!/usr/bin/env python3
"""Builds a captioner bundle at the TRUE size of a small real VLM checkpoint, with seeded random weights, for
benchmarking (scripts/bench-true-size-captioner.ts against tools/bench_true_size_vlm.py on the same files).

    --family florence2-base   microsoft/Florence-2-base: DaViT-B vision (dims 128/256/512/1024, depths 1/1/9/1,
                              window 12, 768 px -> 577 image tokens), BART-base-sized encoder-decoder (d_model 768,
                              6+6 layers, 12 heads, FFN 3072, tied LM head), vocab 51289.            ~0.23 B params
    --family smolvlm-256m     HuggingFaceTB/SmolVLM-256M-Instruct: SigLIP base patch16 at 512 px (hidden 768,
                              12 layers), pixel-shuffle connector scale_factor 4 (64 image tokens), SmolLM2-135M text
                              (Llama: hidden 576, 30 layers, 9 heads, 3 KV heads, FFN 1536, rope 1e5, untied head),
                              vocab 49280.                                                           ~0.26 B params
    --family llava-ov-0.5b    llava-hf/llava-onevision-qwen2-0.5b-ov-hf's COMPONENTS in the LLaVA-1.5 layout the
                              product supports (model_type "llava"): SigLIP-so400m/14 at 384 px (hidden 1152,
                              26 layers as LLaVA-OV keeps them, no pooling head; 729 image tokens, feature layer -1,
                              strategy "full"), the 2-layer GELU projector, Qwen2-0.5B (hidden 896, 24 layers,
                              14 heads, 2 KV heads, FFN 4864, q/k/v biases, rope 1e6, tied head), vocab 151936.
                              NOT LLaVA-OneVision itself: one 384 px image, no anyres tiling, no
                              image_newline, LLaVA-1.5 chat template.                               ~0.89 B params
    --family llava-onevision-0.5b
                              llava-hf/llava-onevision-qwen2-0.5b-ov-hf ITSELF (LlavaOnevisionForConditionalGeneration,
                              model_type "llava_onevision"), config written here from the hub checkpoint's values: the
                              same SigLIP-so400m/14 (384 px crops, 26 layers, no head, 729 features per view), projector
                              and Qwen2-0.5B (tied head) as above but vocab 152000 (the llava-hf conversion's padded
                              size), plus image_newline, anyres tiling over the 36 image_grid_pinpoints 384..2304 px,
                              vision_aspect_ratio anyres_max_9, mean/std 0.5, the OneVision chat template. Saved as a
                              checkpoint (save_pretrained + the tokenizer and processor files) to <out>-checkpoint,
                              then exported by `tools/make_tiny_onevision.py --from-checkpoint <out>-checkpoint
                              --out <out>` (a separate process), the path docs/captioner.md gives for the real
                              checkpoint; <out>/model.safetensors is a hard link to the checkpoint's.   ~0.89 B params

Simplifications shared by all four (timing depends on the shapes, not on these):
  * the tokenizer is the tiny scripts' byte-level BPE (a few hundred tokens trained on a few sentences) padded
    with unreachable placeholder tokens "<|x{id}|>" up to the checkpoint's vocabulary size (embedding and LM head
    have the real shape; prompts tokenize into a few more pieces than with the real merges);
  * SmolVLM: no image splitting (the real processor tiles a 512 px image into 4x4 crops + a global one);
  * LLaVA-OneVision: the tokenizer is make_tiny_onevision's (the tiny BPE + <|im_start|>, <|im_end|>, <video>), so
    <image> and the chat tokens have small ids, not the hub's 151646...; the image processing is the real one;
  * weights: make_tiny_vlm.seeded_weights with std INIT_STD (0.02, the checkpoints' initializer_range) instead of
    the tiny fixtures' 0.3; the LM-head row of EOS is zeroed so that no caption ends early: every one of the 3
    beams runs max_new_tokens steps in Python and in transformers.js alike.

Everything else is the tiny scripts' code, imported: tokenizers (make_tiny_*.build_*tokenizer), fixture writers
and ONNX exporters (write_fixture / export_onnx, TorchScript exporter, opset 17), run here with their module
constants (image size, patch size, d_model, layers...) set to the true size for the duration of the call.

Written to --out (default .diffubias/true-size/<family>, git-ignored):
    config.json generation_config.json preprocessor_config.json processor_config.json tokenizer*.json
    onnx/*.onnx (+ onnx/<name>.onnx_data for files over EXTERNAL_DATA_OVER, declared in config.json's
        "transformers.js_config": {"use_external_data_format": {"<name>.onnx": 1}}, which is what makes
        transformers.js 4.3 (utils/model-loader.js getModelDataFiles) look for "<name>.onnx_data")
    model.safetensors          the same weights for Python transformers (tools/bench_true_size_vlm.py)
    images/bench-*.png         synthetic 512x512 pictures both benchmarks caption
    true_size.json             what was built: parameter counts by part, file sizes, build times

    OMP_NUM_THREADS=2 tools/.venv/bin/python tools/make_true_size_vlm.py --family smolvlm-256m

For llava-onevision-0.5b, true_size.json's peak_rss_mb is the builder's and export_peak_rss_mb the exporter's.

    tools/.venv/bin/python tools/make_true_size_vlm.py --family llava-onevision-0.5b --resized-copy 384

makes, next to an already built bundle, <out>-384px: hard links to all its files (no copy) and its bench pictures
resized to 384 x 384 (PIL bicubic). OneVision's token count depends on the picture's size (anyres): a 512 px
square is 5 views and 3,699 image tokens, a 384 px one 2 views and 1,485.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image, ImageDraw
from tokenizers import Tokenizer
from transformers import (
    BartConfig,
    Florence2Config,
    Florence2ForConditionalGeneration,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    Qwen2Config,
    SiglipVisionConfig,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
)
from transformers.models.florence2.configuration_florence2 import Florence2VisionConfig
from transformers.models.smolvlm.configuration_smolvlm import SmolVLMVisionConfig

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
import make_tiny_florence2 as fl  # noqa: E402
import make_tiny_onevision as ov  # noqa: E402
import make_tiny_smolvlm as sm  # noqa: E402
import make_tiny_vlm as vlm  # noqa: E402

SEED = 0
INIT_STD = 0.02
# ONNX files larger than this get their weights in <name>.onnx_data (protobuf caps a file at 2 GiB; the LLaVA-OV
# decoder, 1.98 GB, is too close to it to keep in one piece).
BENCH_IMAGES = 8
BENCH_IMAGE_SIZE = 512


@contextlib.contextmanager
def patched(module, **values):
    """Sets module-level constants of a tiny script for the duration of a call (its functions read them at call time)."""
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


# --------------------------------------------------------------------------------------------- tokenizer

def pad_vocab(tok: Tokenizer, size: int) -> Tokenizer:
    """`tok` with placeholder tokens "<|x{id}|>" appended to its BPE vocabulary up to `size` ids. No merge produces
    them, so they never come out of the tokenizer; they make the vocabulary (and so the embedding, the LM head and
    the softmax) the checkpoint's size, and decode as plain text if the random model writes them."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    n = tok.get_vocab_size()
    ids = set(vocab.values()) | {t["id"] for t in spec["added_tokens"]}
    assert ids == set(range(n)), "ids are not 0..n-1"
    for t in spec["added_tokens"]:  # added after training (SmolVLM's): into the BPE vocabulary too, so it has no holes
        vocab.setdefault(t["content"], t["id"])
    for i in range(n, size):
        vocab[f"<|x{i}|>"] = i
    padded = Tokenizer.from_str(json.dumps(spec))
    assert padded.get_vocab_size() == size, padded.get_vocab_size()
    return padded


# ------------------------------------------------------------------------------------------------- models

def true_size_weights(model, eos_id: int) -> None:
    """make_tiny_vlm.seeded_weights at std INIT_STD, then the EOS row of the LM head zeroed (no early stops)."""
    with patched(vlm, INIT_STD=INIT_STD, SEED=SEED):
        vlm.seeded_weights(model)
    with torch.no_grad():
        model.lm_head.weight[eos_id] = 0.0
    model.eval()


def florence2_base(out: Path) -> tuple[torch.nn.Module, dict]:
    # microsoft/Florence-2-base config.json (vision_config "davit", text_config "florence2_language" = BART-base
    # shapes), as transformers 4.57's Florence2Config spells it (florence-community/Florence-2-base).
    tok = pad_vocab(fl.build_tokenizer(), 51289)
    vision = Florence2VisionConfig(
        in_channels=3, depths=[1, 1, 9, 1], patch_size=[7, 3, 3, 3], patch_stride=[4, 2, 2, 2], patch_padding=[3, 1, 1, 1],
        patch_prenorm=[False, True, True, True], embed_dim=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32],
        num_groups=[4, 8, 16, 32], window_size=12, drop_path_rate=0.1, mlp_ratio=4.0, qkv_bias=True,
        projection_dim=768, max_temporal_embeddings=100, max_position_embeddings=50,
    )
    text = BartConfig(
        vocab_size=51289, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, max_position_embeddings=1024,
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True, dropout=0.1,
        attention_dropout=0.1, activation_dropout=0.1, bos_token_id=fl.BOS_ID, pad_token_id=fl.PAD_ID,
        eos_token_id=fl.EOS_ID, decoder_start_token_id=fl.EOS_ID, forced_bos_token_id=fl.BOS_ID,
        forced_eos_token_id=fl.EOS_ID, is_encoder_decoder=True,
    )
    config = Florence2Config(
        text_config=text.to_dict(), vision_config=vision.to_dict(), image_token_id=fl.IMAGE_ID, is_encoder_decoder=True,
        bos_token_id=fl.BOS_ID, pad_token_id=fl.PAD_ID, eos_token_id=fl.EOS_ID, decoder_start_token_id=fl.EOS_ID,
        tie_word_embeddings=True,
    )
    model = Florence2ForConditionalGeneration._from_config(config, attn_implementation="eager")
    lm = model.model.language_model
    assert model.lm_head.weight is lm.shared.weight, "Florence-2-base ties its LM head"
    true_size_weights(model, fl.EOS_ID)
    model.generation_config = fl.generation_config()
    image_tokens = 1 + (768 // 32) ** 2  # pooled token + 24x24 grid after strides 4, 2, 2, 2
    with patched(fl, IMAGE_SIZE=768, NUM_IMAGE_TOKENS=image_tokens, D_MODEL=768, LAYERS=6, HEADS=12, HEAD_DIM=64):
        fl.write_fixture(out, model, tok)
    return model, {
        "based_on": "microsoft/Florence-2-base (DaViT-B + BART-base-sized encoder-decoder)",
        "image_size": 768, "image_tokens": image_tokens, "eos_token_id": fl.EOS_ID, "model_max_length": 1024,
    }


def smolvlm_256m(out: Path) -> tuple[torch.nn.Module, dict]:
    # HuggingFaceTB/SmolVLM-256M-Instruct config.json (model_type idefics3 on the hub; transformers' SmolVLM classes
    # here, as the tiny fixture): vision SigLIP base patch16 512 px, text SmolLM2-135M, scale_factor 4, untied head.
    tok = pad_vocab(sm.build_smolvlm_tokenizer(), 49280)
    ids = sm.ids_of(tok)
    vision = SmolVLMVisionConfig(
        image_size=512, patch_size=16, num_channels=3, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
    )
    text = LlamaConfig(
        vocab_size=49280, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
        tie_word_embeddings=False, bos_token_id=ids[sm.IM_START], eos_token_id=ids[sm.EOU], pad_token_id=ids[sm.PAD],
    )
    config = SmolVLMConfig(
        vision_config=vision.to_dict(), text_config=text.to_dict(), scale_factor=4, image_token_id=ids[sm.IMAGE],
        pad_token_id=ids[sm.PAD], tie_word_embeddings=False, bos_token_id=ids[sm.IM_START], eos_token_id=ids[sm.EOU],
    )
    model = SmolVLMForConditionalGeneration._from_config(config, attn_implementation="eager")
    true_size_weights(model, ids[sm.EOU])
    model.generation_config = GenerationConfig(bos_token_id=ids[sm.IM_START], eos_token_id=ids[sm.EOU],
                                               pad_token_id=ids[sm.PAD])
    image_seq_len = (512 // 16) ** 2 // 4**2  # 64
    kwargs = {**sm.IMAGE_PROCESSOR_KWARGS, "size": {"longest_edge": 512}, "max_image_size": {"longest_edge": 512}}
    with patched(sm, IMAGE_SIZE=512, IMAGE_SEQ_LEN=image_seq_len, IMAGE_PROCESSOR_KWARGS=kwargs):
        sm.write_fixture(out, model, tok)
    return model, {
        "based_on": "HuggingFaceTB/SmolVLM-256M-Instruct (SigLIP-B/16 512 px + SmolLM2-135M), no image splitting",
        "image_size": 512, "image_tokens": image_seq_len, "eos_token_id": ids[sm.EOU], "model_max_length": 8192,
    }


def siglip_so400m_384() -> SiglipVisionConfig:
    """SigLIP-so400m/14 at 384 px without its pooling head: OneVision-0.5B's vision tower."""
    return SiglipVisionConfig(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16, num_channels=3,
        image_size=384, patch_size=14, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=False,
    )


def qwen2_05b(vocab_size: int, **token_ids) -> Qwen2Config:
    """Qwen2-0.5B (tied head), with the vocabulary size and special token ids of the export at hand."""
    return Qwen2Config(
        vocab_size=vocab_size, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True, use_sliding_window=False, **token_ids,
    )


def llava_ov_05b(out: Path) -> tuple[torch.nn.Module, dict]:
    # llava-hf/llava-onevision-qwen2-0.5b-ov-hf config.json: vision_config siglip_vision_model (so400m/14, 384 px,
    # 26 layers, vision_use_head false), vision_feature_layer -1, strategy "full"; text_config Qwen2-0.5B.
    # Put in the LLaVA-1.5 layout (LlavaForConditionalGeneration): one image, no anyres tiling, no image_newline.
    tok = pad_vocab(vlm.build_tokenizer(), 151936)
    vision = siglip_so400m_384()
    text = qwen2_05b(vocab_size=151936, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    image_tokens = (384 // 14) ** 2  # 729
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=vlm.SPECIALS.index(vlm.IMAGE), projector_hidden_act="gelu",
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_seq_length=image_tokens, pad_token_id=3,
        tie_word_embeddings=True, multimodal_projector_bias=True,
    )
    model = LlavaForConditionalGeneration._from_config(config, attn_implementation="eager")
    assert model.lm_head.weight is model.get_input_embeddings().weight, "Qwen2-0.5B ties its LM head"
    true_size_weights(model, 2)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=3)
    with patched(vlm, IMAGE_SIZE=384, PATCH_SIZE=14):
        vlm.write_fixture(out, model, tok)
    # SigLIP's normalisation (the processor resizes 512 -> 384 and crops nothing on a square picture)
    pre = json.loads((out / "preprocessor_config.json").read_text())
    pre.update(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    vlm.write_json(out / "preprocessor_config.json", pre)
    return model, {
        "based_on": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf components (SigLIP-so400m/14 384 px + Qwen2-0.5B) "
                    "in the LLaVA-1.5 layout: one 384 px image, no anyres tiling",
        "image_size": 384, "image_tokens": image_tokens, "eos_token_id": 2, "model_max_length": 32768,
    }


def llava_onevision_05b(out: Path) -> tuple[None, dict]:
    # llava-hf/llava-onevision-qwen2-0.5b-ov-hf config.json (transformers 4.57's LlavaOnevisionConfig): vision_config
    # siglip_vision_model so400m/14 at 384 px, 26 layers, vision_use_head false; vision_feature_layer -1, strategy
    # "full"; image_grid_pinpoints the 36 multiples of 384 up to 2304 (LlavaOnevisionImageProcessor's default);
    # vision_aspect_ratio anyres_max_9; text_config Qwen2-0.5B with vocab_size 152000 and tie_word_embeddings true.
    # preprocessor_config.json: size 384 x 384, resample 3 (bicubic), mean = std = 0.5; processor_config.json:
    # num_image_tokens 729, strategy "full", anyres_max_9.
    tok = pad_vocab(ov.build_onevision_tokenizer(), 152000)
    ids = ov.ids_of(tok)
    eos = ids[ov.IM_END]
    vision = siglip_so400m_384()
    text = qwen2_05b(vocab_size=152000, bos_token_id=None, eos_token_id=eos, pad_token_id=ids[ov.PAD])
    config = LlavaOnevisionConfig(
        vision_config=vision, text_config=text, image_token_index=ids[ov.IMAGE], video_token_index=ids[ov.VIDEO],
        projector_hidden_act="gelu", vision_feature_select_strategy="full", vision_feature_layer=-1,
        vision_aspect_ratio=ov.REAL_ASPECT, image_grid_pinpoints=ov.REAL_PINPOINTS, multimodal_projector_bias=True,
        pad_token_id=ids[ov.PAD],
    )
    model = LlavaOnevisionForConditionalGeneration._from_config(config, attn_implementation="eager")
    assert model.lm_head.weight is model.get_input_embeddings().weight, "Qwen2-0.5B ties its LM head"
    true_size_weights(model, eos)  # image_newline included
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=ids[ov.PAD])
    params = param_counts(model)
    image_tokens = (ov.REAL_CROP // ov.REAL_PATCH) ** 2  # 729 per view

    # The checkpoint: make_tiny_onevision.write_fixture's files at the real settings, without its ONNX export.
    ckpt = out.parent / f"{out.name}-checkpoint"
    with patched(ov, CROP=ov.REAL_CROP, PATCH=ov.REAL_PATCH, FEATURES_PER_VIEW=image_tokens, PINPOINTS=ov.REAL_PINPOINTS,
                 ASPECT=ov.REAL_ASPECT, IMAGE_MEAN=[0.5, 0.5, 0.5], IMAGE_STD=[0.5, 0.5, 0.5],
                 export_onnx=lambda *_: None):
        ov.write_fixture(ckpt, model, tok)
    tok_path = ckpt / "tokenizer_config.json"
    vlm.write_json(tok_path, {**json.loads(tok_path.read_text()), "model_max_length": 32768})
    with tempfile.TemporaryDirectory(dir=ckpt) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size="20GB")
        os.replace(Path(tmp) / "model.safetensors", ckpt / "model.safetensors")
    del model
    gc.collect()

    # The export a user runs on the real checkpoint (docs/captioner.md), in its own process.
    t0 = time.time()
    subprocess.run([sys.executable, str(TOOLS / "make_tiny_onevision.py"), "--from-checkpoint", str(ckpt), "--out", str(out)],
                   check=True)
    os.link(ckpt / "model.safetensors", out / "model.safetensors")
    return None, {
        "based_on": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf (LlavaOnevisionForConditionalGeneration: SigLIP-so400m/14 "
                    "384 px crops + Qwen2-0.5B, anyres over 36 pinpoints, anyres_max_9), exported from a checkpoint by "
                    "tools/make_tiny_onevision.py --from-checkpoint",
        "image_size": ov.REAL_CROP, "image_tokens_per_view": image_tokens, "eos_token_id": eos,
        "model_max_length": 32768, "params": params, "checkpoint": str(ckpt),
        "checkpoint_export_s": round(time.time() - t0, 1),
        "export_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


FAMILIES = {"florence2-base": florence2_base, "smolvlm-256m": smolvlm_256m, "llava-ov-0.5b": llava_ov_05b,
            "llava-onevision-0.5b": llava_onevision_05b}


# ------------------------------------------------------------------------------------------------ outputs

def param_counts(model) -> dict:
    """Unique parameters (tied ones once), by part."""
    parts: dict[str, int] = {}
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        part = ("vision" if any(k in name for k in ("vision_tower", "vision_model")) else
                "projector" if any(k in name for k in ("multi_modal_projector", "connector", "image_projection",
                                                       "image_proj_norm", "image_position_embed",
                                                       "visual_temporal_embed", "image_newline")) else
                "lm_head" if name.startswith("lm_head") else "text")
        parts[part] = parts.get(part, 0) + p.numel()
    return {"total": sum(parts.values()), **dict(sorted(parts.items()))}


def make_bench_images(folder: Path, n: int = BENCH_IMAGES, size: int = BENCH_IMAGE_SIZE) -> list[str]:
    """Seeded synthetic pictures: a colour gradient with a few filled rectangles and ellipses."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    names = []
    for i in range(n):
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, size)[None, :, None]
        grad = (c0 * (1 - t) + c1 * t).repeat(size, axis=0).astype(np.uint8)
        im = Image.fromarray(grad, "RGB")
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x0, y0 = rng.integers(0, size - 64, 2)
            w, h = rng.integers(32, size // 2, 2)
            box = [int(x0), int(y0), int(min(size - 1, x0 + w)), int(min(size - 1, y0 + h))]
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=fill)
        name = f"bench-{i}.png"
        im.save(folder / name)
        names.append(f"images/{name}")
    return names


def resized_copy(out: Path, size: int) -> Path:
    """<out>-<size>px: every file of the built bundle `out` hard-linked, the bench pictures resized to size x size."""
    meta = json.loads((out / "true_size.json").read_text())
    dst = out.parent / f"{out.name}-{size}px"
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_dir() or rel.parts[0] == "images" or rel.name == "true_size.json":
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).unlink(missing_ok=True)
        os.link(path, dst / rel)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    for name in meta["images"]:
        Image.open(out / name).convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(dst / name)
    meta["bench_images_note"] = (f"the bench pictures of ../{out.name} resized to {size} x {size} (PIL bicubic); every other "
                                 f"file is a hard link to ../{out.name}'s")
    vlm.write_json(dst / "true_size.json", meta)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", required=True, choices=sorted(FAMILIES))
    parser.add_argument("--out", type=Path, help="default .diffubias/true-size/<family>")
    parser.add_argument("--resized-copy", type=int, metavar="PX",
                        help="do not build: make <out>-<PX>px from the built bundle, pictures resized to PX x PX")
    args = parser.parse_args()
    out: Path = (args.out or TOOLS.parent / ".diffubias" / "true-size" / args.family).resolve()
    if args.resized_copy:
        print(resized_copy(out, args.resized_copy))
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(SEED)

    t0 = time.time()
    with torch.no_grad():
        model, meta = FAMILIES[args.family](out)  # writes the bundle and onnx/*.onnx (after removing `out`)
    t_export = time.time() - t0
    if model is not None:
        # save_pretrained (not safetensors' save_model) so that a tied LM head is stored under the name from_pretrained
        # loads and re-ties from (the input embedding); only model.safetensors is kept (config.json is the exporter's).
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            model.save_pretrained(tmp, safe_serialization=True, max_shard_size="20GB")
            os.replace(Path(tmp) / "model.safetensors", out / "model.safetensors")
        params = param_counts(model)
        del model
    else:  # the family wrote model.safetensors and the ONNX files itself (llava-onevision-0.5b)
        params = meta.pop("params")
    gc.collect()

    external = vlm.externalise_large(out / "onnx")
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    external = {**config.get("transformers.js_config", {}).get("use_external_data_format", {}), **external}
    if external:
        config["transformers.js_config"] = {"use_external_data_format": external}
    vlm.write_json(config_path, config)
    # The tiny fixtures' tokenizers say model_max_length 64/128; the prompts here (image tokens included) are longer.
    tok_path = out / "tokenizer_config.json"
    tok_config = json.loads(tok_path.read_text())
    tok_config["model_max_length"] = meta.pop("model_max_length")
    vlm.write_json(tok_path, tok_config)

    images = make_bench_images(out / "images")
    files = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file() and "images" not in p.parts}
    record = {
        "family": args.family, **meta, "params": params, "init_std": INIT_STD, "seed": SEED,
        "external_data": external, "files": files, "images": images,
        "build_s": round(time.time() - t0, 1), "export_s": round(t_export, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
    }
    vlm.write_json(out / "true_size.json", record)
    print(json.dumps(record))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds the tiny LLaVA-OneVision test fixture: test/fixtures/tiny-onevision/.

A random-weight LlavaOnevisionForConditionalGeneration (transformers' own class, model_type "llava_onevision"): a
SigLIP vision tower (32 px views, 8 px patches: 16 features per view; hidden 32, 2 layers, 2 heads, no pooling
head; features from the last layer, strategy "full" as the hub checkpoints), the 2-layer GELU projector, the
learned image_newline vector, and a Qwen2 text model (hidden 64, 2 layers, 4 query / 2 key-value heads, q/k/v
biases) over the byte-level BPE vocabulary of tools/make_tiny_vlm.py plus <|im_start|>, <|im_end|> and <video>.
What makes it OneVision rather than LLaVA-1.5 is kept at full strength, only smaller:

  * anyres tiling over image_grid_pinpoints PINPOINTS (1x1, 1x2, 2x1, 2x2, 1x3 and 3x1 grids of 32 px crops): the
    image is resized into the best pinpoint (select_best_resolution), padded to it, cut into 32 px crops, and the
    whole image resized to 32 x 32 goes first (the base view);
  * pack_image_features: the base view's 16 features, then the crops' feature grid unpadded back to the image's
    aspect ratio, one image_newline after each row; vision_aspect_ratio "anyres_max_2" (the hub's is
    anyres_max_9; 2 makes a 32 px model reach it) so that grids above ~2 views' worth of features are shrunk
    with bilinear interpolation, which some of the fixture images do and some do not;
  * the processor's "<image>" expansion to exactly that many tokens.

Exported to ONNX by hand (torch.onnx.export, TorchScript exporter, opset 17) in the layout transformers.js (v4)
loads for LlavaOnevisionForConditionalGeneration (its LlavaForConditionalGeneration), which the captioner
(engines/captioner/onevision.ts) completes with the anyres preprocessing and the packing:

    config.json generation_config.json preprocessor_config.json processor_config.json
    tokenizer.json tokenizer_config.json (with the hub checkpoints' chat template)
    onnx/vision_encoder.onnx        pixel_values [views, 3, 32, 32] -> image_features [views, 16, 64] (projector
                                    output of every view, unpacked) and image_newline [64]
    onnx/embed_tokens.onnx          input_ids [batch, seq] -> inputs_embeds [batch, seq, 64]
    onnx/decoder_model_merged.onnx  inputs_embeds, attention_mask, position_ids,
                                    past_key_values.{i}.key/value [batch, 2, past, 16] -> logits, present.{i}.*

Written next to them: images/*.png (eight pictures of different sizes and aspect ratios, chosen so that every
grid shape, both unpadding directions, the 1x1 grid and the downsampling occur, one over 1024 px) and
reference.json: per image the geometry Python computed (best resolution, grid, views, image tokens), the SHA-256 of the float32 pixel_values
the Python image processor made, a digest of the packed image features (per token: the sum and a cosine-weighted
sum over the hidden size), the greedy generation of the PyTorch model (new token ids, text, smallest top-1/top-2
logit margin) and beam search's 3 best sequences (generate(num_beams=3, num_return_sequences=3)) with their
scores; plus the geometry of the real checkpoint's settings (llava-hf/llava-onevision-qwen2-0.5b-ov-hf: 384 px,
patch 14, its 36 pinpoints, anyres_max_9) for a range of image sizes, and PIL bicubic resizes of synthetic
pictures (SHA-256 of the bytes) for the TypeScript port of Pillow's resampler. Nothing is downloaded.

The Python reference uses LlavaOnevisionImageProcessor (the slow, PIL one: the hub checkpoints name it) and
LlavaOnevisionProcessor's own prompt expansion; the processor is built without its video processor, which needs
torchvision (ImagesOnlyProcessor below).

Regenerate (from the repository root; about 10 s on a CPU; same venv and pins as tools/make_tiny_vlm.py):

    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_onevision.py               # writes test/fixtures/tiny-onevision
    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_onevision.py --check-only  # ORT vs PyTorch again

Export a real checkpoint in the same layout (docs/captioner.md, "LLaVA-OneVision"): download it on a machine with
hub access (huggingface-cli download llava-hf/llava-onevision-qwen2-0.5b-ov-hf --local-dir ov-0.5b), then

    tools/.venv/bin/python tools/make_tiny_onevision.py --from-checkpoint ov-0.5b --out ov-0.5b-bundle
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tokenizers import Tokenizer
from transformers import (
    GenerationConfig,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    PreTrainedTokenizerFast,
    Qwen2Config,
    SiglipVisionConfig,
)
from transformers.image_processing_utils import select_best_resolution
from transformers.models.llava_onevision.modeling_llava_onevision import get_anyres_image_grid_shape
from transformers.processing_utils import ProcessorMixin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_vlm import (  # noqa: E402  (the tiny LLaVA builder: tokenizer, decoder wrapper, fixture helpers
    BYTE_ROW_SCALE,
    COLOURS,
    OPSET,
    PIECE_ROW_SCALE,
    SPECIALS,
    Decoder,
    assert_chat_prompt,
    export_text_side,
    fixture_main,
    reference_entry,
    reference_header,
    seeded_weights,
    start_fixture,
    write_json,
    ort_greedy,
    tokenizer_config_with_specials,
    tokenizer_with_specials,
    ort_decoder,
    ort_sessions,
    externalise_large,
)

CROP = 32  # the vision tower's input side: every view is CROP x CROP
PATCH = 8
FEATURES_PER_VIEW = (CROP // PATCH) ** 2  # 16
PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64], [32, 96], [96, 32]]  # [height, width], as the hub's
ASPECT = "anyres_max_2"
# LlavaOnevisionImageProcessor's defaults (OpenAI CLIP's), not the hub checkpoints' 0.5 / 0.5: with 0.5 the float32
# normalisation equals a float64 one, and the test could not tell them apart.
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]
IM_START, IM_END, VIDEO, IMAGE, PAD = "<|im_start|>", "<|im_end|>", "<video>", "<image>", "<pad>"
EXTRA_SPECIALS = [IM_START, IM_END, VIDEO]  # after make_tiny_vlm's 400-token vocabulary
# The chat template of the llava-hf OneVision checkpoints (transformers' convert_llava_onevision_weights_to_hf.py).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}"
    "{{'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
PROMPT = "<|im_start|>user\n<image>\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n"
# <|im_end|> row of the LM head: large enough that some captions end before MAX_NEW_TOKENS.
EOS_SCALE = 2.2

# (width, height) of the fixture pictures and what each exercises with PINPOINTS and anyres_max_2.
IMAGE_SIZES = {
    "square-48x48": (48, 48),  # 2x2 grid, no unpadding, downsampled 8x8 -> 5x5
    "wide-80x40": (80, 40),    # 1x2 grid, no unpadding, not downsampled
    "wide-90x30": (90, 30),    # 1x3 grid, downsampled 4x12 -> 3x9
    "wide-70x40": (70, 40),    # 2x2 grid, rows unpadded 8 -> 4 (height padding)
    "tall-40x70": (40, 70),    # 2x2 grid, columns unpadded 8 -> 4 (width padding)
    "tall-50x64": (50, 64),    # 2x2 grid, columns unpadded 8 -> 6, downsampled 8x6 -> 6x4
    "small-20x20": (20, 20),   # 1x1 grid (upscaled), not downsampled
    "large-1100x400": (1100, 400),  # 1x3 grid, downsampled; over the captioner's usual 1024 px decode limit
}

# The real checkpoint's anyres settings (llava-hf/llava-onevision-qwen2-0.5b-ov-hf), for the geometry table.
REAL_CROP, REAL_PATCH, REAL_ASPECT = 384, 14, "anyres_max_9"
REAL_PINPOINTS = [[h, w] for h in range(384, 2305, 384) for w in range(384, 2305, 384)]
REAL_SIZES = [(640, 480), (480, 640), (1920, 1080), (1080, 1920), (1280, 960), (1200, 300), (300, 1200),
              (384, 384), (224, 224), (28, 28), (100, 1000), (1024, 768), (4000, 3000), (2304, 2304),
              (500, 2000), (769, 385), (800, 601)]  # (width, height)


# --------------------------------------------------------------------------------------------- tokenizer

def build_onevision_tokenizer() -> Tokenizer:
    """make_tiny_vlm's byte-level BPE plus Qwen2's chat tokens and <video>; no BOS is added (Qwen2 adds none)."""
    return tokenizer_with_specials(EXTRA_SPECIALS)


def onevision_tokenizer_config(tok: Tokenizer) -> dict:
    cfg = tokenizer_config_with_specials(tok, EXTRA_SPECIALS)
    cfg.update({
        "add_bos_token": False,
        "bos_token": None,
        "eos_token": IM_END,
        "pad_token": PAD,
        "additional_special_tokens": [IM_START, IM_END],
        "extra_special_tokens": {"image_token": IMAGE, "video_token": VIDEO},
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 256,
        "processor_class": "LlavaOnevisionProcessor",
    })
    return cfg


# ------------------------------------------------------------------------------------------------- model

def ids_of(tok: Tokenizer) -> dict:
    return {t: tok.token_to_id(t) for t in [*SPECIALS, *EXTRA_SPECIALS]}


def make_config(tok: Tokenizer) -> LlavaOnevisionConfig:
    ids = ids_of(tok)
    vision = SiglipVisionConfig(
        image_size=CROP, patch_size=PATCH, num_channels=3, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=False,
    )
    text = Qwen2Config(
        vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
        rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False,
        bos_token_id=None, eos_token_id=ids[IM_END], pad_token_id=ids[PAD],
    )
    return LlavaOnevisionConfig(
        vision_config=vision, text_config=text, image_token_index=ids[IMAGE], video_token_index=ids[VIDEO],
        projector_hidden_act="gelu", vision_feature_select_strategy="full", vision_feature_layer=-1,
        vision_aspect_ratio=ASPECT, image_grid_pinpoints=PINPOINTS, tie_word_embeddings=False,
        multimodal_projector_bias=True, pad_token_id=ids[PAD],
    )


def make_model(tok: Tokenizer) -> LlavaOnevisionForConditionalGeneration:
    model = LlavaOnevisionForConditionalGeneration._from_config(make_config(tok), attn_implementation="eager")
    ids = ids_of(tok)
    seeded_weights(model)  # image_newline included (INIT_STD, like every other matrix)
    with torch.no_grad():
        # As in make_tiny_vlm / make_tiny_smolvlm: single bytes and special tokens shrunk, pieces that are not whole
        # space-prefixed words halved, EOS (<|im_end|>) large enough that some captions end early.
        w = model.lm_head.weight
        first_merge = len(SPECIALS) + 256
        w[:first_merge] *= BYTE_ROW_SCALE
        for t, i in tok.get_vocab().items():
            if i >= first_merge and t not in EXTRA_SPECIALS and not (t.startswith("Ġ") and len(t) > 3):
                w[i] *= PIECE_ROW_SCALE
        for t in EXTRA_SPECIALS:
            w[ids[t]] *= EOS_SCALE if t == IM_END else BYTE_ROW_SCALE
    model.generation_config = GenerationConfig(eos_token_id=ids[IM_END], pad_token_id=ids[PAD])
    model.eval()
    return model


# ---------------------------------------------------------------------------------------- ONNX wrappers

class VisionEncoder(torch.nn.Module):
    """The vision half of LlavaOnevisionModel.get_image_features, per view and before packing: the vision tower on
    every view, the feature layer(s) and strategy of the config, the projector. image_newline rides along as a
    second output: the captioner packs the views itself (engines/captioner/onevision-features.ts) and needs it."""

    def __init__(self, model: LlavaOnevisionForConditionalGeneration):
        super().__init__()
        self.model = model.model

    def forward(self, pixel_values):
        c = self.model.config
        hidden = self.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
        layers = c.vision_feature_layer if isinstance(c.vision_feature_layer, list) else [c.vision_feature_layer]
        feats = torch.cat([hidden[i] for i in layers], dim=-1)
        if c.vision_feature_select_strategy == "default":
            feats = feats[:, 1:]
        return self.model.multi_modal_projector(feats), self.model.image_newline * 1.0


def name_output(path: Path, index: int, name: str) -> None:
    """Gives graph output `index` its name: constant folding turns image_newline into an initializer, which the
    exporter then outputs under the initializer's name ("315"); an Identity node restores the declared one."""
    import onnx

    m = onnx.load(str(path))
    out = m.graph.output[index]
    if out.name != name:
        m.graph.node.append(onnx.helper.make_node("Identity", [out.name], [name], name=f"{name}_output"))
        out.name = name
        onnx.save(m, str(path))


def export_onnx(model: LlavaOnevisionForConditionalGeneration, onnx_dir: Path) -> None:
    onnx_dir.mkdir(parents=True, exist_ok=True)
    size = model.config.vision_config.image_size
    common = dict(opset_version=OPSET, dynamo=False, do_constant_folding=True)
    gen = torch.Generator().manual_seed(1)
    # 3 views in the example so that the view count is not traced as a constant.
    path = onnx_dir / "vision_encoder.onnx"
    torch.onnx.export(
        VisionEncoder(model), (torch.randn(3, 3, size, size, generator=gen),), str(path),
        input_names=["pixel_values"], output_names=["image_features", "image_newline"],
        dynamic_axes={"pixel_values": {0: "num_views"}, "image_features": {0: "num_views"}}, **common,
    )
    name_output(path, 1, "image_newline")
    export_text_side(model, Decoder(model), onnx_dir, common, generator=gen)


# ------------------------------------------------------------------------------------------------ images

def make_images(out: Path) -> list[Path]:
    """Pictures of IMAGE_SIZES: a dark background, a filled rectangle and an ellipse in two of make_tiny_vlm's
    colours, placed by the picture's proportions, and a digit when there is room."""
    out.mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    paths = []
    for i, (name, (w, h)) in enumerate(IMAGE_SIZES.items()):
        im = Image.new("RGB", (w, h), (10 + 12 * i, 5, 30 - 3 * i))
        draw = ImageDraw.Draw(im)
        a, b = COLOURS[names[i % len(names)]], COLOURS[names[(i + 2) % len(names)]]
        draw.rectangle([w // 8, h // 6, w // 2, h * 2 // 3], fill=a)
        draw.ellipse([w // 2 - w // 10, h // 3, w - w // 10, h - h // 8], fill=b)
        if min(w, h) >= 30:
            font = ImageFont.load_default(size=min(w, h) // 2)
            draw.text((w // 6, h // 8), str((3 * i + 1) % 10), fill=COLOURS[names[(i + 4) % len(names)]], font=font)
        paths.append(out / f"{name}.png")
        im.save(paths[-1])
    return paths


# -------------------------------------------------------------------------------------- fixture writing

def image_processor_kwargs(pinpoints: list, crop: int) -> dict:
    return dict(
        do_resize=True, size={"height": crop, "width": crop}, image_grid_pinpoints=pinpoints, resample=3,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=IMAGE_MEAN, image_std=IMAGE_STD,
        do_pad=True, do_convert_rgb=True,
    )


def write_fixture(out: Path, model: LlavaOnevisionForConditionalGeneration, tok: Tokenizer) -> None:
    start_fixture(out, model, "LlavaOnevisionForConditionalGeneration", tok, onevision_tokenizer_config(tok))
    pre = LlavaOnevisionImageProcessor(**image_processor_kwargs(PINPOINTS, CROP)).to_dict()
    pre.pop("_processor_class", None)
    pre["processor_class"] = "LlavaOnevisionProcessor"
    write_json(out / "preprocessor_config.json", dict(sorted(pre.items())))
    write_json(out / "processor_config.json", {
        "image_token": IMAGE,
        "num_image_tokens": FEATURES_PER_VIEW,
        "processor_class": "LlavaOnevisionProcessor",
        "video_token": VIDEO,
        "vision_aspect_ratio": ASPECT,
        "vision_feature_select_strategy": "full",
    })
    export_onnx(model, out / "onnx")


class ImagesOnlyProcessor(LlavaOnevisionProcessor):
    """LlavaOnevisionProcessor without its video processor (which needs torchvision): the same image processor,
    tokenizer and "<image>" expansion (__call__, _expand_image_tokens and _get_number_of_features are inherited)."""

    attributes = ["image_processor", "tokenizer"]

    def __init__(self, image_processor, tokenizer, num_image_tokens=None, vision_feature_select_strategy=None,
                 chat_template=None, image_token="<image>", video_token="<video>", vision_aspect_ratio="anyres_max_9",
                 **kwargs):
        # LlavaOnevisionProcessor.__init__'s assignments, then ProcessorMixin's with two attributes.
        self.num_image_tokens = num_image_tokens
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.image_token = tokenizer.image_token if hasattr(tokenizer, "image_token") else image_token
        self.video_token = tokenizer.video_token if hasattr(tokenizer, "video_token") else video_token
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.vision_aspect_ratio = vision_aspect_ratio
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(out: Path) -> ImagesOnlyProcessor:
    """The fixture's processor, from the files written (the image processor from preprocessor_config.json)."""
    settings = json.loads((out / "processor_config.json").read_text())
    return ImagesOnlyProcessor(
        LlavaOnevisionImageProcessor.from_pretrained(out), PreTrainedTokenizerFast.from_pretrained(out),
        num_image_tokens=settings["num_image_tokens"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        vision_aspect_ratio=settings["vision_aspect_ratio"],
    )


def geometry(processor, height: int, width: int, crop: int) -> dict:
    """What Python computes for an image of height x width: the pinpoint chosen, the crop grid (rows, columns), the
    number of views (base + crops) and of "<image>" tokens."""
    pinpoints = processor.image_processor.image_grid_pinpoints
    best = select_best_resolution((height, width), pinpoints)
    rows, cols = get_anyres_image_grid_shape((height, width), pinpoints, crop)
    return {"image_size": [height, width], "best_resolution": list(best), "grid": [rows, cols],
            "views": rows * cols + 1, "image_tokens": processor._get_number_of_features(height, width, crop, crop)}


def feature_digest(features: torch.Tensor) -> list:
    """Per token of the packed image features [tokens, hidden]: the sum and a cos-weighted sum over hidden (which
    tells tokens, and so the packing's order, newline rows and unpadding, apart)."""
    weights = torch.cos(torch.arange(features.shape[-1], dtype=torch.float64))
    f = features.double()
    return [[round(float(s), 5), round(float(d), 5)] for s, d in zip(f.sum(-1), f @ weights)]


def synthetic_pixels(width: int, height: int, seed: int) -> np.ndarray:
    """RGB bytes from a 32-bit LCG (state = state * 1103515245 + 12345, byte = state >> 24), row by row: the
    TypeScript test makes the same picture without storing it."""
    state = seed
    data = np.empty(width * height * 3, np.uint8)
    for i in range(data.size):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        data[i] = state >> 24
    return data.reshape(height, width, 3)


RESIZE_CASES = [(37, 23, 32, 32), (23, 37, 32, 32), (90, 30, 96, 32), (50, 64, 50, 64), (20, 20, 32, 32),
                (61, 17, 64, 18), (17, 61, 18, 64), (80, 60, 41, 31), (31, 90, 10, 32), (7, 9, 40, 40),
                (640, 480, 384, 384), (300, 1200, 96, 384)]  # (width, height, new width, new height)


def resize_cases() -> list:
    cases = []
    for k, (w, h, nw, nh) in enumerate(RESIZE_CASES):
        im = Image.fromarray(synthetic_pixels(w, h, k + 1))
        out = np.asarray(im.resize((nw, nh), Image.Resampling.BICUBIC))
        cases.append({"size": [w, h], "resized": [nw, nh], "seed": k + 1, "sha256": hashlib.sha256(out.tobytes()).hexdigest()})
    return cases


def real_checkpoint_geometry(tokenizer) -> dict:
    image_processor = LlavaOnevisionImageProcessor(**image_processor_kwargs(REAL_PINPOINTS, REAL_CROP))
    processor = ImagesOnlyProcessor(image_processor, tokenizer, num_image_tokens=(REAL_CROP // REAL_PATCH) ** 2,
                                    vision_feature_select_strategy="full", vision_aspect_ratio=REAL_ASPECT)
    assert image_processor.image_grid_pinpoints == LlavaOnevisionImageProcessor().image_grid_pinpoints
    return {
        "note": "llava-hf/llava-onevision-qwen2-0.5b-ov-hf's settings: LlavaOnevisionImageProcessor's default "
                "pinpoints, 384 px crops, patch 14 (729 features per view), anyres_max_9",
        "crop_size": REAL_CROP, "patch_size": REAL_PATCH, "vision_aspect_ratio": REAL_ASPECT,
        "image_grid_pinpoints": REAL_PINPOINTS,
        "images": [geometry(processor, h, w, REAL_CROP) for w, h in REAL_SIZES],
    }


def reference(out: Path, model: LlavaOnevisionForConditionalGeneration, images: list[Path]) -> dict:
    processor = load_processor(out)
    tokenizer = processor.tokenizer
    eos = model.generation_config.eos_token_id
    assert_chat_prompt(tokenizer, PROMPT)
    ref = reference_header(
        "written by tools/make_tiny_onevision.py: greedy generation of the PyTorch model (transformers "
        "LlavaOnevisionForConditionalGeneration, eager attention; images and prompt by LlavaOnevisionImageProcessor "
        "and LlavaOnevisionProcessor's expansion); generated_ids are the new tokens only (EOS included when "
        "produced); min_margin is the smallest top-1 minus top-2 logit over the steps; beam: "
        "generate(num_beams=3, num_return_sequences=3), best first, with sequences_scores; pixel_values_sha256: "
        "SHA-256 of the float32 pixel_values [views, 3, 32, 32] (C order, little-endian); packed_digest: per "
        "token of the packed image features, [sum, sum of f[k] * cos(k)]",
        PROMPT, image_token_index=model.config.image_token_index, eos_token_id=eos, crop_size=CROP,
        image_grid_pinpoints=PINPOINTS, vision_aspect_ratio=ASPECT, features_per_view=FEATURES_PER_VIEW,
    )
    with torch.no_grad():
        for path in images:
            image = Image.open(path)
            inputs = processor(images=image, text=PROMPT, return_tensors="pt")
            geo = geometry(processor, image.height, image.width, CROP)
            n_img = int((inputs.input_ids == model.config.image_token_index).sum())
            assert n_img == geo["image_tokens"], (path.name, n_img, geo)
            assert inputs.pixel_values.shape == (1, geo["views"], 3, CROP, CROP), inputs.pixel_values.shape
            packed = model.model.get_image_features(inputs.pixel_values, inputs.image_sizes,
                                                    batch_num_images=inputs.batch_num_images)
            assert packed[0].shape[0] == n_img, (packed[0].shape, n_img)
            entry = reference_entry(model, tokenizer, inputs, path, eos_id=eos)
            entry.update({
                "geometry": geo,
                "pixel_values_sha256": hashlib.sha256(inputs.pixel_values[0].numpy().astype("<f4").tobytes()).hexdigest(),
                "packed_digest": feature_digest(packed[0]),
            })
            ref["images"].append(entry)
    ref["real_checkpoint_geometry"] = real_checkpoint_geometry(tokenizer)
    ref["pil_bicubic_resizes"] = {
        "note": "PIL.Image.resize((new width, new height), BICUBIC) of synthetic_pixels(width, height, seed) "
                "(tools/make_tiny_onevision.py); sha256 of the resized RGB bytes",
        "cases": resize_cases(),
    }
    return ref


# ------------------------------------------------------------------------------------ ORT-vs-torch check

def ort_check(out: Path, model: LlavaOnevisionForConditionalGeneration, image: Path, sess: dict) -> dict:
    """Max |difference|s between onnxruntime on the exported files and the PyTorch model: the packed image features
    (the ORT views and image_newline packed by the model's own pack_image_features), the first step's logits and a
    second step's with past; plus an ORT greedy run."""
    processor = load_processor(out)
    inputs = processor(images=Image.open(image), text=PROMPT, return_tensors="pt")
    ids = inputs.input_ids
    eos = model.generation_config.eos_token_id
    ort_step, empty = ort_decoder(sess, model.config.text_config)

    views, newline = sess["vision_encoder"].run(["image_features", "image_newline"],
                                                {"pixel_values": inputs.pixel_values[0].numpy()})
    with torch.no_grad():
        packed, _ = model.model.pack_image_features([torch.from_numpy(views)], inputs.image_sizes,
                                                    image_newline=torch.from_numpy(newline),
                                                    vision_aspect_ratio=model.config.vision_aspect_ratio)
        ref_packed = model.model.get_image_features(inputs.pixel_values, inputs.image_sizes,
                                                    batch_num_images=inputs.batch_num_images)[0]
        t1 = model(**inputs, use_cache=True)
        nxt = t1.logits[0, -1].argmax().view(1, 1)
        mask2 = torch.cat([inputs.attention_mask, torch.ones(1, 1, dtype=inputs.attention_mask.dtype)], 1)
        t2 = model(input_ids=nxt, attention_mask=mask2, past_key_values=t1.past_key_values, use_cache=True)
    feats = packed[0].numpy()
    embeds = sess["embed_tokens"].run(None, {"input_ids": ids.numpy()})[0]
    embeds[ids.numpy() == model.config.image_token_index] = feats
    mask = inputs.attention_mask.numpy().astype(np.int64)
    pos = np.arange(ids.shape[1], dtype=np.int64)[None]
    logits1, past = ort_step(embeds, mask, pos, empty)
    e2 = sess["embed_tokens"].run(None, {"input_ids": nxt.numpy()})[0]
    logits2, _ = ort_step(e2, mask2.numpy().astype(np.int64), np.array([[ids.shape[1]]], np.int64), past)

    gen = ort_greedy(sess, ort_step, embeds, mask, pos, empty, eos)
    return {
        "image": image.name,
        "packed_image_features_max_abs_diff": float(np.abs(feats - ref_packed.numpy()).max()),
        "step1_logits_max_abs_diff": float(np.abs(logits1 - t1.logits.numpy()).max()),
        "step2_with_past_logits_max_abs_diff": float(np.abs(logits2 - t2.logits.numpy()).max()),
        "logit_abs_max": float(np.abs(t1.logits.numpy()).max()),
        "ort_greedy_generated_ids": gen,
    }


# ------------------------------------------------------------------------------- a real checkpoint, exported

def export_checkpoint(src: Path, out: Path) -> None:
    """A downloaded llava-hf OneVision checkpoint (config.json, model.safetensors, tokenizer and processor files) in
    this project's layout: the ONNX files of the tiny fixture's exporters (float32), large ones with their weights
    in <name>.onnx_data (declared in config.json's "transformers.js_config", which transformers.js 4.3 reads), the
    chat template moved into tokenizer_config.json (where transformers.js looks for it)."""
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(src, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    if out.exists():
        shutil.rmtree(out)
    (out / "onnx").mkdir(parents=True)
    for name in ("generation_config.json", "preprocessor_config.json", "processor_config.json", "tokenizer.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    tok_config = json.loads((src / "tokenizer_config.json").read_text())
    if "chat_template" not in tok_config:
        for name in ("chat_template.json", "chat_template.jinja"):
            if (src / name).exists():
                text = (src / name).read_text()
                tok_config["chat_template"] = json.loads(text)["chat_template"] if name.endswith(".json") else text
                break
    write_json(out / "tokenizer_config.json", tok_config)
    with torch.no_grad():
        export_onnx(model, out / "onnx")

    external = externalise_large(out / "onnx")
    config = json.loads((src / "config.json").read_text())
    if external:
        config["transformers.js_config"] = {"use_external_data_format": external}
    write_json(out / "config.json", config)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out} ({total / 1e9:.2f} GB); external data: {sorted(external) or 'none'}")


def main() -> None:
    if "--from-checkpoint" in sys.argv:
        parser = argparse.ArgumentParser(description="export a downloaded llava-hf OneVision checkpoint")
        parser.add_argument("--from-checkpoint", type=Path, required=True)
        parser.add_argument("--out", type=Path, required=True)
        args = parser.parse_args()
        export_checkpoint(args.from_checkpoint.resolve(), args.out.resolve())
        return
    sessions = {}

    def check(out: Path, model, image: Path) -> dict:
        if "s" not in sessions:
            sessions["s"] = ort_sessions(out)
        return ort_check(out, model, image, sessions["s"])

    fixture_main(__doc__, "tiny-onevision", build_onevision_tokenizer, make_model, write_fixture, reference, check,
                 "generated_ids", images_maker=make_images)


if __name__ == "__main__":
    main()

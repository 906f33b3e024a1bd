#!/usr/bin/env python3
"""Builds the tiny LLaVA test fixture: test/fixtures/tiny-llava/.

A random-weight LLaVA-1.5-layout LlavaForConditionalGeneration (model_type "llava"): a CLIP ViT vision
tower (32 px images, 8 px patches, hidden 32, 2 layers, 2 heads; features taken from layer -2 with the
CLS token dropped, vision_feature_select_strategy "default"), the 2-layer GELU multimodal projector and a
Llama text model (hidden 64, 2 layers, 4 query / 2 key-value heads) with a 400-token byte-level BPE
vocabulary trained here on a few caption-like sentences. Exported to ONNX by hand (torch.onnx.export,
TorchScript exporter, opset 17) in the layout transformers.js (v4) loads for LlavaForConditionalGeneration:

    config.json generation_config.json preprocessor_config.json processor_config.json
    tokenizer.json tokenizer_config.json
    onnx/vision_encoder.onnx        pixel_values [batch, 3, 32, 32] -> image_features [batch, 16, 64]
    onnx/embed_tokens.onnx          input_ids [batch, seq] -> inputs_embeds [batch, seq, 64]
    onnx/decoder_model_merged.onnx  inputs_embeds, attention_mask, position_ids,
                                    past_key_values.{i}.key/value [batch, 2, past, 16]
                                    -> logits, present.{i}.key/value
    (the decoder always takes a past; transformers.js feeds a zero-length one on the first step,
    so no use_cache_branch / If node is needed)

plus fixture images (images/*.png, 32x32 coloured squares and digits) and reference.json: for each image
the greedy generation of the Python transformers PyTorch model (not ONNX) with the exact prompt, the
expanded prompt ids, the new token ids (EOS included when produced), the decoded text and the smallest
top-1/top-2 logit margin over the generated steps, and beam search's 3 best sequences
(generate(num_beams=3, num_return_sequences=3)) with their scores. Nothing is downloaded.

The processor_config.json says num_additional_image_tokens 0 and no vision_feature_select_strategy:
Python's LlavaProcessor then expands "<image>" to (32/8)^2 = 16 tokens, the same count as
transformers.js' LlavaProcessor (which ignores vision_feature_select_strategy, so the hub's usual
"1 + default" pair would give it 17 tokens for 16 features).

Regenerate (from the repository root; about 20 s on a CPU):

    python3.11 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-tiny-vlm.txt
    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_vlm.py     # writes test/fixtures/tiny-llava
    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_vlm.py --check-only   # ORT vs PyTorch again

The weights come from torch.Generator().manual_seed(SEED); other torch versions may give other weights,
which is fine as long as the ONNX files and reference.json are regenerated together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv

SEED = 0
IMAGE_SIZE = 32
PATCH_SIZE = 8
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # CLS dropped ("default" strategy)
VOCAB_SIZE = 400
MAX_NEW_TOKENS = 12
NUM_BEAMS = 3
OPSET = 17
# Larger than Llama's 0.02 so that the random model's outputs depend on the image and its top logits
# are far apart (parity between torch, onnxruntime and transformers.js then does not hinge on rounding).
INIT_STD = 0.3
# The LM head rows of single bytes and of the special tokens other than EOS are shrunk, so that the
# random model writes whole (merged) words and its text decodes the same everywhere; EOS is boosted
# so that some captions end before max_new_tokens.
BYTE_ROW_SCALE = 0.2
PIECE_ROW_SCALE = 0.5  # merges that are not a whole space-prefixed word
EOS_SCALE = 0.8

PROMPT = "USER: <image>\nDescribe the image. ASSISTANT:"
UNK, BOS, EOS, PAD, IMAGE = "<unk>", "<s>", "</s>", "<pad>", "<image>"
SPECIALS = [UNK, BOS, EOS, PAD, IMAGE]  # ids 0..4

# A simplified llava-hf LLaVA-1.5 chat template (plain loops instead of selectattr and {% generation %}):
# [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image."}]}]
# with add_generation_prompt renders exactly PROMPT.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}{{ content['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

COLOURS = {
    "red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 70, 230), "yellow": (240, 220, 30),
    "white": (240, 240, 240), "purple": (160, 40, 200),
}
CORPUS = [
    "USER: <image>\nDescribe the image. ASSISTANT: A red square on a black background.",
    "USER: <image>\nWhat is in the picture? ASSISTANT: The digit seven in green.",
    "A photo of a blue square in the middle of the image.",
    "A small yellow digit three on a dark background.",
    "The image shows a white square with a purple border.",
    "There is a big green digit one and a red digit nine.",
    "A picture of colored shapes: red, green, blue, yellow, white and purple squares.",
    "Describe the image. The image is a digit zero, one, two, three, four, five, six, seven, eight or nine.",
    "ASSISTANT: It is a photo of a small square. USER: Describe the colors.",
]


# --------------------------------------------------------------------------------------------- tokenizer

def train_byte_bpe(corpus: list[str], specials: list[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE (no prefix space) trained on `corpus`, `specials` first at ids 0.., then the 256
    byte characters, then the merges: what every tiny VLM fixture's tokenizer starts from."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    # Repeat the corpus so that merge counts (and so the vocabulary) do not hinge on single occurrences.
    tok.train_from_iterator(sorted(corpus) * 3, trainer=trainer)
    assert [tok.token_to_id(t) for t in specials] == list(range(len(specials)))
    # ids len(specials)..+255 are the 256 byte-level characters, every later id is a merge
    assert all((len(t) == 1) == (len(specials) <= i < len(specials) + 256)
               for t, i in tok.get_vocab().items() if t not in specials)
    return tok


def build_tokenizer() -> Tokenizer:
    tok = train_byte_bpe(CORPUS, SPECIALS, VOCAB_SIZE)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 1)],
    )
    return tok


def tokenizer_config() -> dict:
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i, t in enumerate(SPECIALS)
        },
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": UNK,
        "pad_token": PAD,
        "extra_special_tokens": {"image_token": IMAGE},
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 128,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


# ------------------------------------------------------------------------------------------------- model

def tokenizer_with_specials(extra: list[str]) -> Tokenizer:
    """build_tokenizer's BPE plus a family's own special tokens, appended in order; no BOS added by the tokenizer."""
    tok = build_tokenizer()
    tok.add_special_tokens(extra)
    base = tok.get_vocab_size() - len(extra)
    assert [tok.token_to_id(t) for t in extra] == list(range(base, base + len(extra)))
    tok.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    return tok


def tokenizer_config_with_specials(tok: Tokenizer, extra: list[str]) -> dict:
    """tokenizer_config() with the family's special tokens in added_tokens_decoder."""
    cfg = tokenizer_config()
    cfg["added_tokens_decoder"].update({
        str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                  "single_word": False, "special": True}
        for t in extra
    })
    return cfg


def make_config(vocab_size: int) -> LlavaConfig:
    vision = CLIPVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, num_channels=3, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, projection_dim=32, hidden_act="quick_gelu",
    )
    text = LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=SPECIALS.index(IMAGE),
        projector_hidden_act="gelu", vision_feature_select_strategy="default", vision_feature_layer=-2,
        image_seq_length=NUM_IMAGE_TOKENS, pad_token_id=3, tie_word_embeddings=False,
    )


def seeded_weights(model) -> None:
    """Seeded random weights: norm gains near 1, small biases, INIT_STD elsewhere."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):  # LayerNorm / RMSNorm gains
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(INIT_STD * torch.randn(p.shape, generator=gen))


def seeded_init(model, tok: Tokenizer, n_specials: int, eos_id: int) -> None:
    """seeded_weights, with the LM head's rows scaled so that greedy captions are words rather than
    bytes and EOS comes sometimes."""
    seeded_weights(model)
    with torch.no_grad():
        first_merge = n_specials + 256
        model.lm_head.weight[:first_merge] *= BYTE_ROW_SCALE
        model.lm_head.weight[eos_id] *= EOS_SCALE / BYTE_ROW_SCALE
        for t, i in tok.get_vocab().items():
            if i >= first_merge and not (t.startswith("Ġ") and len(t) > 3):
                model.lm_head.weight[i] *= PIECE_ROW_SCALE


def export_text_side(model, decoder: torch.nn.Module, onnx_dir: Path, common: dict, generator: torch.Generator | None = None) -> None:
    """embed_tokens.onnx and decoder_model_merged.onnx of a decoder-only VLM (LLaVA, SmolVLM) in the
    layout transformers.js loads: the decoder always takes a past (zero-length on the first step)."""
    tc = model.config.text_config
    n_layers, n_kv, head_dim = tc.num_hidden_layers, tc.num_key_value_heads, tc.hidden_size // tc.num_attention_heads
    torch.onnx.export(
        EmbedTokens(model), (torch.tensor([[1, 5, 6, 7], [1, 8, 9, 10]]),), str(onnx_dir / "embed_tokens.onnx"),
        input_names=["input_ids"], output_names=["inputs_embeds"],
        dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                      "inputs_embeds": {0: "batch_size", 1: "sequence_length"}}, **common,
    )
    batch, q_len, past_len = 2, 3, 4
    past = [torch.randn(batch, n_kv, past_len, head_dim, generator=generator) for _ in range(2 * n_layers)]
    args = (torch.randn(batch, q_len, tc.hidden_size, generator=generator), torch.ones(batch, past_len + q_len, dtype=torch.int64),
            torch.arange(past_len, past_len + q_len).repeat(batch, 1), *past)
    past_names, present_names = kv_names(n_layers, "past_key_values"), kv_names(n_layers, "present")
    dynamic_axes = {
        "inputs_embeds": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
        **{n: {0: "batch_size", 2: "past_sequence_length"} for n in past_names},
        **{n: {0: "batch_size", 2: "total_sequence_length"} for n in present_names},
    }
    torch.onnx.export(
        decoder, args, str(onnx_dir / "decoder_model_merged.onnx"),
        input_names=["inputs_embeds", "attention_mask", "position_ids", *past_names],
        output_names=["logits", *present_names], dynamic_axes=dynamic_axes, **common,
    )


def make_model(tok: Tokenizer) -> LlavaForConditionalGeneration:
    config = make_config(tok.get_vocab_size())
    model = LlavaForConditionalGeneration._from_config(config, attn_implementation="eager")
    seeded_init(model, tok, len(SPECIALS), SPECIALS.index(EOS))
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=3)
    model.eval()
    return model


# ---------------------------------------------------------------------------------------- ONNX wrappers

class VisionEncoder(torch.nn.Module):
    def __init__(self, model: LlavaForConditionalGeneration):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        c = self.model.config
        out = self.model.model.vision_tower(pixel_values, output_hidden_states=True)
        feats = out.hidden_states[c.vision_feature_layer]
        if c.vision_feature_select_strategy == "default":
            feats = feats[:, 1:]
        return self.model.model.multi_modal_projector(feats)


class EmbedTokens(torch.nn.Module):
    def __init__(self, model: LlavaForConditionalGeneration):
        super().__init__()
        self.embed = model.get_input_embeddings()

    def forward(self, input_ids):
        return self.embed(input_ids)


class Decoder(torch.nn.Module):
    """The Llama decoder + LM head written out with the model's own modules, taking the KV cache as plain
    tensors (past_key_values.{i}.key/value, [batch, kv_heads, past, head_dim]) and returning the new
    cache (present.{i}.key/value); masks come from attention_mask (left padding) plus causality."""

    def __init__(self, model: LlavaForConditionalGeneration):
        super().__init__()
        self.lm = model.model.language_model
        self.lm_head = model.lm_head

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        h = inputs_embeds
        q_len = inputs_embeds.shape[1]
        kv_len = attention_mask.shape[1]
        cos, sin = self.lm.rotary_emb(h, position_ids)
        key_pos = torch.arange(kv_len, device=h.device)[None, :]
        query_pos = torch.arange(q_len, device=h.device)[:, None] + (kv_len - q_len)
        allowed = (key_pos <= query_pos)[None, None] & attention_mask[:, None, None, :].bool()
        bias = torch.where(allowed, 0.0, torch.finfo(h.dtype).min)
        presents = []
        for i, layer in enumerate(self.lm.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            shape = (*x.shape[:-1], -1, attn.head_dim)
            q = attn.q_proj(x).view(shape).transpose(1, 2)
            k = attn.k_proj(x).view(shape).transpose(1, 2)
            v = attn.v_proj(x).view(shape).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k = torch.cat([past[2 * i], k], dim=2)
            v = torch.cat([past[2 * i + 1], v], dim=2)
            presents += [k, v]
            kk = repeat_kv(k, attn.num_key_value_groups)
            vv = repeat_kv(v, attn.num_key_value_groups)
            scores = torch.matmul(q, kk.transpose(2, 3)) * attn.scaling + bias
            probs = torch.softmax(scores, dim=-1)
            o = torch.matmul(probs, vv).transpose(1, 2).reshape(*x.shape[:-1], -1)
            h = h + attn.o_proj(o)
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        logits = self.lm_head(self.lm.norm(h))
        return (logits, *presents)


def kv_names(n_layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]


def export_onnx(model: LlavaForConditionalGeneration, onnx_dir: Path) -> None:
    onnx_dir.mkdir(parents=True, exist_ok=True)
    tc = model.config.text_config
    n_layers, n_kv, head_dim = tc.num_hidden_layers, tc.num_key_value_heads, tc.hidden_size // tc.num_attention_heads
    common = dict(opset_version=OPSET, dynamo=False, do_constant_folding=True)
    # Batch 2 and distinct lengths in the example inputs so that no dimension is traced as a constant.
    torch.onnx.export(
        VisionEncoder(model), (torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE),), str(onnx_dir / "vision_encoder.onnx"),
        input_names=["pixel_values"], output_names=["image_features"],
        dynamic_axes={"pixel_values": {0: "batch_size"}, "image_features": {0: "batch_size"}}, **common,
    )
    export_text_side(model, Decoder(model), onnx_dir, common)


# ------------------------------------------------------------------------------------------------ images

def make_images(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=26)
    paths = []
    names = list(COLOURS)
    for i, name in enumerate(names[:3]):  # coloured squares at different places
        im = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (0, 0, 0))
        x0 = 4 + 6 * i
        ImageDraw.Draw(im).rectangle([x0, x0, x0 + 14, x0 + 14], fill=COLOURS[name])
        paths.append(out / f"square-{name}.png")
        im.save(paths[-1])
    for i, name in enumerate(names[3:]):  # coloured digits
        digit = str(3 * i + 1)
        im = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (20, 0, 30))
        draw = ImageDraw.Draw(im)
        left, top, right, bottom = draw.textbbox((0, 0), digit, font=font)
        draw.text(((IMAGE_SIZE - (right - left)) / 2 - left, (IMAGE_SIZE - (bottom - top)) / 2 - top), digit,
                  fill=COLOURS[name], font=font)
        paths.append(out / f"digit-{digit}-{name}.png")
        im.save(paths[-1])
    return paths


# -------------------------------------------------------------------------------------- fixture writing

def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def model_config(model, architecture: str) -> dict:
    """The model's config.json as transformers saves it, naming `architecture`, without dtype keys (the
    exports are float32 whatever torch's default was), keys sorted."""
    with tempfile.TemporaryDirectory() as tmp:
        model.config.save_pretrained(tmp)
        config = json.loads((Path(tmp) / "config.json").read_text())
    config["architectures"] = [architecture]
    for part in (config, config.get("text_config", {}), config.get("vision_config", {})):
        part.pop("torch_dtype", None)
        part.pop("dtype", None)
    return dict(sorted(config.items()))


def reference_header(note: str, prompt: str, **extra) -> dict:
    """What every tiny VLM reference.json starts with: how it was made, the versions, the prompt and the generation lengths."""
    return {
        "note": note,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "prompt": prompt,
        "max_new_tokens": MAX_NEW_TOKENS,
        "num_beams": NUM_BEAMS,
        **extra,
        "images": [],
    }


def assert_chat_prompt(tokenizer, prompt: str) -> None:
    """The bundle's chat template renders one user turn (an image and "Describe the image.") as `prompt`."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image."}]}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == prompt, repr(rendered)


def start_fixture(out: Path, model, architecture: str, tok: Tokenizer, tok_config: dict) -> None:
    """A fresh fixture folder with the model's config, generation config and tokenizer files."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    write_json(out / "config.json", model_config(model, architecture))
    model.generation_config.save_pretrained(out)
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", tok_config)


def write_fixture(out: Path, model: LlavaForConditionalGeneration, tok: Tokenizer) -> None:
    start_fixture(out, model, "LlavaForConditionalGeneration", tok, tokenizer_config())
    image_processor = CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": IMAGE_SIZE}, resample=3,
        do_center_crop=True, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True,
    )
    pre = image_processor.to_dict()
    pre["processor_class"] = "LlavaProcessor"
    write_json(out / "preprocessor_config.json", pre)
    write_json(out / "processor_config.json", {
        "image_token": IMAGE,
        "num_additional_image_tokens": 0,
        "patch_size": PATCH_SIZE,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": None,
    })
    export_onnx(model, out / "onnx")


def reference_entry(model, tokenizer, inputs, path: Path, eos_id: int) -> dict:
    """One image of a decoder-only VLM's reference: PyTorch's greedy generation (new tokens, text, the
    smallest top-1/top-2 logit margin) and beam search's 3 best sequences with their scores."""
    res = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
                         output_scores=True, return_dict_in_generate=True)
    prompt_len = inputs.input_ids.shape[1]
    new_ids = res.sequences[0, prompt_len:].tolist()
    margins = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in res.scores]
    beam = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=NUM_BEAMS,
                          num_return_sequences=NUM_BEAMS, output_scores=True, return_dict_in_generate=True)
    beams = [row[prompt_len:].tolist() for row in beam.sequences]
    # Python pads finished beams with pad_token_id after EOS: the hypothesis ends at its EOS.
    beams = [ids[: ids.index(eos_id) + 1] if eos_id in ids else ids for ids in beams]
    return {
        "file": f"images/{path.name}",
        "input_ids": inputs.input_ids[0].tolist(),
        "generated_ids": new_ids,
        "text": tokenizer.decode(new_ids, skip_special_tokens=True),
        "min_margin": round(min(margins), 4),
        "beam": [{"ids": ids, "text": tokenizer.decode(ids, skip_special_tokens=True), "score": round(float(sc), 5)}
                 for ids, sc in zip(beams, beam.sequences_scores)],
    }


def reference(out: Path, model: LlavaForConditionalGeneration, images: list[Path]) -> dict:
    processor = LlavaProcessor.from_pretrained(out)  # loads the files just written
    tokenizer = processor.tokenizer
    assert_chat_prompt(tokenizer, PROMPT)
    ref = reference_header(
        "written by tools/make_tiny_vlm.py: greedy generation of the PyTorch model (transformers "
        "LlavaForConditionalGeneration, eager attention); generated_ids are the new tokens only "
        "(EOS included when produced); min_margin is the smallest top-1 minus top-2 logit over the steps; "
        "beam: generate(num_beams=3, num_return_sequences=3), best first, with sequences_scores",
        PROMPT, num_image_tokens=NUM_IMAGE_TOKENS, image_token_index=model.config.image_token_index, eos_token_id=2,
    )
    with torch.no_grad():
        for path in images:
            inputs = processor(images=Image.open(path), text=PROMPT, return_tensors="pt")
            n_img = int((inputs.input_ids == model.config.image_token_index).sum())
            assert n_img == NUM_IMAGE_TOKENS, n_img
            ref["images"].append(reference_entry(model, tokenizer, inputs, path, eos_id=2))
    return ref


# ------------------------------------------------------------------------------------ ORT-vs-torch check

# ONNX files over this many bytes keep their weights in <name>.onnx_data (protobuf's 2 GB limit, with margin).
EXTERNAL_DATA_OVER = 1_500_000_000


def externalise_large(onnx_dir: Path) -> dict:
    """Moves the weights of every ONNX file over EXTERNAL_DATA_OVER (or one the exporter already split into loose
    tensor files) into one <name>.onnx_data next to it; returns transformers.js' use_external_data_format map."""
    import gc

    import onnx

    loose = [p for p in onnx_dir.iterdir() if p.suffix not in (".onnx", ".onnx_data")]
    external = {}
    for path in sorted(onnx_dir.glob("*.onnx")):
        if path.stat().st_size <= EXTERNAL_DATA_OVER and not loose:
            continue
        m = onnx.load(str(path))  # loose tensor files (if any) are read in here
        if path.stat().st_size <= EXTERNAL_DATA_OVER and m.ByteSize() <= EXTERNAL_DATA_OVER:
            continue
        onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{path.name}_data", size_threshold=1024)
        del m
        gc.collect()
        external[path.name] = 1
    for p in loose:
        p.unlink()
    return external


def ort_sessions(out: Path) -> dict:
    """The exported vision encoder, embed_tokens and merged decoder on onnxruntime's CPU provider, one thread."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return {n: ort.InferenceSession(str(out / "onnx" / f"{n}.onnx"), so, providers=["CPUExecutionProvider"])
            for n in ("vision_encoder", "embed_tokens", "decoder_model_merged")}


def ort_decoder(sess: dict, text_config):
    """A step of the merged decoder (embeddings, mask, positions, past in; logits and the new past out), and the
    empty past a prompt starts from."""
    n_kv, head_dim = text_config.num_key_value_heads, text_config.hidden_size // text_config.num_attention_heads
    past_names = kv_names(text_config.num_hidden_layers, "past_key_values")

    def ort_step(embeds, mask, pos, past):
        feeds = {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": pos, **past}
        outs = sess["decoder_model_merged"].run(None, feeds)
        return outs[0], dict(zip(past_names, outs[1:]))

    return ort_step, {n: np.zeros((1, n_kv, 0, head_dim), np.float32) for n in past_names}


def ort_greedy(sess: dict, ort_step, embeds, mask, pos, past, eos: int) -> list[int]:
    """Greedy decoding through the exported decoder and embed_tokens: the loop transformers.js' generate runs,
    from the prompt's embeddings, mask, positions and an empty past."""
    gen, m, p, pk, e, n = [], mask, pos, past, embeds, mask.shape[1]
    for _ in range(MAX_NEW_TOKENS):
        lg, pk = ort_step(e, m, p, pk)
        tok = int(lg[0, -1].argmax())
        gen.append(tok)
        if tok == eos:
            break
        e = sess["embed_tokens"].run(None, {"input_ids": np.array([[tok]], np.int64)})[0]
        m = np.concatenate([m, np.ones((1, 1), np.int64)], 1)
        p = np.array([[n]], np.int64)
        n += 1
    return gen


def ort_check(out: Path, model: LlavaForConditionalGeneration, image: Path) -> dict:
    """Max |logit| differences between onnxruntime on the exported files and the PyTorch model for the
    first step (prompt + image, empty past) and for a second step with past, plus an ORT greedy run."""
    sess = ort_sessions(out)
    processor = LlavaProcessor.from_pretrained(out)
    inputs = processor(images=Image.open(image), text=PROMPT, return_tensors="pt")
    ids = inputs.input_ids
    ort_step, empty = ort_decoder(sess, model.config.text_config)

    feats = sess["vision_encoder"].run(None, {"pixel_values": inputs.pixel_values.numpy()})[0]
    embeds = sess["embed_tokens"].run(None, {"input_ids": ids.numpy()})[0]
    embeds[ids.numpy() == model.config.image_token_index] = feats.reshape(-1, feats.shape[-1])
    mask = inputs.attention_mask.numpy().astype(np.int64)
    pos = np.arange(ids.shape[1], dtype=np.int64)[None]
    logits1, past = ort_step(embeds, mask, pos, empty)
    with torch.no_grad():
        ref_feats = model.model.get_image_features(inputs.pixel_values, model.config.vision_feature_layer,
                                                   model.config.vision_feature_select_strategy)
        t1 = model(**inputs, use_cache=True)
        nxt = t1.logits[0, -1].argmax().view(1, 1)
        mask2 = torch.cat([inputs.attention_mask, torch.ones(1, 1, dtype=inputs.attention_mask.dtype)], 1)
        t2 = model(input_ids=nxt, attention_mask=mask2, past_key_values=t1.past_key_values, use_cache=True)
    ref_feats = ref_feats if torch.is_tensor(ref_feats) else torch.cat(list(ref_feats))
    e2 = sess["embed_tokens"].run(None, {"input_ids": nxt.numpy()})[0]
    logits2, _ = ort_step(e2, mask2.numpy().astype(np.int64), np.array([[ids.shape[1]]], np.int64), past)

    gen = ort_greedy(sess, ort_step, embeds, mask, pos, empty, eos=2)
    return {
        "image": image.name,
        "image_features_max_abs_diff": float(np.abs(feats - ref_feats.reshape(feats.shape).numpy()).max()),
        "step1_logits_max_abs_diff": float(np.abs(logits1 - t1.logits.numpy()).max()),
        "step2_with_past_logits_max_abs_diff": float(np.abs(logits2 - t2.logits.numpy()).max()),
        "logit_abs_max": float(np.abs(t1.logits.numpy()).max()),
        "ort_greedy_generated_ids": gen,
    }


def fixture_main(doc: str, folder: str, build_tokenizer, make_model, write_fixture, reference, ort_check, greedy_key: str,
                 describe=lambda item, key: f"{item['file']}: {item[key]} {item['text']!r} margin {item['min_margin']}", extra_checks=None,
                 images_maker=make_images) -> None:
    """The command line every tiny VLM fixture script shares: build, write the fixture and its PyTorch
    reference (unless --check-only; the pictures from `images_maker(folder)`, make_images' six by default),
    then check onnxruntime on the written files against PyTorch:
    `ort_check(out, model, image)` returns max differences (keys ending in "diff", "logit_abs_max") and
    its greedy ids under `ort_<greedy_key>`, which must equal the reference's `greedy_key`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "test" / "fixtures" / folder)
    parser.add_argument("--check-only", action="store_true", help="only rerun the ORT-vs-PyTorch check")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    torch.set_num_threads(1)

    tok = build_tokenizer()
    model = make_model(tok)
    if not args.check_only:
        write_fixture(out, model, tok)
        images = images_maker(out / "images")
        ref = reference(out, model, images)
        write_json(out / "reference.json", ref)
        for item in ref["images"]:
            print(describe(item, greedy_key))
    ref = json.loads((out / "reference.json").read_text())
    worst = {}
    for item in ref["images"]:
        r = ort_check(out, model, out / item["file"])
        assert r[f"ort_greedy_{greedy_key}"] == item[greedy_key], (item["file"], r[f"ort_greedy_{greedy_key}"], item[greedy_key])
        for k, v in r.items():
            if k.endswith("diff") or k == "logit_abs_max":
                worst[k] = max(worst.get(k, 0.0), v)
    if extra_checks:
        worst.update(extra_checks(out, model, ref))
    print("onnxruntime vs PyTorch (max over images):", json.dumps(worst), "; ORT greedy ids == reference")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out} ({total / 1e6:.2f} MB)")


def main() -> None:
    fixture_main(__doc__, "tiny-llava", build_tokenizer, make_model, write_fixture, reference, ort_check, "generated_ids")


if __name__ == "__main__":
    main()

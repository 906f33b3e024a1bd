#!/usr/bin/env python3
"""Builds the tiny SmolVLM test fixture: test/fixtures/tiny-smolvlm/.

A random-weight SmolVLMForConditionalGeneration (transformers' own class, model_type "smolvlm"): the
SigLIP-like SmolVLM vision transformer (32 px images, 8 px patches, hidden 32, 2 layers, 2 heads), the
connector (pixel shuffle with scale_factor 2, so 16 patches -> 4 image tokens of 128 -> a bias-free linear
to 64) and a Llama text model (hidden 64, 2 layers, 4 query / 2 key-value heads) over the 400-token byte-level
BPE vocabulary of tools/make_tiny_vlm.py plus SmolVLM's special tokens. Exported to ONNX by hand
(torch.onnx.export, TorchScript exporter, opset 17) in the layout transformers.js (v4) loads for
SmolVLMForConditionalGeneration / Idefics3ForConditionalGeneration (both "image-text-to-text" models there):

    config.json generation_config.json preprocessor_config.json processor_config.json
    tokenizer.json tokenizer_config.json (with the chat template)
    onnx/vision_encoder.onnx        pixel_values [batch, num_images, 3, 32, 32] float32,
                                    pixel_attention_mask [batch, num_images, 32, 32] bool
                                    -> image_features [num_real_images, 4, 64]
                                    (all-zero padding images are dropped, as in get_image_features)
    onnx/embed_tokens.onnx          input_ids [batch, seq] -> inputs_embeds [batch, seq, 64]
    onnx/decoder_model_merged.onnx  inputs_embeds, attention_mask, position_ids,
                                    past_key_values.{i}.key/value [batch, 2, past, 16]
                                    -> logits, present.{i}.key/value
    (the decoder always takes a past; transformers.js feeds a zero-length one on the first step)

Images are not split (do_image_splitting false, size.longest_edge = max_image_size.longest_edge = 32):
"<image>" in the prompt becomes "<fake_token_around_image><global-img>" + 4 x "<image>" +
"<fake_token_around_image>" in Python and in transformers.js alike.
Splitting (do_image_splitting true, images larger than max_image_size) would need: <row_{r}_col_{c}> tokens in
the vocabulary (they are not added here; they would otherwise be tokenized as plain text), pictures larger than
32 px, and the same resize on both sides (transformers.js resizes with its own resampler (sharp), then splits the
normalized float tensor with bilinear interpolate_4d; Python resizes uint8 images with PIL before rescaling), so
parity would hinge on resampling, not on the model.

The Python reference uses Idefics3Processor + Idefics3ImageProcessor: transformers' SmolVLMProcessor module
imports its video processor, which needs torchvision (and SmolVLMProcessor needs num2words), neither of which
this script requires. SmolVLMImageProcessor is a generated copy of Idefics3ImageProcessor and the prompt
expansion is the same code, which the script asserts (pixel values of both image processors are equal).

Written next to them: images/*.png (the six 32x32 pictures of tools/make_tiny_vlm.py) and reference.json: for
each image the greedy generation of the PyTorch model (not ONNX) with the exact prompt, the expanded prompt ids,
the new token ids (EOS "<end_of_utterance>" included when produced), the decoded text, the smallest top-1/top-2
logit margin, and beam search's 3 best sequences (generate(num_beams=3, num_return_sequences=3)) with their
scores. Nothing is downloaded.

Regenerate (from the repository root; about 20 s on a CPU; same venv as tools/make_tiny_vlm.py):

    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_smolvlm.py               # writes test/fixtures/tiny-smolvlm
    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_smolvlm.py --check-only  # ORT vs PyTorch again
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer
from transformers import (
    GenerationConfig,
    Idefics3ImageProcessor,
    Idefics3Processor,
    LlamaConfig,
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
)
from transformers.models.smolvlm.configuration_smolvlm import SmolVLMVisionConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_vlm import (  # noqa: E402  (the tiny LLaVA builder: tokenizer, decoder wrapper, images
    BYTE_ROW_SCALE,
    IMAGE_SIZE,
    OPSET,
    PATCH_SIZE,
    PIECE_ROW_SCALE,
    SPECIALS,
    assert_chat_prompt,
    export_text_side,
    fixture_main,
    reference_entry,
    reference_header,
    seeded_weights,
    start_fixture,
    Decoder,
    write_json,
    ort_greedy,
    tokenizer_config_with_specials,
    tokenizer_with_specials,
    ort_decoder,
    ort_sessions,
)

SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2  # 4
UNK, PAD, IMAGE = "<unk>", "<pad>", "<image>"
FAKE, GLOBAL, EOU, IM_START = "<fake_token_around_image>", "<global-img>", "<end_of_utterance>", "<|im_start|>"
EXTRA_SPECIALS = [FAKE, GLOBAL, EOU, IM_START]  # ids 400..403, after make_tiny_vlm's 400-token vocabulary
# HuggingFaceTB/SmolVLM-*-Instruct's chat template, unchanged.
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
PROMPT = "<|im_start|>User:<image>Describe the image.<end_of_utterance>\nAssistant:"
IMAGE_MEAN = IMAGE_STD = [0.5, 0.5, 0.5]
# <end_of_utterance> row of the LM head: larger than make_tiny_vlm's EOS_SCALE so that some captions end early.
EOU_SCALE = 1.7


# --------------------------------------------------------------------------------------------- tokenizer

def build_smolvlm_tokenizer() -> Tokenizer:
    """make_tiny_vlm's byte-level BPE plus SmolVLM's special tokens; no BOS is added by the tokenizer (the
    chat template starts with <|im_start|>, as SmolVLM's does)."""
    return tokenizer_with_specials(EXTRA_SPECIALS)


def smolvlm_tokenizer_config(tok: Tokenizer) -> dict:
    cfg = tokenizer_config_with_specials(tok, EXTRA_SPECIALS)
    cfg.update({
        "add_bos_token": False,
        "bos_token": IM_START,
        "eos_token": EOU,
        "unk_token": UNK,
        "pad_token": PAD,
        "additional_special_tokens": [FAKE, IMAGE, EOU],
        "extra_special_tokens": {"image_token": IMAGE, "fake_image_token": FAKE, "global_image_token": GLOBAL,
                                 "end_of_utterance_token": EOU},
        "chat_template": CHAT_TEMPLATE,
        "processor_class": "SmolVLMProcessor",
    })
    return cfg


# ------------------------------------------------------------------------------------------------- model

def ids_of(tok: Tokenizer) -> dict:
    return {t: tok.token_to_id(t) for t in [*SPECIALS, *EXTRA_SPECIALS]}


def make_config(tok: Tokenizer) -> SmolVLMConfig:
    ids = ids_of(tok)
    vision = SmolVLMVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, num_channels=3, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
    )
    text = LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=ids[IM_START], eos_token_id=ids[EOU],
        pad_token_id=ids[PAD],
    )
    return SmolVLMConfig(
        vision_config=vision.to_dict(), text_config=text.to_dict(), scale_factor=SCALE_FACTOR,
        image_token_id=ids[IMAGE], pad_token_id=ids[PAD], tie_word_embeddings=False,
        bos_token_id=ids[IM_START], eos_token_id=ids[EOU],
    )


def make_model(tok: Tokenizer) -> SmolVLMForConditionalGeneration:
    config = make_config(tok)
    model = SmolVLMForConditionalGeneration._from_config(config, attn_implementation="eager")
    ids = ids_of(tok)
    seeded_weights(model)
    with torch.no_grad():
        # As in make_tiny_vlm: single bytes and special tokens shrunk, pieces that are not whole space-prefixed
        # words halved, EOS (<end_of_utterance>) kept large enough that some captions end early.
        w = model.lm_head.weight
        first_merge = len(SPECIALS) + 256
        w[:first_merge] *= BYTE_ROW_SCALE
        for t, i in tok.get_vocab().items():
            if i >= first_merge and t not in EXTRA_SPECIALS and not (t.startswith("Ġ") and len(t) > 3):
                w[i] *= PIECE_ROW_SCALE
        for t in EXTRA_SPECIALS:
            w[ids[t]] *= EOU_SCALE if t == EOU else BYTE_ROW_SCALE
    model.generation_config = GenerationConfig(bos_token_id=ids[IM_START], eos_token_id=ids[EOU],
                                               pad_token_id=ids[PAD])
    model.eval()
    return model


# ---------------------------------------------------------------------------------------- ONNX wrappers

class VisionEncoder(torch.nn.Module):
    """SmolVLMModel.get_image_features written out so that it traces: padding images (all zeros) are dropped,
    the patch mask comes from pixel_attention_mask, and the patch position ids (a per-image torch.bucketize loop
    in SmolVLMVisionEmbeddings) are computed for all images at once; then the model's own encoder, post
    layernorm and connector (pixel shuffle + projection)."""

    def __init__(self, model: SmolVLMForConditionalGeneration):
        super().__init__()
        self.vision = model.model.vision_model
        self.connector = model.model.connector
        self.patch = model.config.vision_config.patch_size

    def forward(self, pixel_values, pixel_attention_mask):
        b, n, c, h, w = pixel_values.shape
        ps = self.patch
        pv = pixel_values.reshape(b * n, c, h, w)
        pm = pixel_attention_mask.reshape(b * n, h, w)
        real = (pv == 0.0).to(torch.int64).sum(dim=(1, 2, 3)) != c * h * w
        first = torch.arange(b * n, device=pv.device) == 0
        real = real | (first & ~real.any())  # no real image: keep the first one
        pv, pm = pv[real], pm[real]
        hp, wp = h // ps, w // ps
        patch_mask = pm.to(torch.int64).reshape(-1, hp, ps, wp, ps).sum(dim=(2, 4)) > 0  # [m, hp, wp]

        emb = self.vision.embeddings
        x = emb.patch_embedding(pv).flatten(2).transpose(1, 2)
        nps = emb.num_patches_per_side
        boundaries = torch.arange(1 / nps, 1.0, 1 / nps, device=pv.device)
        nb_h = patch_mask[:, :, 0].to(torch.int64).sum(1).to(pv.dtype)[:, None]  # [m, 1]
        nb_w = patch_mask[:, 0, :].to(torch.int64).sum(1).to(pv.dtype)[:, None]
        frac_h = torch.arange(hp, device=pv.device, dtype=pv.dtype)[None] / nb_h * (1 - 1e-6)  # [m, hp]
        frac_w = torch.arange(wp, device=pv.device, dtype=pv.dtype)[None] / nb_w * (1 - 1e-6)
        # torch.bucketize(x, boundaries, right=True) == number of boundaries <= x
        bucket_h = (frac_h[..., None] >= boundaries).to(torch.int64).sum(-1)
        bucket_w = (frac_w[..., None] >= boundaries).to(torch.int64).sum(-1)
        pos = bucket_h[:, :, None] * nps + bucket_w[:, None, :]
        # valid patches form the top-left hp' x wp' block, so row-major order matches the reference's scatter
        pos = torch.where(patch_mask, pos, torch.zeros_like(pos)).flatten(1)
        x = x + emb.position_embedding(pos)

        flat = patch_mask.flatten(1)
        bias = torch.where(flat[:, None, None, :], 0.0, torch.finfo(x.dtype).min).to(x.dtype)
        hidden = self.vision.encoder(inputs_embeds=x, attention_mask=bias).last_hidden_state
        hidden = self.vision.post_layernorm(hidden)
        return self.connector(hidden)


def text_shim(model: SmolVLMForConditionalGeneration):
    """What make_tiny_vlm.Decoder reads from a LLaVA model, pointed at SmolVLM's Llama text model."""
    return types.SimpleNamespace(model=types.SimpleNamespace(language_model=model.model.text_model),
                                 lm_head=model.lm_head)


def export_onnx(model: SmolVLMForConditionalGeneration, onnx_dir: Path) -> None:
    onnx_dir.mkdir(parents=True, exist_ok=True)
    tc = model.config.text_config
    n_layers, n_kv, head_dim = tc.num_hidden_layers, tc.num_key_value_heads, tc.hidden_size // tc.num_attention_heads
    common = dict(opset_version=OPSET, dynamo=False, do_constant_folding=True)
    # Batch 2 x 2 images (the last one a padding image) so that no dimension is traced as a constant.
    gen = torch.Generator().manual_seed(1)
    pv = torch.randn(2, 2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
    pv[1, 1] = 0.0
    pm = torch.ones(2, 2, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.bool)
    pm[1, 1] = False
    torch.onnx.export(
        VisionEncoder(model), (pv, pm), str(onnx_dir / "vision_encoder.onnx"),
        input_names=["pixel_values", "pixel_attention_mask"], output_names=["image_features"],
        dynamic_axes={"pixel_values": {0: "batch_size", 1: "num_images"},
                      "pixel_attention_mask": {0: "batch_size", 1: "num_images"},
                      "image_features": {0: "num_real_images"}}, **common,
    )
    export_text_side(model, Decoder(text_shim(model)), onnx_dir, common, generator=gen)


# -------------------------------------------------------------------------------------- fixture writing

IMAGE_PROCESSOR_KWARGS = dict(
    do_convert_rgb=True, do_resize=True, size={"longest_edge": IMAGE_SIZE}, resample=Image.Resampling.LANCZOS,
    do_image_splitting=False, max_image_size={"longest_edge": IMAGE_SIZE}, do_rescale=True,
    rescale_factor=1 / 255, do_normalize=True, image_mean=IMAGE_MEAN, image_std=IMAGE_STD, do_pad=True,
)


def write_fixture(out: Path, model: SmolVLMForConditionalGeneration, tok: Tokenizer) -> None:
    start_fixture(out, model, "SmolVLMForConditionalGeneration", tok, smolvlm_tokenizer_config(tok))
    pre = SmolVLMImageProcessor(**IMAGE_PROCESSOR_KWARGS).to_dict()
    pre.pop("_processor_class", None)
    pre["processor_class"] = "SmolVLMProcessor"
    write_json(out / "preprocessor_config.json", dict(sorted(pre.items())))
    write_json(out / "processor_config.json", {"image_seq_len": IMAGE_SEQ_LEN, "processor_class": "SmolVLMProcessor"})
    export_onnx(model, out / "onnx")


def load_processor(out: Path) -> Idefics3Processor:
    """Python stand-in for SmolVLMProcessor (see the module docstring), built from the files just written."""
    pre = json.loads((out / "preprocessor_config.json").read_text())
    pre = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    tokenizer = PreTrainedTokenizerFast.from_pretrained(out)
    image_seq_len = json.loads((out / "processor_config.json").read_text())["image_seq_len"]
    return Idefics3Processor(image_processor=Idefics3ImageProcessor(**pre), tokenizer=tokenizer,
                             image_seq_len=image_seq_len)


def processor_inputs(processor: Idefics3Processor, out: Path, image: Path):
    inputs = processor(text=PROMPT, images=[Image.open(image)], return_tensors="pt")
    smol = SmolVLMImageProcessor.from_pretrained(out)(Image.open(image), return_tensors="pt")
    assert torch.equal(smol.pixel_values, inputs.pixel_values)
    assert torch.equal(smol.pixel_attention_mask, inputs.pixel_attention_mask)
    return inputs


def reference(out: Path, model: SmolVLMForConditionalGeneration, images: list[Path]) -> dict:
    processor = load_processor(out)
    tokenizer = processor.tokenizer
    eos = model.generation_config.eos_token_id
    assert_chat_prompt(tokenizer, PROMPT)
    ref = reference_header(
        "written by tools/make_tiny_smolvlm.py: greedy generation of the PyTorch model (transformers "
        "SmolVLMForConditionalGeneration, eager attention; prompt expanded and images preprocessed by "
        "Idefics3Processor, identical to SmolVLMProcessor here); generated_ids are the new tokens only "
        "(EOS included when produced); min_margin is the smallest top-1 minus top-2 logit over the steps; "
        "beam: generate(num_beams=3, num_return_sequences=3), best first, with sequences_scores",
        PROMPT, image_seq_len=IMAGE_SEQ_LEN, image_token_id=model.config.image_token_id, eos_token_id=eos,
    )
    with torch.no_grad():
        for path in images:
            inputs = processor_inputs(processor, out, path)
            n_img = int((inputs.input_ids == model.config.image_token_id).sum())
            assert n_img == IMAGE_SEQ_LEN, n_img
            ref["images"].append(reference_entry(model, tokenizer, inputs, path, eos_id=eos))
    return ref


# ------------------------------------------------------------------------------------ ORT-vs-torch check

def ort_check(out: Path, model: SmolVLMForConditionalGeneration, image: Path, sess: dict) -> dict:
    """Max |difference|s between onnxruntime on the exported files and the PyTorch model: image features, the
    first step's logits (prompt + image, empty past) and a second step's with past; plus an ORT greedy run."""
    processor = load_processor(out)
    inputs = processor_inputs(processor, out, image)
    ids = inputs.input_ids
    eos = model.generation_config.eos_token_id
    ort_step, empty = ort_decoder(sess, model.config.text_config)

    feats = sess["vision_encoder"].run(None, {"pixel_values": inputs.pixel_values.numpy(),
                                              "pixel_attention_mask": inputs.pixel_attention_mask.numpy().astype(bool)})[0]
    embeds = sess["embed_tokens"].run(None, {"input_ids": ids.numpy()})[0]
    embeds[ids.numpy() == model.config.image_token_id] = feats.reshape(-1, feats.shape[-1])
    mask = inputs.attention_mask.numpy().astype(np.int64)
    pos = np.arange(ids.shape[1], dtype=np.int64)[None]
    logits1, past = ort_step(embeds, mask, pos, empty)
    with torch.no_grad():
        ref_feats = model.model.get_image_features(inputs.pixel_values, inputs.pixel_attention_mask)
        t1 = model(**inputs, use_cache=True)
        nxt = t1.logits[0, -1].argmax().view(1, 1)
        mask2 = torch.cat([inputs.attention_mask, torch.ones(1, 1, dtype=inputs.attention_mask.dtype)], 1)
        t2 = model(input_ids=nxt, attention_mask=mask2, past_key_values=t1.past_key_values, use_cache=True)
    e2 = sess["embed_tokens"].run(None, {"input_ids": nxt.numpy()})[0]
    logits2, _ = ort_step(e2, mask2.numpy().astype(np.int64), np.array([[ids.shape[1]]], np.int64), past)

    gen = ort_greedy(sess, ort_step, embeds, mask, pos, empty, eos)
    return {
        "image": image.name,
        "image_features_max_abs_diff": float(np.abs(feats - ref_feats.numpy()).max()),
        "step1_logits_max_abs_diff": float(np.abs(logits1 - t1.logits.numpy()).max()),
        "step2_with_past_logits_max_abs_diff": float(np.abs(logits2 - t2.logits.numpy()).max()),
        "logit_abs_max": float(np.abs(t1.logits.numpy()).max()),
        "ort_greedy_generated_ids": gen,
    }


def batched_vision_check(out: Path, model: SmolVLMForConditionalGeneration, images: list[Path], sess: dict) -> float:
    """The vision encoder on a padded batch (2 samples, 2 and 1 images, the missing one all zeros with a false
    mask) against get_image_features: the padding image must be dropped."""
    processor = load_processor(out)
    pv = [processor_inputs(processor, out, p).pixel_values[0, 0] for p in images[:3]]
    pixel_values = torch.stack([torch.stack([pv[0], pv[1]]), torch.stack([pv[2], torch.zeros_like(pv[2])])])
    mask = torch.ones(2, 2, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.int64)
    mask[1, 1] = 0
    feats = sess["vision_encoder"].run(None, {"pixel_values": pixel_values.numpy(),
                                              "pixel_attention_mask": mask.numpy().astype(bool)})[0]
    with torch.no_grad():
        ref = model.model.get_image_features(pixel_values, mask)
    assert feats.shape == tuple(ref.shape) == (3, IMAGE_SEQ_LEN, model.config.text_config.hidden_size), feats.shape
    return float(np.abs(feats - ref.numpy()).max())


def main() -> None:
    sessions = {}

    def check(out: Path, model, image: Path) -> dict:
        if "s" not in sessions:
            sessions["s"] = ort_sessions(out)
        return ort_check(out, model, image, sessions["s"])

    def padded_batch(out: Path, model, ref: dict) -> dict:
        images = [out / item["file"] for item in ref["images"]]
        return {"padded_batch_image_features_max_abs_diff": batched_vision_check(out, model, images, sessions["s"])}

    fixture_main(__doc__, "tiny-smolvlm", build_smolvlm_tokenizer, make_model, write_fixture, reference, check, "generated_ids",
                 extra_checks=padded_batch)


if __name__ == "__main__":
    main()

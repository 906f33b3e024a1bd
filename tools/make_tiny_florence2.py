#!/usr/bin/env python3
"""Builds the tiny Florence-2 test fixture: test/fixtures/tiny-florence2/.

A random-weight transformers-native Florence2ForConditionalGeneration (model_type "florence2",
transformers >= 4.56): a 2-stage DaViT vision tower (32 px images; stage 1: 7x7 conv, stride 4 -> 8x8x16,
stage 2: 3x3 conv, stride 2 -> 4x4x32; one spatial-window + channel-group block per stage, window 4), the
Florence-2 projector (2D learned + 1D cosine position embeddings, a mean-pooled token followed by the 16
spatial tokens, projected to 32 and layer-normed: 17 image tokens) and a BART encoder-decoder language model
(d_model 32, 2 encoder + 2 decoder layers, 4 heads, FFN 64, untied LM head) with a 400-token byte-level BPE
vocabulary trained here (BART special-token ids: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4, <image> 5).
Exported to ONNX by hand (torch.onnx.export, TorchScript exporter, opset 17) in the layout transformers.js (v4)
loads for Florence2ForConditionalGeneration (config.is_encoder_decoder -> four sessions):

    onnx/vision_encoder.onnx        pixel_values [batch, 3, 32, 32] -> image_features [batch, 17, 32]
    onnx/embed_tokens.onnx          input_ids [batch, seq] -> inputs_embeds [batch, seq, 32]
    onnx/encoder_model.onnx         inputs_embeds [batch, enc_seq, 32], attention_mask [batch, enc_seq]
                                    -> last_hidden_state [batch, enc_seq, 32]
    onnx/decoder_model_merged.onnx  inputs_embeds [batch, seq, 32], encoder_attention_mask [batch, enc_seq],
                                    encoder_hidden_states [batch, enc_seq, 32],
                                    past_key_values.{i}.decoder.key/value [batch, 4, past_seq, 8],
                                    past_key_values.{i}.encoder.key/value [batch, 4, enc_past_seq, 8]
                                    -> logits [batch, seq, 400], present.{i}.decoder.key/value,
                                       present.{i}.encoder.key/value
    (no use_cache_branch / If node: transformers.js feeds zero-length pasts on the first step; the decoder
    computes the cross-attention keys/values from encoder_hidden_states and keeps the first enc_seq rows of
    concat(past encoder kv, new kv), i.e. the new ones on the first step and the cached ones afterwards)

transformers.js builds the encoder input as concat(image_features, embed_tokens(<s> prompt </s>)) with an
all-ones image mask; Python's Florence2Processor writes 17 "<image>" tokens in front of "<s>prompt</s>" and
the model scatters the image features into them: the same encoder input. The task token "<CAPTION>" is not a
vocabulary token; both processors replace it by "What does the image describe?" (transformers.js reads the
task tables from preprocessor_config.json, Python has them built in).

generation_config.json follows microsoft/Florence-2 except for beams: decoder_start_token_id 2 (</s>),
forced_bos_token_id 0, forced_eos_token_id 2, no_repeat_ngram_size 3, num_beams 1 (greedy by default, the
only mode transformers.js implements; the hub's Florence-2 uses num_beams 3).

Also written: fixture images (images/*.png, the tiny LLaVA fixture's 32x32 squares and digits) and
reference.json: for each image and the task "<CAPTION>" the Python transformers PyTorch model's (not ONNX)
encoder input ids, greedy decoder sequence (decoder start token and forced <s> included, as generate returns
it; EOS included), decoded text, the smallest top-1/top-2 margin of the processed scores over the unforced
steps, and beam search's 3 best hypotheses (generate(num_beams=3, num_return_sequences=3)) with their
sequences_scores. Nothing is downloaded.

Regenerate (from the repository root; well under a minute on one CPU thread):

    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_florence2.py     # writes test/fixtures/tiny-florence2
    OMP_NUM_THREADS=1 tools/.venv/bin/python tools/make_tiny_florence2.py --check-only   # ORT vs PyTorch again

(tools/.venv from tools/requirements-tiny-vlm.txt: torch, transformers 4.57, onnx, onnxruntime, tokenizers,
Pillow.) The weights come from torch.Generator().manual_seed(SEED); other torch versions may give other
weights, which is fine as long as the ONNX files and reference.json are regenerated together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    CLIPImageProcessor,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
    GenerationConfig,
)
from transformers.generation.logits_process import (
    ForcedBOSTokenLogitsProcessor,
    ForcedEOSTokenLogitsProcessor,
    LogitsProcessorList,
    NoRepeatNGramLogitsProcessor,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.florence2.configuration_florence2 import Florence2VisionConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_vlm import CORPUS as VLM_CORPUS  # noqa: E402
from make_tiny_vlm import (  # noqa: E402
    IMAGE_SIZE, EmbedTokens, fixture_main, seeded_init, make_images, model_config, reference_header, train_byte_bpe, write_json,
)

SEED = 0
VOCAB_SIZE = 400
D_MODEL = 32
LAYERS = 2
HEADS = 4
HEAD_DIM = D_MODEL // HEADS
NUM_IMAGE_TOKENS = 1 + (IMAGE_SIZE // 8) ** 2  # pooled token + 4x4 grid after strides 4 and 2
MAX_NEW_TOKENS = 12
NUM_BEAMS = 3
OPSET = 17
TASK = "<CAPTION>"
# Same shaping as the tiny LLaVA: large init so outputs depend on the image and top logits are far apart;
# LM-head rows of single bytes, of word pieces and of special tokens shrunk so that the model writes whole words.
INIT_STD = 0.3
BYTE_ROW_SCALE = 0.2
PIECE_ROW_SCALE = 0.5
EOS_SCALE = 0.8

BOS, PAD, EOS, UNK, MASK, IMAGE = "<s>", "<pad>", "</s>", "<unk>", "<mask>", "<image>"
SPECIALS = [BOS, PAD, EOS, UNK, MASK, IMAGE]  # ids 0..5 (BART order, then the image token)
BOS_ID, PAD_ID, EOS_ID, IMAGE_ID = 0, 1, 2, 5

def florence_task_tables() -> dict:
    """Florence2Processor's built-in task tables (transformers.js reads them from preprocessor_config.json)."""
    class _Tok:  # the minimum Florence2Processor.__init__ touches, to read its built-in tables
        image_token, image_token_id, init_kwargs = IMAGE, IMAGE_ID, {}

    class _Img:
        image_seq_length = NUM_IMAGE_TOKENS

    obj = Florence2Processor.__new__(Florence2Processor)
    try:
        Florence2Processor.__init__(obj, image_processor=_Img(), tokenizer=_Tok())
    except Exception:  # ProcessorMixin.__init__ rejects the stand-ins after the tables are set
        pass
    return {
        "tasks_answer_post_processing_type": dict(obj.tasks_answer_post_processing_type),
        "task_prompts_without_inputs": dict(obj.task_prompts_without_inputs),
        "task_prompts_with_input": dict(obj.task_prompts_with_input),
    }


TASK_TABLES = florence_task_tables()
PROMPT = TASK_TABLES["task_prompts_without_inputs"][TASK]  # "What does the image describe?"

CORPUS = [s for s in VLM_CORPUS if "<image>" not in s] + [
    "A red square on a black background.",
    "A green digit seven on a dark purple background.",
    "The image shows a small blue square in the corner.",
    "A white digit four and a yellow digit one.",
    *TASK_TABLES["task_prompts_without_inputs"].values(),
]


# --------------------------------------------------------------------------------------------- tokenizer

def build_tokenizer() -> Tokenizer:
    """BART-style byte-level BPE (no prefix space, RobertaProcessing "<s> $A </s>") trained on CORPUS."""
    tok = train_byte_bpe(CORPUS, SPECIALS, VOCAB_SIZE)
    tok.post_processor = processors.RobertaProcessing(
        sep=(EOS, EOS_ID), cls=(BOS, BOS_ID), trim_offsets=True, add_prefix_space=False,
    )
    return tok


def tokenizer_config() -> dict:
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": t == MASK, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i, t in enumerate(SPECIALS)
        },
        "bos_token": BOS,
        "cls_token": BOS,
        "eos_token": EOS,
        "sep_token": EOS,
        "unk_token": UNK,
        "pad_token": PAD,
        "mask_token": MASK,
        "extra_special_tokens": {"image_token": IMAGE},
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "trim_offsets": True,
        "model_max_length": 64,
        "model_input_names": ["input_ids", "attention_mask"],
        "processor_class": "Florence2Processor",
        "tokenizer_class": "BartTokenizer",
    }


# ------------------------------------------------------------------------------------------------- model

def make_config(vocab_size: int) -> Florence2Config:
    vision = Florence2VisionConfig(
        in_channels=3, depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
        patch_prenorm=[False, True], embed_dim=[16, 32], num_heads=[1, 2], num_groups=[1, 2], window_size=4,
        drop_path_rate=0.0, mlp_ratio=2.0, projection_dim=D_MODEL, max_temporal_embeddings=4,
        max_position_embeddings=8,
    )
    text = BartConfig(
        vocab_size=vocab_size, d_model=D_MODEL, encoder_layers=LAYERS, decoder_layers=LAYERS,
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=2 * D_MODEL,
        decoder_ffn_dim=2 * D_MODEL, max_position_embeddings=64, activation_function="gelu",
        scale_embedding=False, tie_word_embeddings=False, dropout=0.0, attention_dropout=0.0,
        bos_token_id=BOS_ID, pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=EOS_ID,
        forced_bos_token_id=BOS_ID, forced_eos_token_id=EOS_ID, is_encoder_decoder=True,
    )
    return Florence2Config(
        text_config=text.to_dict(), vision_config=vision.to_dict(), image_token_id=IMAGE_ID,
        is_encoder_decoder=True, bos_token_id=BOS_ID, pad_token_id=PAD_ID, eos_token_id=EOS_ID,
        decoder_start_token_id=EOS_ID,
    )


def generation_config() -> GenerationConfig:
    return GenerationConfig(
        bos_token_id=BOS_ID, pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=EOS_ID,
        forced_bos_token_id=BOS_ID, forced_eos_token_id=EOS_ID, no_repeat_ngram_size=3, num_beams=1,
        early_stopping=False,
    )


def make_model(tok: Tokenizer) -> Florence2ForConditionalGeneration:
    config = make_config(tok.get_vocab_size())
    model = Florence2ForConditionalGeneration._from_config(config, attn_implementation="eager")
    lm = model.model.language_model
    assert lm.shared.weight is lm.encoder.embed_tokens.weight is lm.decoder.embed_tokens.weight
    assert model.lm_head.weight is not lm.shared.weight
    seeded_init(model, tok, len(SPECIALS), EOS_ID)
    model.generation_config = generation_config()
    model.eval()
    return model


# ---------------------------------------------------------------------------------------- ONNX wrappers

class VisionEncoder(torch.nn.Module):
    def __init__(self, model: Florence2ForConditionalGeneration):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.model.get_image_features(pixel_values)


class Encoder(torch.nn.Module):
    def __init__(self, model: Florence2ForConditionalGeneration):
        super().__init__()
        self.encoder = model.model.language_model.encoder

    def forward(self, inputs_embeds, attention_mask):
        return self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask, return_dict=True).last_hidden_state


class Decoder(torch.nn.Module):
    """The BART decoder + LM head written out with the model's own modules, taking the caches as plain tensors
    (past_key_values.{i}.decoder|encoder.key|value, [batch, heads, len, head_dim]) and returning the new ones
    (present.*). Positions are past_len + arange(seq) (BART's learned positions, offset 2)."""

    def __init__(self, model: Florence2ForConditionalGeneration):
        super().__init__()
        self.dec = model.model.language_model.decoder
        self.lm_head = model.lm_head

    @staticmethod
    def _attend(attn, q_in, k, v, bias):
        shape = (*q_in.shape[:-1], -1, attn.head_dim)
        q = attn.q_proj(q_in).view(shape).transpose(1, 2)
        probs = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * attn.scaling + bias, dim=-1)
        o = torch.matmul(probs, v).transpose(1, 2).reshape(*q_in.shape[:-1], -1)
        return attn.out_proj(o)

    @staticmethod
    def _kv(attn, x):
        shape = (*x.shape[:-1], -1, attn.head_dim)
        return attn.k_proj(x).view(shape).transpose(1, 2), attn.v_proj(x).view(shape).transpose(1, 2)

    def forward(self, inputs_embeds, encoder_attention_mask, encoder_hidden_states, *past):
        dec = self.dec
        q_len, past_len = inputs_embeds.shape[1], past[0].shape[2]
        enc_len = encoder_hidden_states.shape[1]
        pos = torch.arange(q_len, device=inputs_embeds.device) + past_len
        h = dec.layernorm_embedding(inputs_embeds + dec.embed_positions.weight[pos + dec.embed_positions.offset])
        key_pos = torch.arange(past_len + q_len, device=h.device)[None, :]
        self_bias = torch.where(key_pos <= pos[:, None], 0.0, torch.finfo(h.dtype).min)[None, None]
        cross_bias = torch.where(encoder_attention_mask[:, None, None, :].bool(), 0.0, torch.finfo(h.dtype).min)
        presents = []
        for i, layer in enumerate(dec.layers):
            pk, pv, pek, pev = past[4 * i: 4 * i + 4]
            k, v = self._kv(layer.self_attn, h)
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            h = layer.self_attn_layer_norm(h + self._attend(layer.self_attn, h, k, v, self_bias))
            ek, ev = self._kv(layer.encoder_attn, encoder_hidden_states)
            ek = torch.cat([pek, ek], dim=2)[:, :, :enc_len]  # the cached rows once there are any
            ev = torch.cat([pev, ev], dim=2)[:, :, :enc_len]
            h = layer.encoder_attn_layer_norm(h + self._attend(layer.encoder_attn, h, ek, ev, cross_bias))
            h = layer.final_layer_norm(h + layer.fc2(layer.activation_fn(layer.fc1(h))))
            presents += [k, v, ek, ev]
        return (self.lm_head(h), *presents)


def cache_names(prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{part}.{kv}" for i in range(LAYERS) for part in ("decoder", "encoder") for kv in ("key", "value")]


def export_onnx(model: Florence2ForConditionalGeneration, onnx_dir: Path) -> None:
    onnx_dir.mkdir(parents=True, exist_ok=True)
    common = dict(opset_version=OPSET, dynamo=False, do_constant_folding=True)
    bs = {0: "batch_size"}
    torch.onnx.export(
        VisionEncoder(model), (torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE),), str(onnx_dir / "vision_encoder.onnx"),
        input_names=["pixel_values"], output_names=["image_features"],
        dynamic_axes={"pixel_values": bs, "image_features": bs}, **common,
    )
    torch.onnx.export(
        EmbedTokens(model), (torch.tensor([[0, 7, 8, 2], [0, 9, 10, 2]]),), str(onnx_dir / "embed_tokens.onnx"),
        input_names=["input_ids"], output_names=["inputs_embeds"],
        dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                      "inputs_embeds": {0: "batch_size", 1: "sequence_length"}}, **common,
    )
    enc_len = 23
    torch.onnx.export(
        Encoder(model), (torch.randn(2, enc_len, D_MODEL), torch.ones(2, enc_len, dtype=torch.int64)),
        str(onnx_dir / "encoder_model.onnx"), input_names=["inputs_embeds", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={"inputs_embeds": {0: "batch_size", 1: "encoder_sequence_length"},
                      "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                      "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}}, **common,
    )
    batch, q_len, past_len = 2, 3, 4
    past = []
    for _ in range(LAYERS):
        past += [torch.randn(batch, HEADS, past_len, HEAD_DIM) for _ in range(2)]
        past += [torch.randn(batch, HEADS, enc_len, HEAD_DIM) for _ in range(2)]
    args = (torch.randn(batch, q_len, D_MODEL), torch.ones(batch, enc_len, dtype=torch.int64),
            torch.randn(batch, enc_len, D_MODEL), *past)
    past_names, present_names = cache_names("past_key_values"), cache_names("present")
    dyn = {
        "inputs_embeds": {0: "batch_size", 1: "decoder_sequence_length"},
        "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
        "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
        "logits": {0: "batch_size", 1: "decoder_sequence_length"},
    }
    for n in past_names:
        dyn[n] = {0: "batch_size", 2: "past_decoder_sequence_length" if ".decoder." in n else "encoder_sequence_length_out"}
    for n in present_names:
        dyn[n] = {0: "batch_size", 2: "past_decoder_sequence_length + 1" if ".decoder." in n else "encoder_sequence_length_out"}
    torch.onnx.export(
        Decoder(model), args, str(onnx_dir / "decoder_model_merged.onnx"),
        input_names=["inputs_embeds", "encoder_attention_mask", "encoder_hidden_states", *past_names],
        output_names=["logits", *present_names], dynamic_axes=dyn, **common,
    )


# -------------------------------------------------------------------------------------- fixture writing

def write_fixture(out: Path, model: Florence2ForConditionalGeneration, tok: Tokenizer) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = model_config(model, "Florence2ForConditionalGeneration")
    assert config["is_encoder_decoder"] is True and config["model_type"] == "florence2"
    write_json(out / "config.json", config)
    model.generation_config.save_pretrained(out)
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", tokenizer_config())
    image_processor = CLIPImageProcessor(
        do_resize=True, size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, resample=3, do_center_crop=False,
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_convert_rgb=True,
    )
    pre = image_processor.to_dict()
    pre.update({"image_seq_length": NUM_IMAGE_TOKENS, "processor_class": "Florence2Processor", **TASK_TABLES})
    write_json(out / "preprocessor_config.json", pre)
    write_json(out / "processor_config.json", {"num_additional_image_tokens": 0, "processor_class": "Florence2Processor"})
    export_onnx(model, out / "onnx")


def trim_at_eos(ids: list[int]) -> list[int]:
    """generate pads finished beams with pad_token_id; a hypothesis ends at its first EOS after the start token."""
    return ids[: ids.index(EOS_ID, 1) + 1] if EOS_ID in ids[1:] else ids


def margins(scores) -> list[float]:
    """top-1 minus top-2 of the processed scores at each step where more than one token is allowed."""
    res = []
    for s in scores:
        s = s[0]
        if int(torch.isfinite(s).sum()) > 1:
            top = s.topk(2).values
            res.append(float(top[0] - top[1]))
    return res


def reference(out: Path, model: Florence2ForConditionalGeneration, images: list[Path]) -> dict:
    processor = Florence2Processor.from_pretrained(out)  # loads the files just written
    tokenizer = processor.tokenizer
    assert processor._construct_prompts([TASK]) == [PROMPT]
    ref = reference_header(
        "written by tools/make_tiny_florence2.py: generation of the PyTorch model (transformers "
        "Florence2ForConditionalGeneration, eager attention) with generation_config.json (decoder start 2, "
        "forced BOS 0, forced EOS 2 at max length, no_repeat_ngram_size 3); sequence is the decoder "
        "sequence as generate returns it (start token, forced <s>, new tokens, EOS when produced); "
        "input_ids is Python's encoder input (image tokens + <s> prompt </s>), prompt_ids its text part "
        "(what transformers.js' tokenizer gives); min_margin is the smallest top-1 minus top-2 processed "
        "score over the unforced greedy steps; beam: generate(num_beams=3, num_return_sequences=3), best "
        "first, with sequences_scores, trimmed at EOS",
        PROMPT, task=TASK, num_image_tokens=NUM_IMAGE_TOKENS, decoder_start_token_id=EOS_ID, eos_token_id=EOS_ID,
    )
    with torch.no_grad():
        for path in images:
            inputs = processor(images=Image.open(path), text=TASK, return_tensors="pt")
            ids = inputs.input_ids[0].tolist()
            assert ids[:NUM_IMAGE_TOKENS] == [IMAGE_ID] * NUM_IMAGE_TOKENS, ids
            res = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
                                 output_scores=True, return_dict_in_generate=True)
            seq = res.sequences[0].tolist()
            beam = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=NUM_BEAMS,
                                  num_return_sequences=NUM_BEAMS, output_scores=True, return_dict_in_generate=True)
            beams = [trim_at_eos(row.tolist()) for row in beam.sequences]
            pv = inputs.pixel_values.double()
            ref["images"].append({
                "file": f"images/{path.name}",
                "pixel_values_sum": round(float(pv.sum()), 4),
                "pixel_values_sq_sum": round(float((pv * pv).sum()), 4),
                "input_ids": ids,
                "prompt_ids": ids[NUM_IMAGE_TOKENS:],
                "sequence": seq,
                "text": tokenizer.decode(seq, skip_special_tokens=True),
                "min_margin": round(min(margins(res.scores)), 4),
                "beam": [{"ids": b, "text": tokenizer.decode(b, skip_special_tokens=True), "score": round(float(sc), 5)}
                         for b, sc in zip(beams, beam.sequences_scores)],
            })
    return ref


# ------------------------------------------------------------------------------------ ORT-vs-torch check

def ort_check(out: Path, model: Florence2ForConditionalGeneration, image: Path) -> dict:
    """Max |difference| between onnxruntime on the exported files and the PyTorch model: image features, encoder
    output, logits of the first decoder step (empty caches) and of a second step (with caches); plus an ORT
    greedy run with transformers.js' loop (encoder cache outputs ignored after the first step) and the same
    logits processors."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = {n: ort.InferenceSession(str(out / "onnx" / f"{n}.onnx"), so, providers=["CPUExecutionProvider"])
            for n in ("vision_encoder", "embed_tokens", "encoder_model", "decoder_model_merged")}
    processor = Florence2Processor.from_pretrained(out)
    inputs = processor(images=Image.open(image), text=TASK, return_tensors="pt")
    prompt_ids = inputs.input_ids[:, NUM_IMAGE_TOKENS:].numpy()
    past_names = cache_names("past_key_values")

    feats = sess["vision_encoder"].run(None, {"pixel_values": inputs.pixel_values.numpy()})[0]
    text = sess["embed_tokens"].run(None, {"input_ids": prompt_ids})[0]
    embeds = np.concatenate([feats, text], axis=1)  # transformers.js' Florence2 merge
    mask = np.ones(embeds.shape[:2], np.int64)
    enc = sess["encoder_model"].run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]

    def dec_step(ids, cache):
        e = sess["embed_tokens"].run(None, {"input_ids": np.array([ids], np.int64)})[0]
        outs = sess["decoder_model_merged"].run(None, {"inputs_embeds": e, "encoder_attention_mask": mask,
                                                       "encoder_hidden_states": enc, **cache})
        new = dict(zip(past_names, outs[1:]))
        if any(v.shape[2] for k, v in cache.items() if ".encoder." in k):
            new.update({k: v for k, v in cache.items() if ".encoder." in k})
        return outs[0], new

    empty = {n: np.zeros((1, HEADS, 0, HEAD_DIM), np.float32) for n in past_names}
    logits1, cache = dec_step([EOS_ID], empty)
    logits2, _ = dec_step([BOS_ID], cache)
    with torch.no_grad():
        ref_feats = model.model.get_image_features(inputs.pixel_values)
        t_enc = model.model.language_model.encoder(inputs_embeds=torch.from_numpy(embeds),
                                                   attention_mask=torch.from_numpy(mask)).last_hidden_state
        t1 = model(**inputs, decoder_input_ids=torch.tensor([[EOS_ID]]), use_cache=True)
        t2 = model(encoder_outputs=BaseModelOutput(last_hidden_state=t1.encoder_last_hidden_state), attention_mask=inputs.attention_mask,
                   decoder_input_ids=torch.tensor([[BOS_ID]]), past_key_values=t1.past_key_values, use_cache=True)

    # ORT greedy run with the generation config's logits processors
    max_length = 1 + MAX_NEW_TOKENS
    procs = LogitsProcessorList([NoRepeatNGramLogitsProcessor(3), ForcedBOSTokenLogitsProcessor(BOS_ID),
                                 ForcedEOSTokenLogitsProcessor(max_length, EOS_ID)])
    seq, cache, step_ids = [EOS_ID], empty, [EOS_ID]
    while len(seq) < max_length:
        lg, cache = dec_step(step_ids, cache)
        scores = procs(torch.tensor([seq]), torch.from_numpy(lg[:, -1].copy()))
        tok = int(scores[0].argmax())
        seq.append(tok)
        step_ids = [tok]
        if tok == EOS_ID:
            break
    return {
        "image": image.name,
        "image_features_max_abs_diff": float(np.abs(feats - ref_feats.numpy()).max()),
        "encoder_max_abs_diff": float(np.abs(enc - t_enc.numpy()).max()),
        "encoder_vs_python_merge_max_abs_diff": float(np.abs(enc - t1.encoder_last_hidden_state.numpy()).max()),
        "step1_logits_max_abs_diff": float(np.abs(logits1 - t1.logits.numpy()).max()),
        "step2_with_past_logits_max_abs_diff": float(np.abs(logits2 - t2.logits.numpy()).max()),
        "logit_abs_max": float(np.abs(t1.logits.numpy()).max()),
        "ort_greedy_sequence": seq,
    }


def describe(item: dict, key: str) -> str:
    gaps = [round(a["score"] - b["score"], 5) for a, b in zip(item["beam"], item["beam"][1:])]
    return f"{item['file']}: {item[key]} {item['text']!r} margin {item['min_margin']} beam gaps {gaps}"


def main() -> None:
    fixture_main(__doc__, "tiny-florence2", build_tokenizer, make_model, write_fixture, reference, ort_check, "sequence", describe=describe)


if __name__ == "__main__":
    main()

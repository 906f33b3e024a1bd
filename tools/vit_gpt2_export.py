"""Saves a VisionEncoderDecoder captioner with its tokenizer and a ViT image processor, then exports it
to ONNX with HF Optimum (encoder + merged decoder with past), the layout transformers.js loads. Shared by
the tiny test captioner (make_tiny_captioner.py) and the demo captioner (train_demo_captioner.py)."""
from __future__ import annotations

from pathlib import Path


def save_and_export(model, tokenizer, image_size: int, work: Path):
    """Returns the transformers folder and the ONNX folder (both under `work`) and the image processor."""
    from optimum.exporters.onnx import main_export
    from transformers import ViTImageProcessor

    processor = ViTImageProcessor(
        do_resize=True, size={"height": image_size, "width": image_size}, resample=2,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    hf_dir = work / "hf"
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    processor.save_pretrained(hf_dir)
    onnx_dir = work / "onnx"
    main_export(str(hf_dir), output=onnx_dir, task="image-to-text-with-past", do_validation=True)
    return hf_dir, onnx_dir, processor

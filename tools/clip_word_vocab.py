"""A CLIP BPE vocabulary (vocab.json + merges.txt) for a closed word list, shared by the tiny SD fixture
(make_tiny_sd.py) and the demo generator (train_demo_generator.py): all 256 byte symbols, plus the merges
that make each listed word a single token, so prompts of those words tokenize exactly like CLIP's."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path


def write_clip_word_vocab(folder: Path, words: Iterable[str]) -> None:
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    byte_chars = list(bytes_to_unicode().values())
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars]
    merges: list[tuple[str, str]] = []
    seen = set(vocab_list)
    for word in words:
        tokens = list(word[:-1]) + [word[-1] + "</w>"]
        while len(tokens) > 1:
            pair = (tokens[0], tokens[1])
            merged = pair[0] + pair[1]
            if pair not in merges:
                merges.append(pair)
            if merged not in seen:
                seen.add(merged)
                vocab_list.append(merged)
            tokens = [merged] + tokens[2:]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")

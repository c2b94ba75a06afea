"""Weighted prompts of Ma et al. 2025 (Table 1), e.g.
``"sdss, {completely round:1.2} galaxy, {dust lane:1.3}"``.

A ``{phrase:weight}`` group multiplies the text-encoder embeddings of the phrase's tokens by ``weight``;
afterwards the overall mean of the embeddings is restored to the unweighted one (the usual "emphasis"
recipe: the phrase gains weight in cross-attention without moving the whole conditioning). The result goes to the pipeline as ``prompt_embeds``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

_GROUP = re.compile(r"\{([^{}:]*):([^{}]*)\}")


class PromptSyntaxError(ValueError):
    """A weighted prompt is malformed or names a phrase the tokenizer cannot locate."""


@dataclass(frozen=True)
class WeightedPrompt:
    text: str  # the prompt with the braces and weights removed (what the tokenizer sees)
    spans: tuple[tuple[int, int, float], ...]  # (start, end, weight) character spans in ``text``

    @property
    def weights(self) -> dict[str, float]:
        return {self.text[a:b]: w for a, b, w in self.spans}


def parse_weighted_prompt(prompt: str) -> WeightedPrompt:
    """Split ``prompt`` into plain text and weighted spans; malformed groups raise PromptSyntaxError."""
    if not isinstance(prompt, str):
        raise PromptSyntaxError(f"prompt must be a string, got {type(prompt).__name__}")
    text, spans, pos = [], [], 0
    length = 0
    for m in _GROUP.finditer(prompt):
        plain = prompt[pos:m.start()]
        _check_plain(plain, prompt, pos)
        text.append(plain)
        length += len(plain)
        phrase, weight_str = m.group(1), m.group(2).strip()
        if not phrase.strip():
            raise PromptSyntaxError(f"empty phrase in {m.group(0)!r} at position {m.start()} of {prompt!r}")
        try:
            weight = float(weight_str)
        except ValueError:
            raise PromptSyntaxError(f"weight {weight_str!r} in {m.group(0)!r} is not a number "
                                    f"(write {{phrase:1.3}})") from None
        if not (0 < weight < 100) or weight != weight:
            raise PromptSyntaxError(f"weight {weight} in {m.group(0)!r} must be a positive number")
        lead = len(phrase) - len(phrase.lstrip())
        start = length + lead
        spans.append((start, start + len(phrase.strip()), weight))
        text.append(phrase)
        length += len(phrase)
        pos = m.end()
    tail = prompt[pos:]
    _check_plain(tail, prompt, pos)
    text.append(tail)
    return WeightedPrompt("".join(text), tuple(spans))


def _check_plain(chunk: str, prompt: str, offset: int) -> None:
    for ch in "{}":
        i = chunk.find(ch)
        if i >= 0:
            raise PromptSyntaxError(
                f"unbalanced or malformed '{ch}' at position {offset + i} of {prompt!r}: "
                "weighted phrases are written {phrase:weight}, e.g. {dust lane:1.3}")


def without_phrase(prompt: str, phrase: str) -> str:
    """``prompt`` with its comma-separated item ``phrase`` (weighted or not) removed: the control prompt of a
    paired-seed test of what one phrase does to the samples. A phrase that is not an item → PromptSyntaxError."""
    parse_weighted_prompt(prompt)
    items = [part.strip() for part in prompt.split(",")]
    keep = [part for part in items if parse_weighted_prompt(part).text.strip() != phrase.strip()]
    if len(keep) == len(items):
        raise PromptSyntaxError(f"{phrase!r} is not one of the comma-separated items of {prompt!r}")
    if not keep:
        raise PromptSyntaxError(f"removing {phrase!r} leaves nothing of {prompt!r}")
    return ", ".join(keep)


def phrase_pairs(table1: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The prompt pairs of notebook 08's paired-seed test (B-prompt-effect): one phrase on and off (dust lane
    for Table 1's L and K, 4 vs 2 arms, ring vs spiral), and edge-on vs completely round for scale.
    Control prompts are built from tags, in the words the model was trained on."""
    from raregal.paper_b.labels import prompt_from_tags

    letter = dict(zip(table1["letter"], table1["ours"]))
    return {"L: dust lane": (letter["L"], without_phrase(letter["L"], "dust lane")),
            "K: dust lane": (letter["K"], without_phrase(letter["K"], "dust lane")),
            "F: 4 vs 2 arms": (letter["F"], prompt_from_tags(["spiral", "arms_2"])),
            "E: ring vs spiral": (letter["E"], prompt_from_tags(["spiral"])),
            "coarse: edge-on vs round": (prompt_from_tags(["edge_on"]), prompt_from_tags(["completely_round"]))}


def token_weights(tokenizer, wp: WeightedPrompt) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids (1, L) padded to the tokenizer's length and the per-token weight (L,), 1 by default.

    Every weighted phrase must cover at least one token inside the window (not truncated away)."""
    enc = tokenizer(wp.text, padding="max_length", max_length=tokenizer.model_max_length,
                    truncation=True, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc["offset_mapping"][0]
    weights = torch.ones(offsets.shape[0])
    special = set(tokenizer.all_special_ids)
    ids = enc["input_ids"][0]
    for a, b, w in wp.spans:
        hit = [i for i, (s, e) in enumerate(offsets.tolist())
               if e > s and s < b and e > a and int(ids[i]) not in special]
        if not hit:
            raise PromptSyntaxError(
                f"phrase {wp.text[a:b]!r} not found among the prompt's tokens (it is cut off by the "
                f"{tokenizer.model_max_length}-token limit or has no tokens): shorten the prompt")
        weights[hit] *= w
    return enc["input_ids"], weights


@torch.no_grad()
def weighted_embeddings(prompt: str, tokenizer, text_encoder) -> torch.Tensor:
    """``prompt_embeds`` (1, L, d): encoder output with weighted tokens scaled, overall mean restored."""
    wp = parse_weighted_prompt(prompt)
    ids, w = token_weights(tokenizer, wp)
    device = next(text_encoder.parameters()).device
    emb = text_encoder(ids.to(device))[0]
    return scale_embeddings(emb, w.to(emb.device, emb.dtype))


def scale_embeddings(emb: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Multiply token ``i`` of ``emb`` (B, L, d) by ``weights[i]``, then shift every value by one constant
    so the overall mean of each prompt's embeddings is what it was.

    A shift rather than a rescale: a CLIP encoder ends in a layer norm, so the mean is often near zero
    and a rescale by old/new mean could flip or blow up every token."""
    if weights.ndim != 1 or weights.shape[0] != emb.shape[1]:
        raise ValueError(f"need one weight per token: weights {tuple(weights.shape)}, embeddings "
                         f"{tuple(emb.shape)}")
    scaled = emb * weights.to(emb.dtype)[None, :, None]
    shift = scaled.float().mean(dim=(1, 2), keepdim=True) - emb.float().mean(dim=(1, 2), keepdim=True)
    return (scaled - shift.to(emb.dtype)).to(emb.dtype)


# Ma et al. 2025 Table 1: the prompts of Fig. 3 (letter → prompt, verbatim).
TABLE1 = pd.DataFrame([
    ("A", "cigar-shaped galaxy"),
    ("B", "completely round galaxy"),
    ("C", "edge-on galaxy"),
    ("D", "in-between round galaxy"),
    ("E", "ring galaxy"),
    ("F", "spiral galaxy with 4 spiral arms"),
    ("G", "spiral galaxy with loosely wound 2 spiral arms"),
    ("H", "spiral galaxy with tightly wound spiral arms"),
    ("I", "spiral galaxy with just noticeable central bulge prominence"),
    ("J", "spiral galaxy with obvious central bulge prominence"),
    ("K", "in-between round galaxy, {dust lane:1.3}"),
    ("L", "edge-on galaxy, {dust lane:1.3}, with rounded edge-on bulge"),
    ("M", "bar-shaped structure in the center of galaxy"),
    ("N", "edge-on galaxy, with rounded edge-on bulge"),
    ("O", "in-between round galaxy, merger"),
    ("P", "spiral galaxy, just noticeable bulge prominence, merger"),
], columns=["letter", "prompt"])


def table1_prompts(tag_table: pd.DataFrame | None = None, emphasis: float = 1.3) -> pd.DataFrame:
    """Table 1 mapped onto our tag vocabulary: letter, the paper's prompt, the tags it names, our prompt
    (gz2_labels phrases; the paper's ``{dust lane:1.3}`` kept as a weight) and, given ``tags.parquet``,
    how many galaxies carry all those tags (``n_train`` in the diffusion training set, ``n_all``)."""
    from raregal.paper_b.labels import prompt_from_tags, tags_from_prompt

    rows = []
    for letter, prompt in TABLE1.itertuples(index=False):
        tags = tags_from_prompt(prompt)
        weights = {t: w for t in tags
                   for phrase, w in parse_weighted_prompt(prompt).weights.items()
                   if tags_from_prompt(phrase) == [t]}
        row = {"letter": letter, "paper": prompt, "tags": "|".join(tags),
               "ours": prompt_from_tags(tags, weights=weights or None)}
        if tag_table is not None:
            has = _has_tags(tag_table, tags)
            row["n_train"] = int((has & tag_table["in_diffusion_train"].astype(bool)).sum())
            row["n_all"] = int(has.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _has_tags(tag_table: pd.DataFrame, tags) -> pd.Series:
    sets = tag_table["tags"].fillna("").str.split("|")
    return sets.apply(lambda s: set(tags) <= set(s))


def real_examples(tag_table: pd.DataFrame, table: pd.DataFrame, n: int = 1, seed: int = 0) -> dict:
    """Per letter, ``n`` ids of real (mock) galaxies carrying all the prompt's tags (training set
    first; early-type + dust lane galaxies are excluded from training, so they come from the rest)."""
    rng = np.random.default_rng(seed)
    out = {}
    for letter, tags in zip(table["letter"], table["tags"]):
        has = _has_tags(tag_table, tags.split("|"))
        pool = tag_table[has & tag_table["in_diffusion_train"].astype(bool)]
        if len(pool) < n:
            pool = tag_table[has]
        ids = pool["dr7objid"].to_numpy()
        out[letter] = list(rng.choice(ids, size=min(n, len(ids)), replace=False)) if len(ids) else []
    return out

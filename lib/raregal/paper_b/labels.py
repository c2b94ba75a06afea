"""GZ2 votes → well-sampled tags → text prompts (Ma et al. 2025 §3.1).

The GZ2 decision tree, the Willett et al. (2013) Table 3 thresholds, the Hart et al. (2016) columns and
the file readers are shared with the mock and the real fetch, so they live in
:mod:`raregal.core.gz2_schema`; this module turns a checked vote catalog into paper B's labels.
What encodes knowledge is a data table, imported by the diffusion, SimCLR/metrics and classifier code
and by the tests:

``TAGS``        the tag vocabulary: ``name, task, answer, phrase, pattern, primary``. ``phrase`` is the
                text used in prompts (Ma et al. 2025 Table 1 style), ``pattern`` the regular expression
                that recognises it (also in the paper's wordings, e.g. "spiral galaxy with loosely
                wound 2 spiral arms" → spiral, winding_loose, arms_2), ``primary`` marks the categories
                shown in the Fig. 2 upset plot (details such as bulge prominence and arm number excluded).
``NON_INFORMATIVE`` answers that never become tags ("star or artifact", "something odd", "other",
                "can't tell"), dropped as in Ma et al. (2025) §3.1; answers that only deny a feature
                (not edge-on, no bar, no spiral, nothing odd) are not tags either: the prompt simply
                omits the feature.
``EARLY_TYPE_TAGS`` tags that make a galaxy early-type; with ``dust_lane`` they mark a D-ETG-like
                label that is kept out of the diffusion training set (Ma et al. 2025 §3.2).

A galaxy gets the tag of answer *a* of task *t* when (i) the vote-fraction chain of
``gz2_schema.THRESHOLDS`` holds, (ii) task *t* has ≥ ``gz2_schema.MIN_VOTES`` votes (sum of its answer
counts; Hart16 has no per-task total), and (iii) the debiased fraction of *a* is ≥
``gz2_schema.MIN_DEBIASED``.

Functions: :func:`well_sampled_tags`, :func:`balance_by_label` (cap per tag combination),
:func:`build_tag_table` (→ ``tags.parquet``), :func:`prompt_from_tags` / :func:`tags_from_prompt`
(round trip, weights like ``{dust lane:1.3}`` accepted), :func:`truth_labels` (mock truth for the
classifier tasks: spiral, edge-on disk, bar, bulge, D-ETG), :func:`tag_counts` (``B-table-tags``),
:func:`data_summary` (``B-data-summary``), :func:`upset_counts` + :func:`draw_upset` (Fig. 2) and
:func:`gallery_ids`.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from raregal.core.gz2_schema import (
    CHAIN_FRACTION,
    MIN_DEBIASED,
    MIN_VOTES,
    CatalogError,
    column,
    stem_of,
    task_well_answered,
)
from raregal.paper_b.values import PAPER_COUNTS, PAPER_LABEL_COUNTS

# --- tag vocabulary (name, task, answer, prompt phrase, regex, primary category for Fig. 2) ----------
_TAG_ROWS = [
    ("smooth", "t01", "a01", "smooth", r"\bsmooth\b", False),
    ("features_or_disk", "t01", "a02", "features or disk", r"features or disk", False),
    ("edge_on", "t02", "a04", "edge-on galaxy", r"edge-on (?:disk |disc )?galaxy", True),
    ("bar", "t03", "a06", "bar-shaped structure in the center of galaxy",
     r"bar-shaped structure|\bbarred\b", True),
    ("spiral", "t04", "a08", "spiral galaxy", r"spiral galaxy", True),
    ("no_bulge", "t05", "a10", "no central bulge", r"\bno central bulge", False),
    ("bulge_just_noticeable", "t05", "a11", "just noticeable central bulge prominence",
     r"just noticeable (?:central )?bulge", False),
    ("bulge_obvious", "t05", "a12", "obvious central bulge prominence",
     r"obvious (?:central )?bulge", False),
    ("bulge_dominant", "t05", "a13", "dominant central bulge prominence",
     r"dominant (?:central )?bulge", False),
    ("completely_round", "t07", "a16", "completely round galaxy", r"completely round", True),
    ("in_between_round", "t07", "a17", "in-between round galaxy", r"in-between round", True),
    ("cigar_shaped", "t07", "a18", "cigar-shaped galaxy", r"cigar[- ]shaped", True),
    ("ring", "t08", "a19", "ring galaxy", r"\bring\b", True),
    ("lens_or_arc", "t08", "a20", "lens or arc", r"\blens or arc\b|\bgravitational arc\b", True),
    ("disturbed", "t08", "a21", "disturbed galaxy", r"\bdisturbed\b", True),
    ("irregular", "t08", "a22", "irregular galaxy", r"\birregular\b", True),
    ("merger", "t08", "a24", "merger", r"\bmerger\b|\bmerging\b", True),
    ("dust_lane", "t08", "a38", "dust lane", r"\bdust lane\b", True),
    ("edge_on_bulge_rounded", "t09", "a25", "with rounded edge-on bulge",
     r"rounded edge-on bulge", False),
    ("edge_on_bulge_boxy", "t09", "a26", "with boxy edge-on bulge", r"boxy edge-on bulge", False),
    ("edge_on_no_bulge", "t09", "a27", "with no edge-on bulge", r"no edge-on bulge", False),
    ("winding_tight", "t10", "a28", "tightly wound spiral arms", r"tightly wound", False),
    ("winding_medium", "t10", "a29", "medium wound spiral arms", r"medium wound", False),
    ("winding_loose", "t10", "a30", "loosely wound spiral arms", r"loosely wound", False),
    ("arms_1", "t11", "a31", "1 spiral arm", r"(?<![\d.])1 spiral arms?\b", False),
    ("arms_2", "t11", "a32", "2 spiral arms", r"(?<![\d.])2 spiral arms\b", False),
    ("arms_3", "t11", "a33", "3 spiral arms", r"(?<![\d.])3 spiral arms\b", False),
    ("arms_4", "t11", "a34", "4 spiral arms", r"(?<!more than )(?<![\d.])4 spiral arms\b", False),
    ("arms_more_than_4", "t11", "a36", "more than 4 spiral arms", r"more than 4 spiral arms", False),
]
TAGS = pd.DataFrame(_TAG_ROWS, columns=["name", "task", "answer", "phrase", "pattern", "primary"])
TAG_NAMES: tuple[str, ...] = tuple(TAGS.name)
PRIMARY_TAGS: tuple[str, ...] = tuple(TAGS.name[TAGS.primary])
NON_INFORMATIVE = pd.DataFrame([
    ("t01", "a03", "star or artifact: not a galaxy morphology (Ma et al. 2025 §3.1 drops it)"),
    ("t06", "a14", "something odd: says nothing about which feature (Ma et al. 2025 §3.1 drops it)"),
    ("t08", "a23", "other: an unnamed odd feature, not describable in a prompt"),
    ("t11", "a37", "can't tell: the arm number is unknown"),
], columns=["task", "answer", "reason"])
EARLY_TYPE_TAGS = ("smooth", "completely_round", "in_between_round", "cigar_shaped")
PROMPT_PREFIXES = ("sdss",)  # style tokens a prompt may start with (Ma et al. 2025 Fig. 7: "sdss, …")
_WEIGHT = re.compile(r"\{\s*([^{}:]+?)\s*:\s*[0-9.]+\s*\}")
_COMPILED = [(name, re.compile(pat, re.IGNORECASE)) for name, pat in zip(TAGS.name, TAGS.pattern)]
_PHRASE = dict(zip(TAGS.name, TAGS.phrase))
_TAG_SET = frozenset(TAG_NAMES)


class UnknownTagError(ValueError):
    """A tag name or a prompt phrase that is not in the vocabulary."""


def well_sampled_tags(catalog: pd.DataFrame, min_votes: int = MIN_VOTES,
                      min_debiased: float = MIN_DEBIASED,
                      chain_fraction: str = CHAIN_FRACTION) -> pd.DataFrame:
    """Bool frame ``tag_<name>`` per galaxy: chain of thresholds, N ≥ min_votes, debiased ≥ min_debiased."""
    ok = task_well_answered(catalog, min_votes, chain_fraction)
    out = {}
    for row in TAGS.itertuples():
        deb = catalog[column(stem_of(row.task, row.answer), "debiased")]
        out[f"tag_{row.name}"] = (ok[row.task] & (deb >= min_debiased)).to_numpy()
    return pd.DataFrame(out, index=catalog.index)


def tag_lists(flags: pd.DataFrame) -> list[list[str]]:
    """Tag names per row of a ``tag_<name>`` bool frame, in vocabulary order."""
    names = np.array([c.removeprefix("tag_") for c in flags.columns])
    arr = flags.to_numpy(bool)
    return [list(names[r]) for r in arr]


def check_tags(tags: Iterable[str]) -> list[str]:
    """``tags`` as a list; a name outside the vocabulary raises :class:`UnknownTagError` naming the
    valid ones (so a typo in a prompt table fails before any training)."""
    tags = list(tags)
    unknown = [t for t in tags if t not in _TAG_SET]
    if unknown:
        raise UnknownTagError(f"unknown tag(s) {unknown}; valid tags: {', '.join(TAG_NAMES)}")
    return tags


def prompt_from_tags(tags: Iterable[str], rng: np.random.Generator | None = None,
                     weights: dict[str, float] | None = None, prefix: str = "") -> str:
    """Join the tags' phrases with ", " (shuffled when ``rng`` is given, as in training).

    ``weights`` wraps phrases as ``{phrase:w}`` (the cross-attention emphasis of Ma et al. 2025
    Table 1 and Appendix C);
    ``prefix`` (e.g. "sdss") is put first.
    """
    tags = check_tags(tags)
    if rng is not None:
        tags = [tags[i] for i in rng.permutation(len(tags))]
    weights = weights or {}
    check_tags(weights)
    parts = [f"{{{_PHRASE[t]}:{weights[t]:g}}}" if t in weights else _PHRASE[t] for t in tags]
    return ", ".join(([prefix] if prefix else []) + parts)


def tags_from_prompt(prompt: str) -> list[str]:
    """The tags a prompt implies, in vocabulary order; every comma-separated part must name ≥ 1 tag.

    Weighted phrases ``{dust lane:1.3}`` count as their text; a leading style token ("sdss") is
    ignored. A part that names no tag raises :class:`UnknownTagError` listing the valid phrases.
    """
    text = _WEIGHT.sub(lambda m: m.group(1), prompt)
    found: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part or part.lower() in PROMPT_PREFIXES:
            continue
        hits = {name for name, rx in _COMPILED if rx.search(part)}
        if not hits:
            raise UnknownTagError(f"prompt part {part!r} names no known tag; valid phrases: "
                                  + "; ".join(TAGS.phrase))
        found |= hits
    return [t for t in TAG_NAMES if t in found]


def diffusion_excluded(flags: pd.DataFrame, known_detg: pd.Series | np.ndarray | None = None) -> np.ndarray:
    """Rows kept out of diffusion training: known D-ETGs and early-type + dust-lane tag combinations."""
    early = np.zeros(len(flags), bool)
    for t in EARLY_TYPE_TAGS:
        early |= flags[f"tag_{t}"].to_numpy(bool)
    out = early & flags["tag_dust_lane"].to_numpy(bool)
    if known_detg is not None:
        out |= np.asarray(known_detg, bool)
    return out


def balance_by_label(labels: Sequence[str], cap: int, seed: int = 0,
                     eligible: np.ndarray | None = None) -> np.ndarray:
    """Keep at most ``cap`` galaxies per label (a galaxy's "|"-joined tag set), chosen at random.

    Ma et al. (2025) §3.1: "14,835 galaxy images labeled as 'smooth, completely round galaxy' are
    randomly sampled to 2,000" — the cap applies to a galaxy's label, so rare combinations are kept whole.
    Empty labels and rows with ``eligible`` False are never kept.
    """
    if cap < 1:
        raise ValueError(f"tag cap must be >= 1, got {cap}")
    labels = pd.Series(list(labels), dtype=object)
    ok = labels != ""
    if eligible is not None:
        ok &= np.asarray(eligible, bool)
    rng = np.random.default_rng(seed)
    order = pd.Series(rng.permutation(len(labels)), index=labels.index)  # random rank per row
    rank = order[ok].groupby(labels[ok]).rank(method="first")
    keep = np.zeros(len(labels), bool)
    keep[rank.index[rank.to_numpy() <= cap]] = True
    return keep


def build_tag_table(catalog: pd.DataFrame, cap: int, seed: int = 0,
                    known_detg: Iterable[int] | None = None) -> pd.DataFrame:
    """The ``tags.parquet`` frame: ``dr7objid, tags, prompt, well_sampled, in_diffusion_train, tag_*``.

    One row per catalog galaxy (validate the catalog first). ``prompt`` is one shuffled order of the
    phrases (seeded); the trainer reshuffles per step with :func:`prompt_from_tags`.
    """
    flags = well_sampled_tags(catalog)
    lists = tag_lists(flags)
    labels = ["|".join(t) for t in lists]
    rng = np.random.default_rng(seed)
    prompts = [prompt_from_tags(t, rng) if t else "" for t in lists]
    known = catalog.dr7objid.isin(set(() if known_detg is None else known_detg)).to_numpy()
    excluded = diffusion_excluded(flags, known)
    keep = balance_by_label(labels, cap, seed, eligible=~excluded)
    out = pd.DataFrame({"dr7objid": catalog.dr7objid.to_numpy(np.int64), "tags": labels,
                        "prompt": prompts, "well_sampled": [bool(t) for t in lists],
                        "in_diffusion_train": keep, "known_detg": known})
    return pd.concat([out, flags.reset_index(drop=True)], axis=1)




def tag_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Long table for ``B-table-tags``: galaxies per tag (and per paper-quoted label) among the
    well-sampled ones and in the balanced diffusion training set; ``paper`` where Ma et al. (2025)
    give one."""
    rows = []
    for name in TAG_NAMES:
        col = table[f"tag_{name}"]
        rows.append(("tag", name, "well-sampled", int(col.sum()), np.nan))
        rows.append(("tag", name, "after balancing", int((col & table.in_diffusion_train).sum()), np.nan))
    for label, (before, after) in PAPER_LABEL_COUNTS.items():
        same = table.tags == label
        shown = label.replace("|", " + ")  # "|" would split a markdown table cell
        rows.append(("label", shown, "well-sampled", int(same.sum()), before))
        rows.append(("label", shown, "after balancing", int((same & table.in_diffusion_train).sum()),
                     after))
    return pd.DataFrame(rows, columns=["kind", "tag", "quantity", "ours", "paper"])


def truth_labels(catalog: pd.DataFrame) -> pd.DataFrame:
    """Mock-truth labels for the classifier tasks of Ma et al. (2025) §4.2–4.3, one bool column each.

    ``spiral`` (spiral arms in a face-on disk), ``edge_on_disk``, ``bar``, ``bulge`` (obvious or
    dominant bulge in a face-on disk), ``detg`` (early type + dust lane). Needs the mock's ``true_*``
    columns; on real data use the volunteer tags (``tag_*``) instead.
    """
    need = ["true_spiral", "true_edge_on", "true_bar", "true_bulge_prominence", "true_detg"]
    missing = [c for c in need if c not in catalog.columns]
    if missing:
        raise CatalogError(f"truth labels need the mock's columns {missing}; real catalogs have no "
                           "truth — use the well-sampled tag_* columns of tags.parquet")
    face_on_disk = (catalog.true_class == "features") & ~catalog.true_edge_on.astype(bool)
    return pd.DataFrame({
        "dr7objid": catalog.dr7objid.to_numpy(np.int64),
        "spiral": catalog.true_spiral.astype(bool).to_numpy(),
        "edge_on_disk": catalog.true_edge_on.astype(bool).to_numpy(),
        "bar": catalog.true_bar.astype(bool).to_numpy(),
        "bulge": (face_on_disk & catalog.true_bulge_prominence.isin(["obvious", "dominant"])).to_numpy(),
        "detg": catalog.true_detg.astype(bool).to_numpy(),
    })


# --- summaries used by notebooks 01 and 07 -------------------------------------------------------


def data_summary(n_catalog: int, table: pd.DataFrame, drops: pd.DataFrame | None = None,
                 n_detg_true: int | None = None) -> pd.DataFrame:
    """Long table for ``B-data-summary``: our counts beside Ma et al.'s (2025)
    (239,695 / 71,455 / 27,910 / 352)."""
    rows = [("galaxies in catalog", n_catalog),
            ("galaxies dropped (bad votes or image)", 0 if drops is None else len(drops)),
            ("galaxies labelled", len(table)),
            ("well-sampled galaxies", int(table.well_sampled.sum())),
            ("diffusion training images", int(table.in_diffusion_train.sum())),
            ("known D-ETGs (catalog)", int(table.known_detg.sum()))]
    if n_detg_true is not None:
        rows.append(("true D-ETGs (mock truth)", n_detg_true))
    out = pd.DataFrame(rows, columns=["quantity", "ours"])
    out["paper"] = out.quantity.map(PAPER_COUNTS).astype(float)
    frac = {"well-sampled galaxies": n_catalog, "diffusion training images": n_catalog}
    out["note"] = [f"{v / frac[q]:.1%} of catalog" if q in frac and n_catalog else ""
                   for q, v in zip(out.quantity, out.ours)]
    return out


def upset_counts(table: pd.DataFrame, tags: Sequence[str] = PRIMARY_TAGS,
                 rows: np.ndarray | None = None) -> pd.Series:
    """Galaxy counts per combination of ``tags`` (bool MultiIndex, as upsetplot expects).

    Defaults to the diffusion training set and the primary tags (Ma et al. 2025 Fig. 2); galaxies with
    none of the tags are left out.
    """
    sel = table[table.in_diffusion_train] if rows is None else table[rows]
    flags = sel[[f"tag_{t}" for t in tags]].astype(bool)
    flags.columns = list(tags)
    flags = flags[flags.any(axis=1)]
    counts = flags.value_counts()
    counts.index = counts.index.set_names(list(tags))
    return counts.sort_values(ascending=False)


def gallery_ids(table: pd.DataFrame, per_tag: int, seed: int = 0,
                tags: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Up to ``per_tag`` random well-sampled galaxies per tag (for a by-eye check of the labels)."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in tags or [t for t in TAG_NAMES if t not in ("smooth", "features_or_disk")]:
        ids = table.dr7objid[table[f"tag_{t}"]].to_numpy()
        out[t] = list(rng.choice(ids, size=min(per_tag, len(ids)), replace=False)) if len(ids) else []
    return out


def draw_upset(counts: pd.Series, fig, max_subsets: int = 25, title: str = ""):
    """Ma et al. (2025) Fig. 2: bars of the commonest tag combinations over a dot matrix, per-tag totals
    on the right. Drawn with matplotlib because upsetplot 0.9 fails under pandas 3 (its
    ``styles[col].fillna(..., inplace=True)`` is a no-op with copy-on-write, leaving NaN colours)."""
    tags = list(counts.index.names)
    member = np.array(list(counts.index), dtype=bool).reshape(len(counts), len(tags))
    totals = (member * counts.to_numpy()[:, None]).sum(axis=0)
    order = np.argsort(totals)  # commonest tag at the top of the matrix
    top = counts.iloc[:max_subsets]
    m = member[:max_subsets][:, order]
    grid = fig.add_gridspec(2, 2, height_ratios=[1.4, 1], width_ratios=[4, 1], hspace=0.05,
                            wspace=0.02)
    ax_bar, ax_dot = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    ax_tot = fig.add_subplot(grid[1, 1], sharey=ax_dot)
    x = np.arange(len(top))
    ax_bar.bar(x, top.to_numpy(), color="0.25", width=0.6)
    for xi, v in zip(x, top.to_numpy()):
        ax_bar.text(xi, v, f"{v:,}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax_bar.set_xlim(-0.6, len(top) - 0.4)
    ax_bar.set_xticks([])
    ax_bar.set_ylabel("galaxies with exactly this combination")
    ax_bar.spines[["top", "right"]].set_visible(False)
    if title:
        ax_bar.set_title(title)
    yy, xx = np.meshgrid(np.arange(len(tags)), x)
    ax_dot.scatter(xx.ravel(), yy.ravel(), s=28, color=np.where(m.ravel(), "0.15", "0.85"))
    for xi, row in zip(x, m):
        on = np.nonzero(row)[0]
        if len(on) > 1:
            ax_dot.plot([xi, xi], [on.min(), on.max()], color="0.15", lw=1.5)
    ax_dot.set_yticks(np.arange(len(tags)), [tags[i].replace("_", " ") for i in order], fontsize=8)
    ax_dot.set_xlim(ax_bar.get_xlim())
    ax_dot.set_xticks([])
    ax_dot.spines[:].set_visible(False)
    ax_tot.barh(np.arange(len(tags)), totals[order], color="0.45", height=0.6)
    ax_tot.set_xlabel("galaxies per tag")
    ax_tot.tick_params(labelleft=False)
    ax_tot.spines[["top", "right"]].set_visible(False)
    return ax_bar, ax_dot, ax_tot

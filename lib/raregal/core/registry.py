"""The notebook → outputs map of DESIGN.md §3, as data: the runner, the report and the tests read it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    id: str
    kind: str  # "figure" | "table" | "catalog"
    reproduces: str  # what in which paper, e.g. "paper A Fig. 1"; "" for our own diagnostics


@dataclass(frozen=True)
class Notebook:
    number: str
    name: str
    title: str
    outputs: tuple[Output, ...]

    @property
    def stem(self) -> str:
        return f"{self.number}_{self.name}"


def _fig(i: str, what: str = "") -> Output:
    return Output(i, "figure", what)


def _tab(i: str, what: str = "") -> Output:
    return Output(i, "table", what)


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01", "fetch", "Data for both papers (mock survey or real downloads)", (
        _tab("A-data-summary", "paper A §2 sample counts"),
        _tab("B-data-summary", "paper B §2 sample counts"))),
    Notebook("02", "preprocess", "Paper A preprocessing: eq. 1 normalisation, resizing, orientations", (
        _fig("A-orientation-examples", "paper A §2 orientation measurement"),
        _tab("A-drops"))),
    Notebook("03", "train_cvae", "Paper A: train the physics-informed and vanilla CVAEs", (
        _fig("A-loss-curves", "paper A §3 training"),)),
    Notebook("04", "latent_properties", "Paper A: latents vs physical properties", (
        _fig("A-fig1", "paper A Fig. 1"), _tab("A-table1", "paper A Table 1"),
        _tab("A-table-intervals", "survey catalog 68/95 % intervals: coverage and width"))),
    Notebook("05", "anomalies", "Paper A: recovering Green Peas and Red Spirals", (
        _fig("A-fig2", "paper A Fig. 2"), _tab("A-table-svm", "paper A §4 SVM recovery"))),
    Notebook("06", "neighbours", "Paper A: look-alike candidates and encoding speed", (
        _fig("A-fig3", "paper A Fig. 3"), _tab("A-table-timing", "paper A §5 timing"),
        _tab("A-table-scale", "paper A §5 survey cost: galaxies/s end to end, CPU-hours for 2e10"))),
    Notebook("07", "gz2_labels", "Paper B: vote fractions → well-sampled tags → prompts", (
        _fig("B-fig2", "paper B Fig. 2"), _fig("B-mock-gallery"), _tab("B-table-tags"))),
    Notebook("08", "finetune_diffusion", "Paper B: fine-tune the text-to-image diffusion model", (
        _tab("B-table1", "paper B Table 1"), _fig("B-fig3", "paper B Fig. 3"),
        _fig("B-diffusion-loss"), _fig("B-prompt-pairs"), _tab("B-prompt-effect"),
        _tab("B-brightness", "paper B §2 over-brightness"))),
    Notebook("09", "simclr", "Paper B: SimCLR galaxy embedding", (
        _fig("B-figA1", "paper B Fig. A1"), _fig("B-figA2", "paper B Fig. A2"),
        _tab("B-table-simclr"))),
    Notebook("10", "generation_metrics", "Paper B: realism, diversity and consistency", (
        _fig("B-fig4", "paper B Fig. 4"), _fig("B-fig5", "paper B Fig. 5"),
        _tab("B-table-metrics", "paper B §4.1"))),
    Notebook("11", "augmented_classifiers", "Paper B: classifiers with synthetic augmentation", (
        _tab("B-table2", "paper B Table 2"),)),
    Notebook("12", "detg_search", "Paper B: dust-lane early-type galaxy search", (
        _tab("B-table3", "paper B Table 3"), _tab("B-table-search"),
        _fig("B-fig6", "paper B Fig. 6"), _fig("B-fig7", "paper B Fig. 7"),
        _fig("B-fig8", "paper B Fig. 8"), _fig("B-fig9", "paper B Fig. 9"),
        _fig("B-figD4", "paper B Fig. D4"),
        Output("detg_candidates", "catalog", "paper B D-ETG catalog"))),
)

BY_NUMBER = {nb.number: nb for nb in NOTEBOOKS}


def select(only: str | None = None, start: str | None = None) -> list[Notebook]:
    """Notebooks for ``--only 04,05`` and/or ``--from 08``; unknown numbers are an error."""
    chosen = list(NOTEBOOKS)
    if only:
        wanted = [n.strip().zfill(2) for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in BY_NUMBER]
        if unknown:
            raise ValueError(f"unknown notebook number(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(BY_NUMBER)}")
        chosen = [nb for nb in chosen if nb.number in wanted]
    if start:
        s = start.strip().zfill(2)
        if s not in BY_NUMBER:
            raise ValueError(f"unknown notebook number {start!r} for --from; valid: {', '.join(BY_NUMBER)}")
        chosen = [nb for nb in chosen if nb.number >= s]
    if not chosen:
        raise ValueError("no notebook selected")
    return chosen

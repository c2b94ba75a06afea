"""The notebook → outputs map of DESIGN.md §3, as data: the runner, the report and the tests read it.

Each notebook belongs to a paper (``01_fetch`` to both): paper A (Gagliano & Villar 2023) is 02–06,
paper B (Ma et al. 2025) is 07–12, so a run can prepare and run one paper alone (``--papers B``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PAPERS = ("A", "B")
FETCH = "01"  # the notebook that prepares the data of the papers asked for (its ``papers`` parameter)
PAPERS_FILE = "papers.json"  # in data/interim/<source>-<profile>/: the papers 01_fetch prepared


@dataclass(frozen=True)
class Output:
    id: str
    kind: str  # "figure" | "table" | "catalog"
    reproduces: str  # what in which paper, e.g. "paper A Fig. 1"; "" for our own diagnostics

    @property
    def paper(self) -> str:
        """``A`` or ``B``, the paper an output belongs to, from its id (``A-fig1``); "" when it has none."""
        head = self.id.split("-", 1)[0]
        return head if head in PAPERS and "-" in self.id else ""


@dataclass(frozen=True)
class Notebook:
    number: str
    name: str
    title: str
    outputs: tuple[Output, ...]
    papers: tuple[str, ...]  # the papers whose data it needs (01_fetch: those it prepares)

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
        _tab("B-data-summary", "paper B §2 sample counts")), PAPERS),
    Notebook("02", "preprocess", "Paper A preprocessing: eq. 1 normalisation, resizing, orientations", (
        _fig("A-orientation-examples", "paper A §2 orientation measurement"),
        _tab("A-drops")), ("A",)),
    Notebook("03", "train_cvae", "Paper A: train the physics-informed and vanilla CVAEs", (
        _fig("A-loss-curves", "paper A §3 training"),), ("A",)),
    Notebook("04", "latent_properties", "Paper A: latents vs physical properties", (
        _fig("A-fig1", "paper A Fig. 1"), _tab("A-table1", "paper A Table 1"),
        _tab("A-table-intervals", "survey catalog 68/95 % intervals: coverage and width")), ("A",)),
    Notebook("05", "anomalies", "Paper A: recovering Green Peas and Red Spirals", (
        _fig("A-fig2", "paper A Fig. 2"), _tab("A-table-svm", "paper A §4 SVM recovery")), ("A",)),
    Notebook("06", "neighbours", "Paper A: look-alike candidates and encoding speed", (
        _fig("A-fig3", "paper A Fig. 3"), _tab("A-table-timing", "paper A §5 timing"),
        _tab("A-table-scale", "paper A §5 survey cost: galaxies/s end to end, CPU-hours for 2e10")), ("A",)),
    Notebook("07", "gz2_labels", "Paper B: vote fractions → well-sampled tags → prompts", (
        _fig("B-fig2", "paper B Fig. 2"), _fig("B-gallery"), _tab("B-table-tags")), ("B",)),
    Notebook("08", "finetune_diffusion", "Paper B: fine-tune the text-to-image diffusion model", (
        _tab("B-table1", "paper B Table 1"), _fig("B-fig3", "paper B Fig. 3"),
        _fig("B-diffusion-loss"), _fig("B-prompt-pairs"), _tab("B-prompt-effect"),
        _tab("B-lane-rates"),
        _tab("B-brightness", "paper B §2 over-brightness")), ("B",)),
    Notebook("09", "simclr", "Paper B: SimCLR galaxy embedding", (
        _fig("B-figA1", "paper B Fig. A1"), _fig("B-figA2", "paper B Fig. A2"),
        _tab("B-table-simclr")), ("B",)),
    Notebook("10", "generation_metrics", "Paper B: realism, diversity and consistency", (
        _fig("B-fig4", "paper B Fig. 4"), _fig("B-fig5", "paper B Fig. 5"),
        _tab("B-table-metrics", "paper B §4.1")), ("B",)),
    Notebook("11", "augmented_classifiers", "Paper B: classifiers with synthetic augmentation", (
        _tab("B-table2", "paper B Table 2"),), ("B",)),
    Notebook("12", "detg_search", "Paper B: dust-lane early-type galaxy search", (
        _tab("B-table3", "paper B Table 3"), _tab("B-table3-few-known", "paper B Table 3, few known D-ETGs"),
        _tab("B-table-search"),
        _fig("B-fig6", "paper B Fig. 6"), _fig("B-fig7", "paper B Fig. 7"),
        _fig("B-fig8", "paper B Fig. 8"), _fig("B-fig9", "paper B Fig. 9"),
        _fig("B-figD4", "paper B Fig. D4"),
        _tab("B-synthetic-lanes"),
        Output("detg_candidates", "catalog", "paper B D-ETG catalog")), ("B",)),
)

BY_NUMBER = {nb.number: nb for nb in NOTEBOOKS}


def parse_papers(papers: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"A,B"``, ``"B"``, ``("A",)`` → the papers in order, e.g. ``("A", "B")``; else an error."""
    items = papers.split(",") if isinstance(papers, str) else list(papers)
    wanted = {str(p).strip().upper() for p in items if str(p).strip()}
    unknown = sorted(wanted - set(PAPERS))
    if unknown or not wanted:
        raise ValueError(f"papers {papers!r}: give A, B or A,B (paper A: Gagliano & Villar 2023, "
                         f"notebooks 02–06; paper B: Ma et al. 2025, notebooks 07–12)")
    return tuple(p for p in PAPERS if p in wanted)


def numbers_of(paper: str) -> str:
    """``"02–06"``: the notebooks of one paper, for messages."""
    numbers = [nb.number for nb in NOTEBOOKS if nb.papers == (paper,)]
    return f"{numbers[0]}–{numbers[-1]}"


def select(only: str | None = None, start: str | None = None,
           papers: str | tuple[str, ...] = PAPERS) -> list[Notebook]:
    """Notebooks for ``--only 04,05`` and/or ``--from 08`` and/or ``--papers B``.

    Unknown numbers are an error, and so is a notebook asked for by number that belongs to no chosen
    paper (``--papers B --only 03``): it would fail for want of paper A's data.
    """
    papers = parse_papers(papers)
    chosen = [nb for nb in NOTEBOOKS if set(nb.papers) & set(papers)]
    if only:
        wanted = [n.strip().zfill(2) for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in BY_NUMBER]
        if unknown:
            raise ValueError(f"unknown notebook number(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(BY_NUMBER)}")
        other = [BY_NUMBER[n] for n in wanted if BY_NUMBER[n] not in chosen]
        if other:
            raise ValueError(
                f"notebook {', '.join(nb.stem for nb in other)} belongs to paper "
                f"{','.join(sorted({p for nb in other for p in nb.papers}))}, not to --papers "
                f"{','.join(papers)}; drop it from --only or add its paper to --papers")
        chosen = [nb for nb in chosen if nb.number in wanted]
    if start:
        s = start.strip().zfill(2)
        if s not in BY_NUMBER:
            raise ValueError(f"unknown notebook number {start!r} for --from; valid: {', '.join(BY_NUMBER)}")
        chosen = [nb for nb in chosen if nb.number >= s]
    if not chosen:
        raise ValueError("no notebook selected")
    return chosen


def read_prepared(interim_run: Path) -> tuple[str, ...] | None:
    """The papers whose data ``01_fetch`` prepared in ``data/interim/<source>-<profile>/``.

    None when it left no record (data from before the record existed, or 01 never ran): the
    notebooks' own missing-input messages then say what to run.
    """
    path = Path(interim_run) / PAPERS_FILE
    if not path.exists():
        return None
    return parse_papers(json.loads(path.read_text())["papers"])


def mark_prepared(interim_run: Path, paper: str) -> tuple[str, ...]:
    """Record that ``01_fetch`` prepared ``paper``'s data in ``interim_run`` (kept beside the others it
    prepared before); called once the paper's files are all written. Returns the papers now prepared."""
    from raregal.core.outputs import atomic_path

    done = parse_papers((*(read_prepared(interim_run) or ()), *parse_papers(paper)))
    with atomic_path(Path(interim_run) / PAPERS_FILE) as tmp:
        tmp.write_text(json.dumps({"papers": list(done)}))
    return done

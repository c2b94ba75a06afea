"""Visual vetting of search candidates: who said yes or no to which galaxy, kept in a resumable CSV.

Ma et al. (2025) §4.3 had three authors inspect every candidate of each search round and kept a
galaxy when at least two of three said yes. Here a *reviewer* is anything with a ``name`` and a
``review(ids) -> bool array``:

- :class:`SimulatedReviewer` answers from the mock truth with stated error rates (a missed D-ETG with
  probability ``miss_rate``, a false "yes" with probability ``false_yes_rate``), so the search can be
  run and scored end to end on the mock.
- :class:`LogReviewer` answers from the vetting log written by a person through :class:`VettingWidget`
  (ipywidgets, shown in JupyterLab); ids nobody has answered yet raise :class:`PendingReview`, so a
  notebook stops cleanly and resumes from the CSV when rerun.

Every answer, simulated or human, goes through the same :class:`VettingLog` (``id, reviewer, answer,
round``), so the catalog of accepted galaxies can always be rebuilt from the log.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np
import pandas as pd

LOG_COLUMNS = ("id", "reviewer", "answer", "round", "time")
MIN_VOTES = 2  # Ma et al. (2025) §4.3: "Final selection required agreement from at least two reviewers"


class PendingReview(RuntimeError):
    """Some candidates have not been answered yet by a (human) reviewer."""

    def __init__(self, reviewer: str, missing: Sequence[int]):
        self.reviewer = reviewer
        self.missing = list(missing)
        super().__init__(f"reviewer {reviewer!r} has not answered {len(self.missing)} candidate(s) "
                         f"yet (first ids: {self.missing[:5]}); answer them in the vetting widget, "
                         f"then rerun — answers already given are kept in the log")


class Reviewer(Protocol):
    name: str

    def review(self, ids: Sequence[int], round_: int = 0) -> np.ndarray: ...


class VettingLog:
    """Append-only CSV of answers; the latest answer of a reviewer for an id wins (a person may change
    their mind). Safe to reopen: what is on disk is the state."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def read(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                                 zip(LOG_COLUMNS, ("int64", "str", "bool", "int64", "float64"))})
        df = pd.read_csv(self.path)
        missing = [c for c in LOG_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"vetting log {self.path} lacks columns {missing}; "
                             f"expected {list(LOG_COLUMNS)}")
        bad = ~df["answer"].astype(str).str.lower().isin(["true", "false", "1", "0"])
        if bad.any():
            raise ValueError(f"vetting log {self.path}: {int(bad.sum())} row(s) with an answer that is "
                             f"not yes/no (true/false), e.g. {df.loc[bad, 'answer'].iloc[0]!r}")
        df["answer"] = df["answer"].astype(str).str.lower().isin(["true", "1"])
        df["id"] = df["id"].astype("int64")
        df["reviewer"] = df["reviewer"].astype(str)
        return df

    def record(self, ids: Iterable[int], reviewer: str, answers: Iterable[bool], round_: int = 0) -> None:
        ids, answers = list(ids), list(answers)
        if len(ids) != len(answers):
            raise ValueError(f"{len(ids)} ids but {len(answers)} answers")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        now = time.time()
        with open(self.path, "a", newline="") as fh:  # appends are line-atomic enough for one writer
            w = csv.writer(fh)
            if new:
                w.writerow(LOG_COLUMNS)
            for i, a in zip(ids, answers):
                w.writerow([int(i), reviewer, bool(a), int(round_), f"{now:.3f}"])

    def latest(self) -> pd.DataFrame:
        """One row per (id, reviewer): the last answer given."""
        return self.read().drop_duplicates(["id", "reviewer"], keep="last")

    def answers(self, reviewer: str) -> dict[int, bool]:
        df = self.latest()
        df = df[df["reviewer"] == reviewer]
        return dict(zip(df["id"].tolist(), df["answer"].tolist()))


@dataclass
class SimulatedReviewer:
    """Answers from the truth, wrong at stated rates: says no to a true object with probability
    ``miss_rate`` and yes to a false one with probability ``false_yes_rate``. Deterministic per
    (seed, id), so a rerun gives the same answers whatever order the ids come in."""

    name: str
    truth: dict[int, bool]
    miss_rate: float = 0.1
    false_yes_rate: float = 0.05
    seed: int = 0

    def __post_init__(self):
        for k in ("miss_rate", "false_yes_rate"):
            v = getattr(self, k)
            if not 0 <= v <= 1:
                raise ValueError(f"{k} must be in [0, 1], got {v}")

    def review(self, ids: Sequence[int], round_: int = 0) -> np.ndarray:
        unknown = [i for i in ids if int(i) not in self.truth]
        if unknown:
            raise KeyError(f"reviewer {self.name!r} has no truth for {len(unknown)} id(s), "
                           f"e.g. {unknown[:3]}")
        out = np.empty(len(ids), dtype=bool)
        for k, i in enumerate(ids):
            u = np.random.default_rng([self.seed, int(i) % 2**63]).random()
            out[k] = (u >= self.miss_rate) if self.truth[int(i)] else (u < self.false_yes_rate)
        return out


@dataclass
class LogReviewer:
    """A person's answers, read from the vetting log (written by :class:`VettingWidget`)."""

    name: str
    log: VettingLog

    def review(self, ids: Sequence[int], round_: int = 0) -> np.ndarray:
        given = self.log.answers(self.name)
        missing = [int(i) for i in ids if int(i) not in given]
        if missing:
            raise PendingReview(self.name, missing)
        return np.array([given[int(i)] for i in ids], dtype=bool)


def vet(ids: Sequence[int], reviewers: Sequence[Reviewer], log: VettingLog | None = None,
        round_: int = 0, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Ask every reviewer about every id; ``votes`` = number of yes, ``accepted`` = votes ≥ min_votes.

    Simulated answers are written to ``log`` (when given) so every vetting leaves the same record;
    answers read from the log are not written again.
    """
    if not reviewers:
        raise ValueError("vetting needs at least one reviewer")
    if not 1 <= min_votes <= len(reviewers):
        raise ValueError(f"min_votes={min_votes} impossible with {len(reviewers)} reviewer(s)")
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids must be unique")
    out = pd.DataFrame({"id": np.array(ids, dtype="int64")})
    for r in reviewers:
        ans = np.asarray(r.review(ids, round_), dtype=bool)
        if ans.shape != (len(ids),):
            raise ValueError(f"reviewer {r.name!r} returned {ans.shape} answers for {len(ids)} ids")
        out[f"yes_{r.name}"] = ans
        if log is not None and not isinstance(r, LogReviewer) and ids:
            log.record(ids, r.name, ans, round_)
    out["votes"] = out[[f"yes_{r.name}" for r in reviewers]].sum(axis=1).astype(int)
    out["accepted"] = out["votes"] >= min_votes
    return out


@dataclass
class VettingWidget:
    """JupyterLab widget for real data: shows one candidate at a time with Yes / No / Back buttons and
    writes each answer to the log at once, so closing the notebook loses nothing.

    ``load_image(id) -> bytes`` gives a PNG/JPEG of the galaxy (e.g. the GZ2 JPEG file). Ids this
    reviewer already answered are skipped; display with ``VettingWidget(...).show()``.
    """

    ids: Sequence[int]
    reviewer: str
    log: VettingLog
    load_image: Callable[[int], bytes]
    round_: int = 0
    _queue: list[int] = field(default_factory=list, init=False)
    _pos: int = field(default=0, init=False)
    _ui: Any = field(default=None, init=False)

    def __post_init__(self):
        done = self.log.answers(self.reviewer)
        self._queue = [int(i) for i in self.ids if int(i) not in done]

    @property
    def remaining(self) -> int:
        return max(0, len(self._queue) - self._pos)

    def answer(self, yes: bool) -> None:
        """Record an answer for the current candidate and move on (what the buttons call)."""
        if self.remaining == 0:
            return
        self.log.record([self._queue[self._pos]], self.reviewer, [bool(yes)], self.round_)
        self._pos += 1
        self._refresh()

    def back(self) -> None:
        self._pos = max(0, self._pos - 1)
        self._refresh()

    def build(self):
        import ipywidgets

        image = ipywidgets.Image(format="jpeg", width=256, height=256)
        label = ipywidgets.HTML()
        yes = ipywidgets.Button(description="Yes (D-ETG)", button_style="success")
        no = ipywidgets.Button(description="No", button_style="danger")
        back = ipywidgets.Button(description="Back")
        yes.on_click(lambda _: self.answer(True))
        no.on_click(lambda _: self.answer(False))
        back.on_click(lambda _: self.back())
        self._ui = {"image": image, "label": label}
        self._refresh()
        return ipywidgets.VBox([label, image, ipywidgets.HBox([yes, no, back])])

    def show(self):
        from IPython.display import display

        display(self.build())

    def _refresh(self) -> None:
        if not self._ui:
            return
        if self.remaining == 0:
            self._ui["label"].value = (f"<b>{self.reviewer}</b>: all {len(self._queue)} answered — "
                                       f"rerun the search")
            self._ui["image"].value = b""
            return
        gid = self._queue[self._pos]
        self._ui["label"].value = (f"<b>{self.reviewer}</b> · round {self.round_} · id {gid} · "
                                   f"{self._pos + 1}/{len(self._queue)}")
        self._ui["image"].value = self.load_image(gid)

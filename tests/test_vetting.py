"""Vetting: simulated reviewers with stated error rates, the resumable log, the 2-of-3 rule, the widget."""
from __future__ import annotations

import numpy as np
import pytest

from raregal.paper_b import vetting


def truth(n=2000, frac=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return {int(i): bool(t) for i, t in zip(range(1000, 1000 + n), rng.random(n) < frac)}


def test_simulated_reviewer_error_rates_and_determinism():
    t = truth()
    r = vetting.SimulatedReviewer("a", t, miss_rate=0.2, false_yes_rate=0.05, seed=1)
    ids = list(t)
    ans = r.review(ids)
    is_true = np.array([t[i] for i in ids])
    assert abs((~ans[is_true]).mean() - 0.2) < 0.04
    assert abs(ans[~is_true].mean() - 0.05) < 0.02
    # same answer per id whatever the order
    assert np.array_equal(r.review(ids[::-1])[::-1], ans)
    perfect = vetting.SimulatedReviewer("p", t, 0.0, 0.0)
    assert np.array_equal(perfect.review(ids), is_true)
    with pytest.raises(KeyError, match="no truth"):
        r.review([1])
    with pytest.raises(ValueError, match="miss_rate"):
        vetting.SimulatedReviewer("x", t, miss_rate=1.5)


def test_vet_two_of_three_and_log(tmp_path):
    t = {1: True, 2: False, 3: True}
    revs = [vetting.SimulatedReviewer("a", t, 0, 0),
            vetting.SimulatedReviewer("b", t, 1, 0),  # b always says no
            vetting.SimulatedReviewer("c", t, 0, 1)]  # c always says yes
    log = vetting.VettingLog(tmp_path / "log.csv")
    out = vetting.vet([1, 2, 3], revs, log, round_=2)
    assert out["votes"].tolist() == [2, 1, 2]
    assert out["accepted"].tolist() == [True, False, True]
    df = log.read()
    assert len(df) == 9 and set(df["round"]) == {2}
    assert log.answers("b") == {1: False, 2: False, 3: False}
    with pytest.raises(ValueError, match="unique"):
        vetting.vet([1, 1], revs)
    with pytest.raises(ValueError, match="min_votes"):
        vetting.vet([1], revs, min_votes=4)


def test_log_reviewer_pending_then_resumes(tmp_path):
    log = vetting.VettingLog(tmp_path / "log.csv")
    human = vetting.LogReviewer("alice", log)
    with pytest.raises(vetting.PendingReview) as e:
        human.review([5, 6])
    assert e.value.missing == [5, 6]
    log.record([5], "alice", [True])
    with pytest.raises(vetting.PendingReview, match="1 candidate"):
        human.review([5, 6])
    log.record([6, 5], "alice", [False, False])  # changed her mind on 5: the latest answer wins
    assert human.review([5, 6]).tolist() == [False, False]
    out = vetting.vet([5, 6], [human], log, min_votes=1)
    assert len(log.read()) == 3  # answers read from the log are not written again
    assert out["accepted"].tolist() == [False, False]


def test_log_refuses_malformed_files(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("id,who\n1,a\n")
    with pytest.raises(ValueError, match="lacks columns"):
        vetting.VettingLog(p).read()
    p.write_text("id,reviewer,answer,round,time\n1,a,maybe,0,0\n")
    with pytest.raises(ValueError, match="not yes/no"):
        vetting.VettingLog(p).read()
    assert vetting.VettingLog(tmp_path / "none.csv").read().empty


def _jpeg(i):
    return b"\xff\xd8" + bytes([i])  # a distinct fake image per galaxy


def test_widget_shows_each_candidate_and_its_buttons_record_answers(tmp_path):
    pytest.importorskip("ipywidgets")
    log = vetting.VettingLog(tmp_path / "log.csv")
    log.record([10], "bob", [True])
    w = vetting.VettingWidget([10, 11, 12], "bob", log, load_image=_jpeg, round_=2)
    ui = w.build()
    label, image, buttons = ui.children
    yes, no, back = buttons.children
    # 10 was answered before: the widget opens on 11, showing its image and where the reviewer is
    assert w.remaining == 2 and image.value == _jpeg(11)
    assert "id 11" in label.value and "1/2" in label.value and "round 2" in label.value
    yes.click()
    assert log.answers("bob") == {10: True, 11: True} and image.value == _jpeg(12)
    back.click()  # back to 11 to change the answer; the latest answer wins
    assert image.value == _jpeg(11)
    no.click()
    assert image.value == _jpeg(12)
    yes.click()
    assert w.remaining == 0 and "all 2 answered" in label.value and image.value == b""
    assert log.answers("bob") == {10: True, 11: False, 12: True}
    assert set(log.read()["round"]) == {0, 2}  # the earlier answer's round and this one's
    yes.click()  # nothing left: a further click records nothing
    assert len(log.read()) == 4

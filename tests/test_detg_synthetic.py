"""Synthetic D-ETGs (Ma et al. 2025 §4.3, Figs 6 and 7): the weighted prompts, the early types they
start from, and the profile's synthesis setting."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import classifiers, detg


def test_detg_prompts_name_the_trained_concepts():
    # the extrapolation combines two concepts the fine-tune saw: an early type and a dust lane, as
    # the tag phrases of notebook 07 spell them; and the generator must accept the weights
    from raregal.paper_b.diffusion.prompts import parse_weighted_prompt
    from raregal.paper_b.labels import TAGS

    phrase = dict(zip(TAGS.name, TAGS.phrase))
    for prompt, etg in zip(detg.DETG_PROMPTS, detg.ETG_TAGS):
        parsed = parse_weighted_prompt(prompt)
        assert parsed.text == f"sdss, {phrase[etg]}, {phrase['dust_lane']}"
        assert parsed.weights[phrase["dust_lane"]] > 1  # the rare part is stressed


def test_clean_etgs_excludes_flagged_and_known():
    from raregal.core.gz2_schema import column, stem_of

    tags = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], "tag_completely_round": [1, 1, 0, 1, 0],
                         "tag_in_between_round": [0, 0, 1, 0, 0],
                         "known_detg": [0, 0, 0, 1, 0]}).astype({"tag_completely_round": bool,
                                                                 "tag_in_between_round": bool,
                                                                 "known_detg": bool})
    cat = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], column(stem_of("t08", "a38"), "count"): [0, 2, 0, 0, 0]})
    assert detg.clean_etgs(tags, cat).tolist() == [1, 3]


def test_detg_prompts_take_other_weights_and_refuse_bad_ones():
    from raregal.paper_b.detg import synthetic
    from raregal.paper_b.diffusion.prompts import parse_weighted_prompt

    assert synthetic.detg_prompts() == detg.DETG_PROMPTS  # the default stays Fig. 7's
    round_prompt, between_prompt = synthetic.detg_prompts(round_weight=1.5, lane_weight=1.6)
    assert parse_weighted_prompt(round_prompt).weights == {"completely round": 1.5, "dust lane": 1.6}
    assert parse_weighted_prompt(between_prompt).weights == {"dust lane": 1.6}
    assert parse_weighted_prompt(round_prompt).text == parse_weighted_prompt(detg.DETG_PROMPTS[0]).text
    for bad in (0, -1.0, 150):
        with pytest.raises(ValueError, match="weight"):
            synthetic.detg_prompts(lane_weight=bad)


class _Store:
    """Reads each id as a 4 px image whose pixels are the id's last digit."""

    def read(self, ids):
        from types import SimpleNamespace

        ids = np.asarray(ids, np.int64)
        return SimpleNamespace(images=np.broadcast_to((ids % 10).astype(np.uint8)[:, None, None, None],
                                                      (len(ids), 4, 4, 3)).copy(), ids=ids)


def test_synthetic_detgs_pass_strength_guidance_and_prompts_to_the_generator(monkeypatch):
    from raregal.core import config
    from raregal.paper_b.detg import synthetic

    calls = []

    def fake_task_synthetic(cfg, featurizer, prompts, n, references):
        (name, prompt), = prompts.items()
        calls.append((name, prompt, n, cfg.classifiers.synthetic_strength, cfg.diffusion.guidance,
                      tuple(references[name][1])))
        return {name: np.zeros((1, n, 2), np.float32)}, {name: np.zeros((n, 4, 4, 3), np.uint8)}, {name: "ok"}

    monkeypatch.setattr(classifiers, "task_synthetic", fake_task_synthetic)
    cfg = config.setup("smoke", "mock", 3, make_dirs=False)
    etg_ids = np.arange(100, 140)
    views, images, _ = synthetic.synthetic_detgs(cfg, None, etg_ids, _Store(), 7, n_references=5)
    assert views.shape == (1, 7, 2) and images.shape == (7, 4, 4, 3)
    assert [c[2] for c in calls] == [4, 3]  # the round prompt takes the odd one
    assert {c[3:5] for c in calls} == {(cfg.classifiers.synthetic_strength, cfg.diffusion.guidance)}
    assert [c[1] for c in calls] == list(detg.DETG_PROMPTS)
    default_refs = [c[5] for c in calls]
    calls.clear()
    prompts = synthetic.detg_prompts(1.5, 1.6)
    synthetic.synthetic_detgs(cfg, None, etg_ids, _Store(), 7, n_references=5, prompts=prompts,
                              strength=0.6, guidance=4.5)
    assert {c[3:5] for c in calls} == {(0.6, 4.5)} and [c[1] for c in calls] == list(prompts)
    assert [c[5] for c in calls] == default_refs  # same starting galaxies: only the setting changed
    assert default_refs == [tuple(v[1]) for v in synthetic.detg_references(etg_ids, _Store(), 3, 5).values()]
    with pytest.raises(ValueError, match="2 prompts"):
        synthetic.synthetic_detgs(cfg, None, etg_ids, _Store(), 7, prompts=prompts[:1])


def test_the_profile_sets_prompts_strength_and_guidance_and_none_falls_back(monkeypatch):
    from raregal.core import config
    from raregal.paper_b.detg import synthetic
    from raregal.paper_b.diffusion.prompts import parse_weighted_prompt

    default = config.setup("default", "mock", 0, make_dirs=False)
    d = default.detg
    setting = synthetic.profile_setting(default)
    assert (setting["strength"], setting["guidance"]) == (d.synthetic_strength, d.synthetic_guidance)
    assert [parse_weighted_prompt(p).weights["dust lane"] for p in setting["prompts"]] == [d.lane_weight] * 2
    assert setting["prompts"] != detg.DETG_PROMPTS  # the default profile stresses the lane more than Fig. 7
    unset = default.with_overrides(detg={"synthetic_strength": None, "synthetic_guidance": None, "lane_weight": 1.3})
    assert synthetic.profile_setting(unset) == {"prompts": detg.DETG_PROMPTS,
                                                "strength": default.classifiers.synthetic_strength,
                                                "guidance": default.diffusion.guidance}
    calls = []

    def fake_task_synthetic(cfg, featurizer, prompts, n, references):
        (name, prompt), = prompts.items()
        calls.append((prompt, cfg.classifiers.synthetic_strength, cfg.diffusion.guidance))
        return {name: np.zeros((1, n, 2), np.float32)}, {name: np.zeros((n, 4, 4, 3), np.uint8)}, {name: "ok"}

    monkeypatch.setattr(classifiers, "task_synthetic", fake_task_synthetic)
    synthetic.synthetic_detgs(default, None, np.arange(100, 140), _Store(), 4, n_references=5)
    assert calls == [(p, setting["strength"], setting["guidance"]) for p in setting["prompts"]]

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from raregal.core import outputs  # noqa: E402


def _table():
    return pd.DataFrame({"quantity": ["z", "logmstar"], "ours": [0.8, 0.7], "paper": [0.83, np.nan],
                         "std": [0.01, 0.02]})


def test_save_table_long_format_with_run_columns(tmp_cfg):
    paths = outputs.save_table(_table(), "A-test", tmp_cfg, caption="R² on the mock")
    assert {p.suffix for p in paths} == {".csv", ".md", ".tex", ".json"}
    df = pd.read_csv(tmp_cfg.paths.tables / "A-test.csv")
    assert list(df.columns) == ["quantity", "ours", "paper", "std", "source", "profile"]
    assert df["source"].unique().tolist() == ["mock"] and df["profile"].unique().tolist() == ["smoke"]
    assert np.isnan(df.loc[1, "paper"]) and df.loc[0, "paper"] == 0.83
    md = (tmp_cfg.paths.tables / "A-test.md").read_text()
    assert md.startswith("R² on the mock") and "| z | 0.8 | 0.83 |" in md


def test_save_table_refuses_wrong_shape(tmp_cfg):
    with pytest.raises(ValueError, match=r"needs columns \['paper'\]"):
        outputs.save_table(pd.DataFrame({"quantity": ["z"], "ours": [1.0]}), "A-x", tmp_cfg)
    with pytest.raises(ValueError, match="is empty"):
        outputs.save_table(_table().iloc[:0], "A-x", tmp_cfg)
    with pytest.raises(ValueError, match="plain file stem"):
        outputs.save_table(_table(), "../escape", tmp_cfg)
    assert not list(tmp_cfg.paths.tables.glob("A-x*"))


def test_save_figure_stamps_mock_and_writes_sidecar(tmp_cfg):
    fig, ax = plt.subplots(layout="constrained")  # axes reach down to the figure's lower edge
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("step")
    outputs.save_figure(fig, "A-fig-test", tmp_cfg, caption="a line")
    assert (tmp_cfg.paths.figures / "A-fig-test.png").stat().st_size > 1000
    assert (tmp_cfg.paths.figures / "A-fig-test.pdf").exists()
    meta = json.loads((tmp_cfg.paths.figures / "A-fig-test.json").read_text())
    assert meta == {"id": "A-fig-test", "caption": "a line", "source": "mock", "profile": "smoke", "seed": 0}
    stamp = [t for t in fig.texts if "MOCK SURVEY" in t.get_text()]
    assert len(stamp) == 1
    fig.canvas.draw()  # the stamp sits below every axis, so it cannot cover a tick or axis label
    renderer = fig.canvas.get_renderer()
    assert stamp[0].get_window_extent(renderer).y1 <= min(a.get_tightbbox(renderer).y0 for a in fig.axes)
    plt.close(fig)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    with pytest.raises(RuntimeError):
        with outputs.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists() and list((tmp_path / "sub").iterdir()) == []
    target.write_text("old")
    with outputs.atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) != oct(0o600)


def test_record_keeps_all_numbers(tmp_cfg):
    outputs.record("encode_ms", 0.05, tmp_cfg, paper=7.0, unit="ms/galaxy")
    outputs.record("r2_z", 0.8, tmp_cfg, paper=0.83)
    data = json.loads((tmp_cfg.paths.tables / outputs.RECORDS_FILE).read_text())
    assert data["encode_ms"]["ours"] == 0.05 and data["encode_ms"]["paper"] == 7.0
    assert data["r2_z"]["profile"] == "smoke"

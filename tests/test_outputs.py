import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from raregal.core import outputs, plotting  # noqa: E402


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


def test_each_run_writes_into_its_own_folders(tmp_cfg, monkeypatch):
    """A real run and the mock run of the same profile keep their figures and tables apart."""
    from raregal.core import config

    fig, _ = plt.subplots()
    outputs.save_figure(fig, "B-gallery", tmp_cfg)
    outputs.save_table(_table(), "B-table-tags", tmp_cfg)
    real = config.setup("smoke", "real", 0)
    outputs.save_figure(fig, "B-gallery", real)
    outputs.save_table(_table(), "B-table-tags", real)
    plt.close(fig)
    root = tmp_cfg.paths.root
    assert tmp_cfg.paths.figures == root / "figures" / "mock-smoke"
    assert real.paths.tables == root / "paper" / "tables" / "real-smoke"
    for run, source in (("mock-smoke", "mock"), ("real-smoke", "real")):
        assert json.loads((root / "figures" / run / "B-gallery.json").read_text())["source"] == source
        assert pd.read_csv(root / "paper" / "tables" / run / "B-table-tags.csv")["source"].unique() == [source]
    assert not list((root / "figures").glob("*.png"))  # nothing at the top level any more


def test_a_run_refuses_to_overwrite_another_runs_output_and_writes_nothing(tmp_cfg, monkeypatch):
    """A file stamped by the mock run found in the real run's folder (moved there by hand) is refused,
    with the file named and what to do; nothing of the new output is written."""
    from raregal.core import config

    fig, _ = plt.subplots()
    outputs.save_figure(fig, "B-gallery", tmp_cfg)
    outputs.save_table(_table(), "B-table-tags", tmp_cfg)
    outputs.record("n_tags", 3, tmp_cfg)
    real = config.setup("smoke", "real", 0)
    real.paths.figures.mkdir(parents=True, exist_ok=True)
    for name in ("B-gallery.png", "B-gallery.json"):  # the mistake: mock files copied into real's folder
        (real.paths.figures / name).write_bytes((tmp_cfg.paths.figures / name).read_bytes())
    before = (real.paths.figures / "B-gallery.png").read_bytes()
    plt.close(fig)
    fig, _ = plt.subplots()
    with pytest.raises(outputs.OutputOwnerError) as err:
        outputs.save_figure(fig, "B-gallery", real)
    assert str(err.value) == (
        "figures/real-smoke/B-gallery.json belongs to the mock/smoke run, not to this real/smoke run, "
        "whose outputs go to figures/real-smoke/ only: move figures/real-smoke/B-gallery.* to "
        "figures/mock-smoke/ (the run that wrote it) or delete it, then rerun; nothing was written")
    assert (real.paths.figures / "B-gallery.png").read_bytes() == before
    assert sorted(p.name for p in real.paths.figures.iterdir()) == ["B-gallery.json", "B-gallery.png"]
    assert not fig.texts  # refused before the figure was stamped
    plt.close(fig)

    real.paths.tables.mkdir(parents=True, exist_ok=True)
    for name in ("B-table-tags.json", outputs.RECORDS_FILE):
        (real.paths.tables / name).write_text((tmp_cfg.paths.tables / name).read_text())
    with pytest.raises(outputs.OutputOwnerError, match="B-table-tags.json belongs to the mock/smoke run"):
        outputs.save_table(_table(), "B-table-tags", real)
    with pytest.raises(outputs.OutputOwnerError, match="records.json belongs to the mock/smoke run"):
        outputs.record("n_tags", 4, real)
    assert sorted(p.name for p in real.paths.tables.iterdir()) == ["B-table-tags.json", outputs.RECORDS_FILE]
    outputs.save_table(_table(), "B-table-tags", tmp_cfg)  # the run that owns it may rewrite it
    with pytest.raises(config.ConfigError, match="kept per run"):
        config.Paths(tmp_cfg.paths.root).figures  # noqa: B018 - the property raises


def test_atomic_paths_writes_all_or_nothing(tmp_path):
    a, b = tmp_path / "x.csv", tmp_path / "x.json"
    a.write_text("old")
    with pytest.raises(RuntimeError):
        with outputs.atomic_paths(a, b) as (tmp_a, tmp_b):
            tmp_a.write_text("new")
            raise RuntimeError("the second file could not be made")
    assert a.read_text() == "old" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]  # no temporary file left
    with outputs.atomic_paths(a, b) as (tmp_a, tmp_b):
        tmp_a.write_text("new")
        tmp_b.write_text("{}")
    assert (a.read_text(), b.read_text()) == ("new", "{}")


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


def _draw_everything():
    """A figure with the kinds of content the notebooks draw: lines, markers, an image, a legend."""
    fig, (ax_l, ax_i) = plt.subplots(1, 2, figsize=(6, 2.5))
    for k in range(3):
        ax_l.plot(np.arange(5), np.arange(5) * (k + 1), "o-", label=f"k={k}")
    ax_l.legend()
    ax_i.imshow(np.arange(12.0).reshape(3, 4))
    ax_l.set_title("lines")
    return fig, ax_l, ax_i


def test_style_changes_the_look_not_what_a_figure_shows():
    with plt.style.context("default"):  # matplotlib's own look (setup() elsewhere may have styled)
        plain = _draw_everything()
        with plotting.style():
            styled = _draw_everything()
        assert plt.rcParams["font.size"] != plotting.STYLE["font.size"]  # restored after the block
    (fig_p, lines_p, image_p), (fig_s, lines_s, image_s) = plain, styled
    for a, b in zip(lines_p.lines, lines_s.lines):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())
        assert a.get_color() == b.get_color() and a.get_marker() == b.get_marker()
    assert lines_p.get_xlim() == lines_s.get_xlim() and lines_p.get_ylim() == lines_s.get_ylim()
    im_p, im_s = image_p.images[0], image_s.images[0]
    np.testing.assert_array_equal(im_p.get_array(), im_s.get_array())
    assert (im_p.get_cmap().name, im_p.origin) == (im_s.get_cmap().name, im_s.origin)
    # the look did change: type sizes and line widths come from the style
    assert lines_s.title.get_fontsize() == plotting.STYLE["axes.titlesize"] != lines_p.title.get_fontsize()
    assert lines_s.lines[0].get_linewidth() == plotting.STYLE["lines.linewidth"]
    plt.close(fig_p)
    plt.close(fig_s)


def test_every_figure_is_saved_at_the_style_resolution(tmp_cfg):
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1])
    outputs.save_figure(fig, "A-fig-dpi", tmp_cfg)
    plt.close(fig)
    with Image.open(tmp_cfg.paths.figures / "A-fig-dpi.png") as im:
        assert np.allclose(im.info["dpi"], plotting.SAVE_DPI, atol=0.5)
        assert im.width < 4 * plotting.SAVE_DPI * 1.2  # tight margins: about the figure's own width


def test_use_style_applies_to_figures_made_afterwards(monkeypatch):
    import matplotlib as mpl

    monkeypatch.setattr(mpl, "rcParams", mpl.RcParams(mpl.rcParamsDefault))  # undone after the test
    before = _draw_everything()[1]
    plotting.use_style()
    after = _draw_everything()[1]
    assert before.title.get_fontsize() != plotting.STYLE["axes.titlesize"] == after.title.get_fontsize()
    assert after.lines[0].get_linewidth() == plotting.STYLE["lines.linewidth"]
    plt.close("all")

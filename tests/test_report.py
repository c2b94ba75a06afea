import json

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from raregal.core import outputs, registry, report  # noqa: E402


def test_report_lists_every_output_present_or_missing(tmp_cfg):
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    outputs.save_figure(fig, "A-fig1", tmp_cfg, caption="latents <b>vs</b> truth")
    plt.close(fig)
    outputs.save_table(pd.DataFrame({"quantity": ["z"], "ours": [0.812345], "paper": [0.83]}), "A-table1", tmp_cfg)
    outputs.record("encode_ms", 0.07, tmp_cfg, paper=7.0, unit="ms")
    (tmp_cfg.paths.build / "timings.json").write_text(json.dumps(
        {"04_latent_properties": {"status": "ok", "error": "", "seconds": 12.5, "written": ["a", "b"],
                                  "parameters": {"seed": 0}},
         "05_anomalies": {"status": "failed", "error": "cell 3: ValueError: bad", "seconds": 1.0,
                          "written": [], "parameters": {}}}))
    path = report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    html = path.read_text()
    assert path == tmp_cfg.paths.root / "paper" / "build" / "report.html"
    assert "MOCK SURVEY" in html and "smoke" in html
    assert "data:image/png;base64," in html
    assert "latents &lt;b&gt;vs&lt;/b&gt; truth" in html  # captions are escaped
    assert "0.8123" in html and "0.83" in html
    assert "cell 3: ValueError: bad" in html and "12.5" in html and "encode_ms" in html
    ids = [o.id for nb in registry.NOTEBOOKS for o in nb.outputs]
    for i in ids:
        assert f'id="{i}"' in html
    n_total = len(ids)
    assert f"2 of {n_total}" in html
    assert html.count("missing: not produced") == n_total - 2
    # order follows the notebooks
    assert html.index('id="A-data-summary"') < html.index('id="A-fig1"') < html.index('id="B-figD4"')


def test_latex_report_escapes_and_points_at_outputs(tmp_cfg, monkeypatch):
    outputs.save_table(pd.DataFrame({"quantity": ["log_mstar"], "ours": [0.7], "paper": [0.75]}),
                       "A-table1", tmp_cfg, caption="R² of 100% & more")
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    tex = (tmp_cfg.paths.root / "paper" / "build" / "report.tex").read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "R² of 100\\% \\& more" in tex
    assert f"\\input{{{tmp_cfg.paths.root.as_posix()}/paper/tables/A-table1.tex}}" in tex
    assert "mock survey" in tex and "02\\_preprocess" in tex
    assert "log\\_mstar" in (tmp_cfg.paths.tables / "A-table1.tex").read_text()
    monkeypatch.setenv("PATH", "")
    assert report.compile_pdf(tmp_cfg.paths.root / "paper" / "build" / "report.tex") is None


def test_latex_escape():
    assert report.latex_escape("a_b & 5% {x} #1 $y$ ~^\\") == (
        "a\\_b \\& 5\\% \\{x\\} \\#1 \\$y\\$ \\textasciitilde{}\\^{}\\textbackslash{}")


def test_git_commit_outside_git_is_reported(tmp_path):
    assert report.git_commit(tmp_path).startswith("unknown")

"""The report: one per run, every output in notebook order, thumbnails linking to the figures, an index of
the runs, opened in a browser."""
import functools
import html as html_lib
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from raregal.core import config, outputs, registry, report  # noqa: E402

RUN_DIR = Path("paper") / "build" / "mock-smoke"  # the tmp_cfg run's report folder


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
    assert path == tmp_cfg.paths.root / RUN_DIR / "report.html"
    assert "MOCK SURVEY" in html and "smoke" in html
    assert "data:image" not in html  # thumbnails are files beside the report, not embedded
    assert '<a href="../../../figures/mock-smoke/A-fig1.png"><img src="thumbnails/A-fig1.' in html
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
    tex = (tmp_cfg.paths.root / RUN_DIR / "report.tex").read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "R² of 100\\% \\& more" in tex
    assert f"\\input{{{tmp_cfg.paths.root.as_posix()}/paper/tables/mock-smoke/A-table1.tex}}" in tex
    assert "mock survey" in tex and "02\\_preprocess" in tex
    assert "log\\_mstar" in (tmp_cfg.paths.tables / "A-table1.tex").read_text()
    monkeypatch.setenv("PATH", "")
    assert report.compile_pdf(tmp_cfg.paths.root / RUN_DIR / "report.tex") is None


def _table(cfg, output_id="B-table-tags", ours=0.8):
    outputs.save_table(pd.DataFrame({"quantity": ["n"], "ours": [ours], "paper": [np.nan]}), output_id, cfg)


def test_mock_and_real_reports_sit_side_by_side_and_the_index_lists_both(tmp_cfg):
    _figure(tmp_cfg, "B-gallery", caption="mock galaxies")
    _table(tmp_cfg, ours=0.25)
    real = config.setup("smoke", "real", 0)
    registry.mark_prepared(real.data_dir("interim"), "B")  # a paper-B-only real run
    _figure(real, "B-gallery", caption="real galaxies")
    _table(real, ours=0.75)
    root = tmp_cfg.paths.root
    mock_html = report.build_report(root, profile="smoke", source="mock", seed=0).read_text()
    real_html = report.build_report(root, profile="smoke", source="real", seed=0).read_text()
    assert "MOCK SURVEY" in mock_html and "MOCK SURVEY" not in real_html
    assert "mock galaxies" in mock_html and "real galaxies" not in mock_html and "0.25" in mock_html
    assert "real galaxies" in real_html and "mock galaxies" not in real_html and "0.75" in real_html
    assert 'href="../../../figures/real-smoke/B-gallery.png"' in real_html
    assert "figures/mock-smoke" not in real_html
    # the paper-B-only run lists 01 and paper B's notebooks, not paper A's
    assert "07_gz2_labels" in real_html and "02_preprocess" not in real_html
    assert 'id="B-data-summary"' in real_html and 'id="A-data-summary"' not in real_html
    assert "02_preprocess" in mock_html  # no record of its fetch: every notebook
    index = (root / "paper" / "build" / "index.html").read_text()
    assert index.index('href="mock-smoke/report.html"') < index.index('href="real-smoke/report.html"')
    runs = report.list_runs(root)
    assert [(r["source"], r["profile"], r["papers"]) for r in runs] == [
        ("mock", "smoke", "A,B"), ("real", "smoke", "B")]
    assert all(r["commit"] in index and r["generated"] in index for r in runs)


def test_report_refuses_an_output_stamped_by_another_run(tmp_cfg):
    _figure(tmp_cfg, "B-gallery")
    real = config.setup("smoke", "real", 0)
    _figure(real, "B-fig2")
    for name in ("B-gallery.png", "B-gallery.json"):  # a mock figure copied into the real run's folder
        shutil.copy(tmp_cfg.paths.figures / name, real.paths.figures / name)
    with pytest.raises(report.ReportError) as err:
        report.build_report(tmp_cfg.paths.root, profile="smoke", source="real", seed=0)
    assert str(err.value) == (
        "the real-smoke report refuses figures/real-smoke/B-gallery.json: it is stamped mock-smoke, and a "
        "report never mixes runs; move figures/real-smoke/B-gallery.* to figures/mock-smoke/ or delete it "
        "and rerun the notebook that makes it with this run's --source and --profile")
    assert not real.paths.report_dir.exists() or not list(real.paths.report_dir.iterdir())
    (real.paths.figures / "B-gallery.json").unlink()
    legacy = pd.DataFrame({"quantity": ["n"], "ours": [1.0], "paper": [np.nan], "source": ["mock"],
                           "profile": ["smoke"]})
    legacy.to_csv(real.paths.tables / "B-table-tags.csv", index=False)  # no sidecar: its columns say
    with pytest.raises(report.ReportError, match="refuses paper/tables/real-smoke/B-table-tags.csv"):
        report.build_report(tmp_cfg.paths.root, profile="smoke", source="real", seed=0)
    (real.paths.tables / "B-table-tags.csv").unlink()
    outputs.record("n", 1, tmp_cfg)
    shutil.copy(tmp_cfg.paths.tables / outputs.RECORDS_FILE, real.paths.tables / outputs.RECORDS_FILE)
    with pytest.raises(report.ReportError, match="refuses paper/tables/real-smoke/records.json"):
        report.build_report(tmp_cfg.paths.root, profile="smoke", source="real", seed=0)


def test_latex_escape():
    assert report.latex_escape("a_b & 5% {x} #1 $y$ ~^\\") == (
        "a\\_b \\& 5\\% \\{x\\} \\#1 \\$y\\$ \\textasciitilde{}\\^{}\\textbackslash{}")


def test_git_commit_outside_git_is_reported(tmp_path):
    assert report.git_commit(tmp_path).startswith("unknown")


def _figure(tmp_cfg, output_id, caption="", image=None):
    fig, ax = plt.subplots(figsize=(8, 3))
    if image is None:
        ax.plot(np.linspace(0, 1, 50) ** 2)
    else:
        ax.imshow(image)
    outputs.save_figure(fig, output_id, tmp_cfg, caption=caption)
    plt.close(fig)


def _galaxy(rng, size=256):
    """A smooth elliptical blob with noise: the kind of image JPEG stores best."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    light = np.exp(-(x ** 2 + 3 * y ** 2) * 4)[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(light + rng.normal(0, 0.03, (size, size, 3)), 0, 1)


def test_thumbnails_are_small_and_reused_until_the_figure_changes(tmp_cfg):
    rng = np.random.default_rng(0)
    _figure(tmp_cfg, "A-fig1")  # a line plot: the 256-colour PNG is smaller and stays sharp
    _figure(tmp_cfg, "B-fig3", image=_galaxy(rng))
    out_dir = tmp_cfg.paths.root / RUN_DIR
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    thumbs = {p.name.split(".")[0]: p for p in (out_dir / report.THUMBNAIL_DIR).iterdir()}
    assert sorted(thumbs) == ["A-fig1", "B-fig3"]
    assert (thumbs["A-fig1"].suffix, thumbs["B-fig3"].suffix) == (".png", ".jpg")
    for output_id, thumb in thumbs.items():
        png = tmp_cfg.paths.figures / f"{output_id}.png"
        with Image.open(thumb) as t, Image.open(png) as full:
            assert t.width == min(full.width, report.THUMBNAIL_WIDTH)
            assert abs(t.height / t.width - full.height / full.width) < 0.01  # same aspect ratio
        assert thumb.stat().st_size < png.stat().st_size
    mtime = thumbs["A-fig1"].stat().st_mtime_ns
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    assert thumbs["A-fig1"].stat().st_mtime_ns == mtime  # unchanged figure: not resized again
    _figure(tmp_cfg, "A-fig1", image=rng.random((8, 8)))
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    new = [p for p in (out_dir / report.THUMBNAIL_DIR).iterdir() if p.name.startswith("A-fig1.")]
    assert len(new) == 1 and new[0] != thumbs["A-fig1"]  # new name: no stale browser cache
    (tmp_cfg.paths.figures / "B-fig3.png").unlink()  # a figure that is gone leaves no thumbnail behind
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    assert [p.name for p in (out_dir / report.THUMBNAIL_DIR).iterdir()] == [new[0].name]


def test_figures_listed_by_no_notebook_are_still_shown(tmp_cfg):
    _figure(tmp_cfg, "A-old-name")
    html = report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0).read_text()
    assert 'id="A-old-name"' in html and 'href="../../../figures/mock-smoke/A-old-name.png"' in html


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

HARNESS = """<!doctype html><html><body>
<iframe id="report" src="%s" width="1200" height="900"></iframe><pre id="result">pending</pre>
<script>
const frame = document.getElementById("report"), seen = {images: [], links: {}, done: false};
const show = () => { document.getElementById("result").textContent = JSON.stringify(seen); };
const settled = img => img.complete ? Promise.resolve() : new Promise(ok => {
  img.addEventListener("load", ok, {once: true}); img.addEventListener("error", ok, {once: true}); });
frame.onload = async () => {
  const doc = frame.contentDocument;
  for (const img of doc.images) {  // scrolled to one by one, as a reader would: lazy images load
    img.scrollIntoView();
    await settled(img);
    seen.images.push({alt: img.alt, src: img.getAttribute("src"), natural: img.naturalWidth,
                      shown: img.getBoundingClientRect().width});
    show();
  }
  const hrefs = new Set([...doc.querySelectorAll("a[href]")].map(a => a.href.split("#")[0]));
  for (const href of hrefs) {
    seen.links[href] = await fetch(href).then(r => r.status, () => 0);
    show();
  }
  seen.done = true;
  show();
};
</script></body></html>"""


def open_in_browser(root, page: str, tmp_path) -> dict:
    """Serve ``root`` on 127.0.0.1, open ``page`` in headless chromium; what each image and link did.

    The report is loaded in a frame of a page from the same server, whose script scrolls to every
    image in turn (so lazy ones load), fetches every link and writes what it saw into the DOM that
    ``--dump-dom`` prints. No Python package is needed beyond the standard library.
    """
    browser = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if browser is None:
        pytest.skip("no chromium on PATH, so the report was not opened in a browser "
                    "(install it: apt-get install chromium; .ci/run does when apt is available)")
    (root / "report-check.html").write_text(HARNESS % page)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        res = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=30000",
             "--dump-dom", f"http://127.0.0.1:{server.server_address[1]}/report-check.html"],
            capture_output=True, text=True, timeout=180)
    finally:
        server.shutdown()
        server.server_close()
    found = re.search(r'<pre id="result">(.*?)</pre>', res.stdout, re.S)
    assert found and found.group(1) != "pending", f"chromium gave no result:\n{res.stderr[-3000:]}"
    seen = json.loads(html_lib.unescape(found.group(1)))
    assert seen["done"], f"the page stopped at an image or link that never answered: {seen}"
    return seen


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_report_in_a_browser_shows_every_figure_and_no_link_is_broken(tmp_cfg, tmp_path):
    rng = np.random.default_rng(1)
    _figure(tmp_cfg, "A-fig1", caption="latents vs truth")
    _figure(tmp_cfg, "B-fig3", image=_galaxy(rng))
    _figure(tmp_cfg, "B-fig9")
    outputs.save_table(pd.DataFrame({"quantity": ["z"], "ours": [0.8], "paper": [0.83]}), "A-table1", tmp_cfg)
    report.build_report(tmp_cfg.paths.root, profile="smoke", source="mock", seed=0)
    moved = tmp_path / "moved" / "repository"  # relative links: the folder can move
    shutil.copytree(tmp_cfg.paths.root, moved, ignore=shutil.ignore_patterns("moved"))
    seen = open_in_browser(moved, f"{RUN_DIR.as_posix()}/report.html", tmp_path)
    made = sorted(p.stem for p in (moved / "figures" / "mock-smoke").glob("*.png"))
    assert made == ["A-fig1", "B-fig3", "B-fig9"]
    assert sorted(i["alt"] for i in seen["images"]) == made
    for img in seen["images"]:
        assert img["natural"] > 0 and img["shown"] > 0, img  # loaded and laid out
    broken = {h: status for h, status in seen["links"].items() if status != 200}
    assert not broken
    assert sum(h.endswith(".png") for h in seen["links"]) == 3
    assert sum(h.endswith(".pdf") for h in seen["links"]) == 3

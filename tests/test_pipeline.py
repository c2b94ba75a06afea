import json

import pytest

from raregal.core import pipeline, registry


def test_parse_param_literals_and_strings():
    assert pipeline.parse_param("n_epochs=5") == ("n_epochs", 5)
    assert pipeline.parse_param("lr=1e-3") == ("lr", 0.001)
    assert pipeline.parse_param("name=hello world") == ("name", "hello world")
    assert pipeline.parse_param("flag=True") == ("flag", True)
    with pytest.raises(pipeline.PipelineError, match="name=value"):
        pipeline.parse_param("oops")
    with pytest.raises(pipeline.PipelineError, match="not a valid Python identifier"):
        pipeline.parse_param("1x=3")


def test_notebook_parameters_reads_literals(tmp_path):
    src = tmp_path / "nb.py"
    src.write_text('# %% [markdown]\n# # t\n\n# %% tags=["parameters"]\nprofile = "smoke"  # p\nn = 3\n\n'
                   '# %%\nx = n + 1\n')
    assert pipeline.notebook_parameters(src) == {"profile": "smoke", "n": 3}
    src.write_text('# %% tags=["parameters"]\nn = 3\nm = n + 1\n')
    with pytest.raises(pipeline.PipelineError, match="only 'name = literal'"):
        pipeline.notebook_parameters(src)
    src.write_text('# %%\nn = 3\n')
    with pytest.raises(pipeline.PipelineError, match="exactly one cell tagged 'parameters'"):
        pipeline.notebook_parameters(src)


@pytest.mark.parametrize("argv, message", [
    (["--profile", "huge"], "unknown profile 'huge'"),
    (["--source", "web"], "unknown source 'web'"),
    (["--only", "13"], "unknown notebook number"),
    (["--only", "01", "-p", "nope=1"], "no selected notebook declares parameter(s) nope"),
    (["--only", "01", "--kernel", "no-such-kernel"], "kernel 'no-such-kernel' is not installed"),
    (["-p", "seed=-3", "--only", "01"], "seed must be >= 0"),
    (["--papers", "C"], "papers 'C': give A, B or A,B"),
    (["--papers", "B", "--only", "01,02"], "notebook 02_preprocess belongs to paper A, not to --papers B"),
    (["-p", "papers=A", "--only", "07"], "notebook 07_gz2_labels belongs to paper B, not to --papers A"),
])
def test_main_bad_input_one_line_and_exit_2(argv, message, capsys):
    assert pipeline.main([*argv, "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("run_all: error:") and message in err and "\n" not in err


def test_save_timings_merges_runs(tmp_path):
    pipeline._save_timings(tmp_path, [{"notebook": "01_fetch", "seconds": 1.0}])
    pipeline._save_timings(tmp_path, [{"notebook": "02_preprocess", "seconds": 2.0}])
    pipeline._save_timings(tmp_path, [{"notebook": "01_fetch", "seconds": 3.0}])
    data = json.loads((tmp_path / "timings.json").read_text())
    assert data == {"01_fetch": {"notebook": "01_fetch", "seconds": 3.0},
                    "02_preprocess": {"notebook": "02_preprocess", "seconds": 2.0}}


def test_notebook_of_a_paper_not_fetched_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    """After a paper-B-only fetch (Ma et al. 2025 on GZ2 alone), paper B's notebooks run and paper A's
    are refused with the command that prepares paper A."""
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    registry.mark_prepared(tmp_path / "data" / "interim" / "real-smoke", "B")
    assert pipeline.main(["--source", "real", "--profile", "smoke", "--only", "02", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert ("notebook 02_preprocess needs paper A's data, but 01_fetch prepared only paper B for the "
            "real/smoke run: run ./run_all.sh --source real --profile smoke --only 01 --papers A first"
            ) in err and "(02–06)" in err
    selected = registry.select("07,08")
    pipeline.check_prepared(selected, ("B",), ("A", "B"), "real", "smoke")  # paper B is there
    pipeline.check_prepared(registry.select("01,02"), ("B",), ("A",), "real", "smoke")  # 01 fetches A
    pipeline.check_prepared(registry.select("02"), None, ("A", "B"), "real", "smoke")  # no record
    with pytest.raises(pipeline.PipelineError, match="needs paper B's data"):
        pipeline.check_prepared(selected, ("A",), ("A", "B"), "mock", "default")


def test_papers_reach_01_fetch_only():
    args = pipeline._arguments(["--papers", "B", "-p", "gz2_cap=3"])
    args.papers = registry.parse_papers(args.papers)
    declared = {"01": {"profile": 0, "source": 0, "seed": 0, "papers": "A,B"},
                "07": {"profile": 0, "source": 0, "seed": 0, "gz2_cap": 1}}
    extra = {"gz2_cap": 3}
    assert pipeline._params(registry.BY_NUMBER["01"], args, 5, declared, extra) == {
        "profile": "default", "source": "mock", "seed": 5, "papers": "B"}
    assert pipeline._params(registry.BY_NUMBER["07"], args, 5, declared, extra) == {
        "profile": "default", "source": "mock", "seed": 5, "gz2_cap": 3}

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


def test_select_only_and_from():
    assert [nb.number for nb in registry.select("4,05")] == ["04", "05"]
    assert [nb.number for nb in registry.select(start="11")] == ["11", "12"]
    assert [nb.number for nb in registry.select("01,12", start="05")] == ["12"]
    with pytest.raises(ValueError, match="unknown notebook number"):
        registry.select("13")
    with pytest.raises(ValueError, match="--from"):
        registry.select(start="99")
    with pytest.raises(ValueError, match="no notebook selected"):
        registry.select("01", start="02")


def test_registry_ids_unique_and_match_design():
    ids = [o.id for nb in registry.NOTEBOOKS for o in nb.outputs]
    assert len(ids) == len(set(ids))
    assert [nb.number for nb in registry.NOTEBOOKS] == [f"{i:02d}" for i in range(1, 13)]
    for needed in ("A-fig1", "A-table1", "A-fig2", "A-table-svm", "A-fig3", "B-fig2", "B-table1", "B-fig3",
                   "B-figA1", "B-figA2", "B-fig4", "B-fig5", "B-table2", "B-table3", "B-fig9", "B-figD4"):
        assert needed in ids


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
])
def test_main_bad_input_one_line_and_exit_2(argv, message, capsys):
    assert pipeline.main([*argv, "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("run_all: error:") and message in err and "\n" not in err


def test_save_timings_merges_runs(tmp_path):
    pipeline._save_timings(tmp_path, [{"notebook": "01_fetch", "seconds": 1.0}])
    pipeline._save_timings(tmp_path, [{"notebook": "02_preprocess", "seconds": 2.0}])
    data = json.loads((tmp_path / "build" / "timings.json").read_text())
    assert set(data) == {"01_fetch", "02_preprocess"}

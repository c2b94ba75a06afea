"""The notebook → outputs map: notebooks, their papers, the --only/--from/--papers selection and the
record of the papers 01_fetch prepared."""
import json

import pytest

from raregal.core import registry


def _numbers(notebooks):
    return [nb.number for nb in notebooks]


def test_registry_ids_unique_and_match_design():
    ids = [o.id for nb in registry.NOTEBOOKS for o in nb.outputs]
    assert len(ids) == len(set(ids))
    assert _numbers(registry.NOTEBOOKS) == [f"{i:02d}" for i in range(1, 13)]
    for needed in ("A-fig1", "A-table1", "A-fig2", "A-table-svm", "A-fig3", "B-fig2", "B-table1", "B-fig3",
                   "B-figA1", "B-figA2", "B-fig4", "B-fig5", "B-table2", "B-table3", "B-fig9", "B-figD4",
                   "B-gallery"):
        assert needed in ids
    assert not [i for i in ids if "mock" in i]  # outputs are named by what they show, not by the source


def test_each_notebook_belongs_to_its_paper():
    """Paper A (Gagliano & Villar 2023) is 02–06, paper B (Ma et al. 2025) 07–12; 01 prepares both."""
    assert registry.BY_NUMBER["01"].papers == ("A", "B")
    assert [nb.number for nb in registry.NOTEBOOKS if nb.papers == ("A",)] == ["02", "03", "04", "05", "06"]
    assert [nb.number for nb in registry.NOTEBOOKS if nb.papers == ("B",)] == [
        "07", "08", "09", "10", "11", "12"]
    for nb in registry.NOTEBOOKS[1:]:  # an output's id names its paper
        assert all(o.paper == nb.papers[0] for o in nb.outputs if o.kind != "catalog")
    assert [o.paper for o in registry.BY_NUMBER["01"].outputs] == ["A", "B"]
    assert registry.Output("detg_candidates", "catalog", "").paper == ""
    assert registry.Output("Z-fig1", "figure", "").paper == ""
    assert (registry.numbers_of("A"), registry.numbers_of("B")) == ("02–06", "07–12")


def test_parse_papers():
    assert registry.parse_papers("A,B") == ("A", "B")
    assert registry.parse_papers(" b , a ") == ("A", "B")  # order and case do not matter
    assert registry.parse_papers("B") == ("B",)
    assert registry.parse_papers(("A",)) == ("A",)
    for bad in ("C", "", "A,C", ","):
        with pytest.raises(ValueError, match="give A, B or A,B"):
            registry.parse_papers(bad)


def test_select_only_and_from():
    assert _numbers(registry.select("4,05")) == ["04", "05"]
    assert _numbers(registry.select(start="11")) == ["11", "12"]
    assert _numbers(registry.select("01,12", start="05")) == ["12"]
    with pytest.raises(ValueError, match="unknown notebook number"):
        registry.select("13")
    with pytest.raises(ValueError, match="--from"):
        registry.select(start="99")
    with pytest.raises(ValueError, match="no notebook selected"):
        registry.select("01", start="02")


def test_select_papers_picks_one_papers_notebooks():
    assert _numbers(registry.select(papers="B")) == ["01", "07", "08", "09", "10", "11", "12"]
    assert _numbers(registry.select(papers="A")) == ["01", "02", "03", "04", "05", "06"]
    assert _numbers(registry.select("07,09", papers="B")) == ["07", "09"]
    assert _numbers(registry.select(start="03", papers="B")) == ["07", "08", "09", "10", "11", "12"]
    with pytest.raises(ValueError, match="notebook 03_train_cvae belongs to paper A, not to --papers B"):
        registry.select("01,03", papers="B")


def test_prepared_papers_are_recorded_and_merged(tmp_path):
    assert registry.read_prepared(tmp_path) is None  # no record: nothing is known
    assert registry.mark_prepared(tmp_path, "B") == ("B",)
    assert registry.read_prepared(tmp_path) == ("B",)
    assert registry.mark_prepared(tmp_path, "A") == ("A", "B")  # a later fetch of A keeps B
    assert json.loads((tmp_path / registry.PAPERS_FILE).read_text()) == {"papers": ["A", "B"]}
    assert [p.name for p in tmp_path.iterdir()] == [registry.PAPERS_FILE]  # no temporary file left

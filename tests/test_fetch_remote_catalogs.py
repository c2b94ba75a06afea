"""Catalog downloads (GAMA DR4, Zou et al. 2022 by TAP, GSWLC-2) against a loopback server: cached,
checksummed, checked before they take their final name, and clear about every bad answer."""
from __future__ import annotations

import gzip

import catalog_server as loopback
import fixtures_server
import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from catalog_server import (
    GAMA_PATH,
    GSWLC_OBJID0,
    GSWLC_PATH,
    PHOTOMETRY_COLUMNS,
    PHOTOMETRY_TABLE,
    ZOU_COLUMNS,
    ZOU_TABLES,
    gama_fits_bytes,
    gswlc_gz,
    gswlc_rows,
    gswlc_text,
    serve_all,
    zou_rows,
)

from raregal.fetch import catalogs, gswlc, remote_catalogs
from raregal.fetch.catalogs import CatalogError
from raregal.fetch.http import FetchError, RetryPolicy, sha256_of

catalog_server = loopback.catalog_server  # the fixtures, under the names the tests ask for
real_cfg = fixtures_server.real_cfg
FAST = RetryPolicy(retries=1, backoff=0.01, timeout=5.0, delay=0.0)


def gz2_frame(rows: np.ndarray) -> pd.DataFrame:
    """GZ2 galaxies at GSWLC rows 0, 1, 2 (0.3″ off), plus one far from every GSWLC galaxy."""
    return pd.DataFrame({"dr7objid": [587722981741363294, 587722981741363323, 587722981741559888,
                                      587722981742084253],
                         "ra": [rows[0, 5], rows[1, 5] + 0.3 / 3600, rows[2, 5], 10.0],
                         "dec": [rows[0, 6], rows[1, 6], rows[2, 6], -5.0]})


def fetch(server, folder, **kw):
    return remote_catalogs.fetch_catalogs(folder, urls=remote_catalogs.addresses(server.url),
                                          policy=FAST, **kw)


def leftovers(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_all_three_are_fetched_checksummed_and_a_second_run_downloads_nothing(catalog_server,
                                                                                tmp_path):
    serve_all(catalog_server)
    rows = gswlc_rows()
    status = fetch(catalog_server, tmp_path, gz2_catalog=gz2_frame(rows))
    assert [status[k].split()[0] for k in ("gama", "zou22", "gswlc", "gz2_physical")] == \
        ["downloaded", "downloaded", "downloaded", "made"]
    for name in ("StellarMassesGKVv24.fits", "zou22.ecsv", "GSWLC-X2.dat.gz", "gz2_physical.csv.gz"):
        digest, stem = (tmp_path / f"{name}.sha256").read_text().split()
        assert (digest, stem) == (sha256_of(tmp_path / name), name)
    assert not (tmp_path / remote_catalogs.STAGING).exists()
    assert "Mozilla/" in catalog_server.gets(GAMA_PATH)[0]["User-Agent"]  # the server's 403 otherwise
    assert (tmp_path / "GSWLC-X2.dat.gz").read_bytes() == catalog_server.files[GSWLC_PATH]
    n_requests = len(catalog_server.log)
    again = fetch(catalog_server, tmp_path)
    assert [again[k].split()[0] for k in ("gama", "zou22", "gswlc")] == ["cached"] * 3
    assert len(catalog_server.log) == n_requests
    # the readers take the files under the names they look for
    assert catalogs.find_catalog_file(tmp_path, "gama_stellar_masses").name == "StellarMassesGKVv24.fits"
    assert catalogs.find_catalog_file(tmp_path, "zou22").name == "zou22.ecsv"
    assert catalogs.find_catalog_file(tmp_path, "gz2_physical").name == "gz2_physical.csv.gz"


def test_zou22_is_a_z_selection_found_by_ucd_with_units_read(catalog_server, tmp_path):
    fetch(catalog_server, tmp_path, only=["zou22"], z_max=1.0)
    queries = catalog_server.queries()
    assert "TAP_SCHEMA.columns" in queries[0] and "'J/ApJS/262/15/%'" in queries[0]
    assert sorted(q.split('FROM "')[1].split('"')[0] for q in queries[1:]) == sorted(ZOU_TABLES)
    assert all('WHERE "zsp" > 0 AND "zsp" < 1' in q and '"zph"' not in q for q in queries[1:])
    table = Table.read(tmp_path / "zou22.ecsv")
    assert str(table["logmstar"].unit) == "dex(solMass)"
    assert str(table["logsfr"].unit) == "dex(solMass / yr)"
    df = catalogs.read_catalog(tmp_path / "zou22.ecsv", catalog="zou22")
    truth = zou_rows(ZOU_TABLES[0])
    keep = (truth["zsp"] > 0) & (truth["zsp"] < 1)
    first = df[df["catalog_id"].str.startswith("wcdfs:")]
    np.testing.assert_allclose(first["z"], truth["zsp"][keep])
    np.testing.assert_allclose(first["logmstar"], truth["lgM"][keep])
    np.testing.assert_allclose(first["logsfr_err"], 0.2)
    assert first["catalog_id"].tolist() == [f"wcdfs:{s}" for s in truth["Seq"][keep]]
    assert df["catalog_id"].is_unique and len(df) == 2 * int(keep.sum())


@pytest.mark.parametrize("plain", [False, True], ids=["gzip", "sent-decompressed"])
def test_gswlc_becomes_gz2_physical_joined_by_position(catalog_server, tmp_path, plain):
    rows = gswlc_rows()
    serve_all(catalog_server, gswlc_text(rows) if plain else gswlc_gz(rows))
    status = fetch(catalog_server, tmp_path, only=["gswlc"], gz2_catalog=gz2_frame(rows))
    assert "3 GZ2 galaxies with GSWLC values" in status["gz2_physical"]
    assert "without a GSWLC galaxy within 2″: 1" in status["gz2_physical"]
    phys = pd.read_csv(tmp_path / "gz2_physical.csv.gz")
    assert phys["dr7objid"].tolist() == gz2_frame(rows)["dr7objid"][:3].tolist()
    assert phys["gswlc_objid"].tolist() == [GSWLC_OBJID0, GSWLC_OBJID0 + 1, GSWLC_OBJID0 + 2]
    np.testing.assert_allclose(phys["z"], rows[:3, 7], atol=1e-6)
    np.testing.assert_allclose(phys["logmstar"][:2], rows[:2, 9], atol=1e-6)
    assert phys.loc[2, ["logmstar", "logsfr"]].isna().all()  # −99: no SED fit
    from raregal.fetch.gz2 import read_physical  # what prepare_gz2 reads next
    aligned, note = read_physical(tmp_path / "gz2_physical.csv.gz", gz2_frame(rows)["dr7objid"])
    assert "3 of 4 galaxies matched" in note and aligned["loghalomass"].isna().all()


def test_gswlc_reader_states_units_and_counts_missing(tmp_path):
    rows = gswlc_rows()
    (tmp_path / "g.dat.gz").write_bytes(gswlc_gz(rows))
    df = gswlc.read_gswlc(tmp_path / "g.dat.gz")
    assert df["objid"].dtype == np.int64 and df["objid"][5] == GSWLC_OBJID0 + 5
    assert df.attrs["missing"] == {"logmstar": 1, "logmstar_err": 1, "logsfr": 1, "logsfr_err": 1}
    assert df.attrs["units"]["logsfr"] == "dex(solMass/yr)"
    (tmp_path / "short.dat").write_bytes(gswlc_text(rows[:, :23]))
    with pytest.raises(CatalogError, match=r"short.dat: line 1 has 23 columns, GSWLC-2 has 24"):
        gswlc.read_gswlc(tmp_path / "short.dat")
    (tmp_path / "cut.dat.gz").write_bytes(gswlc_gz(rows)[:-30])
    with pytest.raises(CatalogError, match=r"cut.dat.gz: cannot read the GSWLC-2 table.*truncated"):
        gswlc.read_gswlc(tmp_path / "cut.dat.gz")


def test_halo_masses_from_the_user_join_the_gswlc_table(catalog_server, tmp_path):
    rows = gswlc_rows()
    serve_all(catalog_server)
    gz2 = gz2_frame(rows)
    pd.DataFrame({"dr7objid": gz2["dr7objid"][:2], "loghalomass": [12.5, 13.1]}).to_csv(
        tmp_path / "gz2_halo_masses.csv", index=False)
    fetch(catalog_server, tmp_path, only=["gswlc"], gz2_catalog=gz2)
    phys = pd.read_csv(tmp_path / "gz2_physical.csv.gz")
    assert phys["loghalomass"].tolist()[:2] == [12.5, 13.1] and np.isnan(phys["loghalomass"][2])


@pytest.mark.parametrize("key,path", [("gama", GAMA_PATH), ("gswlc", GSWLC_PATH)])
@pytest.mark.parametrize("fault,expect", [
    ("403", "HTTP 403.*refused this client: download .* in a browser and put it at"),
    ("404", "HTTP 404.*not at this address"),
    ("500", "HTTP 500.*gave up after 2 tries.*rerun later"),
    ("truncate", "truncated.*rerun later"),
    ("html", "HTML"),
])
def test_bad_downloads_say_what_and_leave_nothing(catalog_server, tmp_path, key, path, fault, expect):
    serve_all(catalog_server)
    catalog_server.faults[path] = [fault] * 2
    with pytest.raises((FetchError, CatalogError), match=expect) as err:
        fetch(catalog_server, tmp_path, only=[key])
    assert remote_catalogs.REMOTE[key].title in str(err.value)
    assert leftovers(tmp_path) == []


def test_a_failure_does_not_stop_the_others_and_a_run_can_go_on(catalog_server, tmp_path):
    serve_all(catalog_server)
    catalog_server.faults[GAMA_PATH] = ["404"]
    status = fetch(catalog_server, tmp_path, strict=False)
    assert status["gama"].startswith("failed: GAMA DR4") and "HTTP 404" in status["gama"]
    assert status["zou22"].startswith("downloaded") and status["gswlc"].startswith("downloaded")


@pytest.mark.parametrize("fault,expect", [
    ("403", "HTTP 403 .*refuses this client"),
    ("404", "HTTP 404 .*no TAP service at this address"),
    ("500", "HTTP 500 .*gave up after 2 tries"),
    ("html", "not a complete VOTable.*HTML page"),
    ("truncate", "not a complete VOTable.*truncated"),
])
def test_bad_tap_answers_say_what_and_leave_nothing(catalog_server, tmp_path, fault, expect):
    catalog_server.faults["tap:rows"] = [fault] * 2
    with pytest.raises(FetchError, match=expect) as err:
        fetch(catalog_server, tmp_path, only=["zou22"])
    assert "VizieR TAP J/ApJS/262/15/" in str(err.value) and "/TAPVizieR/tap" in str(err.value)
    assert leftovers(tmp_path) == []


def test_tap_overflow_is_refused_not_kept_as_a_partial_table(catalog_server, tmp_path):
    catalog_server.faults["tap:rows"] = ["overflow"]
    with pytest.raises(FetchError, match="stopped at MAXREC=.* incomplete"):
        fetch(catalog_server, tmp_path, only=["zou22"])
    assert leftovers(tmp_path) == []


def test_a_transient_tap_error_is_retried(catalog_server, tmp_path):
    catalog_server.faults["tap:schema"] = ["500"]
    assert fetch(catalog_server, tmp_path, only=["zou22"])["zou22"].startswith("downloaded")


def test_vizier_tables_without_the_needed_columns_are_listed(catalog_server, tmp_path):
    catalog_server.columns = [(PHOTOMETRY_TABLE, *c) for c in PHOTOMETRY_COLUMNS]
    with pytest.raises(CatalogError) as err:
        fetch(catalog_server, tmp_path, only=["zou22"])
    msg = str(err.value)
    assert "no VizieR table of Zou et al. 2022 has all of ra, dec, z, stellar mass and SFR" in msg
    assert "J/ApJS/262/15/photom: Seq[]{meta.id;meta.main}, RAdeg[deg]" in msg
    assert "data/raw/catalogs/zou22.csv" in msg and leftovers(tmp_path) == []


def test_unreadable_tap_units_name_the_column_and_the_way_out(catalog_server, tmp_path):
    odd = [(t, n, "furlongs per dex" if n == "lgM" else unit, ucd)
           for t in ZOU_TABLES for n, unit, ucd in ZOU_COLUMNS]
    catalog_server.columns = odd
    with pytest.raises(CatalogError, match=r"column 'lgM' \(logmstar\) has unit 'furlongs per dex'"
                                           r".*zou22_units=\{'logmstar'"):
        fetch(catalog_server, tmp_path, only=["zou22"])
    assert leftovers(tmp_path) == []
    fetch(catalog_server, tmp_path, only=["zou22"], zou22_units={"logmstar": "dex(solMass)"})
    assert str(Table.read(tmp_path / "zou22.ecsv")["logmstar"].unit) == "dex(solMass)"


def test_gama_file_without_its_columns_or_with_unreadable_units_is_refused(catalog_server, tmp_path):
    catalog_server.files[GAMA_PATH] = gama_fits_bytes(mass_unit="furlongs per dex")
    with pytest.raises(CatalogError, match=r"column 'logmstar' has unit 'furlongs per dex'.*astropy"):
        fetch(catalog_server, tmp_path, only=["gama"])
    assert leftovers(tmp_path) == []
    catalog_server.files[GAMA_PATH] = gswlc_gz(gswlc_rows())
    with pytest.raises(CatalogError, match="not a FITS file"):
        fetch(catalog_server, tmp_path, only=["gama"])
    assert leftovers(tmp_path) == []


def test_present_files_are_kept_and_a_changed_download_is_named(catalog_server, tmp_path):
    serve_all(catalog_server)
    pd.DataFrame({"ra": [1.0], "dec": [0.0], "z": [0.5], "logmstar": [10.0],
                  "logsfr": [0.0]}).to_csv(tmp_path / "zou22.csv", index=False)
    status = fetch(catalog_server, tmp_path, only=["zou22", "gswlc"])
    assert status["zou22"] == "present (zou22.csv)" and not catalog_server.queries()
    with gzip.open(tmp_path / "GSWLC-X2.dat.gz", "ab") as fh:  # someone edits the cached file
        fh.write(b"extra\n")
    with pytest.raises(CatalogError, match="GSWLC-X2.dat.gz differs from the file that was "
                                           "downloaded.*delete both"):
        fetch(catalog_server, tmp_path, only=["gswlc"])


def test_downloaded_gama_without_positions_is_set_aside_when_zou22_is_there(catalog_server, tmp_path):
    from fixtures_server import anomaly_files

    serve_all(catalog_server)
    fetch(catalog_server, tmp_path, only=["gama", "zou22"])
    anomaly_files(tmp_path)
    df = catalogs.load_survey_a_catalog(tmp_path, verbose=False)
    assert set(df.loc[df["class"] == "normal", "catalog"]) == {"zou22"}
    assert "no RA/Dec columns" in df.attrs["skipped"][0] and "gkvScienceCatv02" in df.attrs["skipped"][0]
    (tmp_path / "zou22.ecsv").unlink()
    with pytest.raises(CatalogError, match="missing: a normal-galaxy catalog.*GAMA not used"):
        catalogs.load_survey_a_catalog(tmp_path, verbose=False)


def test_with_address_and_user_supplied_are_told_apart(tmp_path):
    (tmp_path / "green_peas.csv").write_text("ra,dec\n1,2\n")
    status = remote_catalogs.user_supplied_status(tmp_path)
    assert status["green_peas"] == "found green_peas.csv"
    assert status["red_spirals"].startswith("absent: Red Spirals (Masters et al. 2010)")
    assert not set(remote_catalogs.USER_SUPPLIED) & {r.kind for r in remote_catalogs.REMOTE.values()}
    assert remote_catalogs.with_base(remote_catalogs.REMOTE["gswlc"].url, "http://127.0.0.1:9") == \
        "http://127.0.0.1:9/gswlc/GSWLC-X2.dat.gz"


def test_cli_catalogs_command_fetches_lists_user_files_and_fails_in_one_line(catalog_server, tmp_path,
                                                                             monkeypatch, capsys):
    from raregal.fetch.__main__ import main

    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    serve_all(catalog_server)
    http = ["--base-url", catalog_server.url, "--delay", "0", "--retries", "1", "--timeout", "5"]
    assert main(["catalogs", *http]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "data" / "raw" / "catalogs"
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".sha256")) == \
        ["GSWLC-X2.dat.gz", "StellarMassesGKVv24.fits", "zou22.ecsv"]
    assert "catalog gswlc: downloaded" in out and "user-supplied red_spirals: absent: Red Spirals" in out
    catalog_server.faults[GSWLC_PATH] = ["404"]
    (folder / "GSWLC-X2.dat.gz").unlink()
    assert main(["catalogs", "--only", "gswlc", *http]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raregal.fetch: error: GSWLC-2 (Salim et al. 2016, 2018): HTTP 404")
    assert "Traceback" not in err


def test_prepare_gz2_joins_gswlc_values_when_pointed_at_a_catalog_mirror(catalog_server, tmp_path,
                                                                         monkeypatch):
    from fixtures_server import FixtureServer
    from test_fetch_gz2 import IDS, hart16_frame, serve_gz2

    from raregal.core import config
    from raregal.fetch import gz2

    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    cfg = config.setup("smoke", "real", 0).with_overrides(survey_b={"n_galaxies": 2})
    rows = gswlc_rows()
    h = hart16_frame()
    rows[:3, 5], rows[:3, 6] = h.ra[:3], h.dec[:3]  # GSWLC galaxies at GZ2 galaxies 0-2
    serve_all(catalog_server, gswlc_gz(rows))
    with loopback.running(FixtureServer()) as gz2_server:
        serve_gz2(gz2_server)
        res = gz2.prepare_gz2(cfg, hart16_url=gz2_server.url + "/gz2_hart16.csv.gz",
                              zenodo_url=gz2_server.url + "/zenodo", policy=FAST, progress=False,
                              catalog_urls=catalog_server.url)  # a mirror's base URL
    table = pd.read_csv(cfg.data_dir("interim", "gz2") / "gz2_hart16.csv.gz")
    at = [IDS.index(i) for i in table["dr7objid"]]
    assert len(at) > 0 and max(at) < 3 and f"{len(at)} of {len(at)} galaxies matched" in res["physical"]
    np.testing.assert_allclose(table["z"], rows[at, 7], atol=1e-6)
    np.testing.assert_allclose(table["logsfr"], rows[at, 11], atol=1e-6)
    assert [m for m, p, _ in catalog_server.log if p == GAMA_PATH] == []  # paper B needs GSWLC only


def test_prepare_survey_a_uses_the_zou22_download(catalog_server, real_cfg):
    from fixtures_server import FixtureServer, anomaly_files

    from raregal.fetch import legacy_survey

    serve_all(catalog_server)
    anomaly_files(real_cfg.paths.raw / "catalogs")
    with loopback.running(FixtureServer()) as cutouts:
        res = legacy_survey.prepare_survey_a(
            real_cfg, cutouts.url + "/viewer", spec=legacy_survey.CutoutSpec(size=8), policy=FAST,
            workers=1, progress=False, catalog_urls=remote_catalogs.addresses(catalog_server.url))
    kept = pd.read_parquet(res["out_dir"] / "catalog.parquet")
    normal = kept[kept["class"] == "normal"]
    assert len(normal) > 0 and set(normal["catalog"]) == {"zou22"}
    assert (real_cfg.paths.raw / "catalogs" / "StellarMassesGKVv24.fits").exists()  # fetched, set aside

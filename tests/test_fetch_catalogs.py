"""Paper A catalog readers: column spellings, astropy unit handling, joins, drops, clear errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from fixtures_server import anomaly_files, gama_files

from raregal.fetch import catalog_units
from raregal.fetch import catalogs as cat


def test_gama_join_converts_linear_percentiles_to_log_with_errors(tmp_path):
    truth = gama_files(tmp_path)
    df = cat.read_gama(tmp_path / "StellarMassesGKVv24.fits", tmp_path / "MagPhysv06.fits")
    np.testing.assert_allclose(df["ra"], truth["ra"])
    np.testing.assert_allclose(df["logmstar"], truth["logm"])  # from GKV (logmstar column)
    np.testing.assert_allclose(df["logmstar_err"], 0.1)
    np.testing.assert_allclose(df["logsfr"], truth["logsfr"], atol=1e-12)  # joined on CATAID
    np.testing.assert_allclose(df["logsfr_err"], 0.3, atol=1e-12)  # (p84 - p16) / 2 in dex
    assert set(df["class"]) == {"normal"} and list(df["catalog_id"])[:2] == ["1000", "1001"]


def test_magphys_alone_gives_mass_and_sfr_from_percentiles_but_needs_positions(tmp_path):
    truth = gama_files(tmp_path)
    df = cat.read_catalog(tmp_path / "MagPhysv06.fits", required=("z", "logmstar", "logsfr"))
    np.testing.assert_allclose(df["logmstar"], truth["logm"][::-1])
    np.testing.assert_allclose(df["logmstar_err"], 0.2)
    with pytest.raises(cat.CatalogError, match="no RA/Dec columns.*StellarMassesGKVv24"):
        cat.read_gama(None, tmp_path / "MagPhysv06.fits")


def test_sfr_per_gyr_and_per_yr_units_via_astropy(tmp_path):
    pd.DataFrame({"RA": [1.0, 2.0], "DEC": [0.0, 0.0], "Z": [0.1, 0.2], "logmstar": [10.0, 11.0],
                  "logSFR": [9.5, 10.0], "e_logSFR": [0.2, 0.3]}).to_csv(tmp_path / "a.csv",
                                                                        index=False)
    df = cat.read_catalog(tmp_path / "a.csv", units={"logsfr": "dex(solMass/Gyr)"})
    np.testing.assert_allclose(df["logsfr"], [0.5, 1.0])  # the authors' +9 undone
    np.testing.assert_allclose(df["logsfr_err"], [0.2, 0.3])  # dex errors are unit-free
    np.testing.assert_allclose(catalog_units.log_sfr_per_gyr(df["logsfr"]), [9.5, 10.0])
    # CIGALE style: linear M☉ and M☉/yr with linear 1σ errors
    pd.DataFrame({"RA": [1.0], "DEC": [0.0], "zspec": [0.5], "bayes.stellar.m_star": [1e10],
                  "bayes.stellar.m_star_err": [1e9], "bayes.sfh.sfr": [10.0],
                  "bayes.sfh.sfr_err": [2.0]}).to_csv(tmp_path / "zou22.csv", index=False)
    z = cat.read_catalog(tmp_path / "zou22.csv", catalog="zou22")
    np.testing.assert_allclose([z.logmstar[0], z.logsfr[0]], [10.0, 1.0])
    np.testing.assert_allclose([z.logmstar_err[0], z.logsfr_err[0]],
                               [0.1 / np.log(10), 0.2 / np.log(10)])
    assert z.z_err[0] == cat.SPECZ_ERR


def test_missing_column_error_names_field_and_how_to_map_it(tmp_path):
    pd.DataFrame({"RA": [1.0], "DEC": [0.0], "Z": [0.1], "mass": [10.0],
                  "SFR": [1.0]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(cat.CatalogError, match=r"missing column for 'logmstar'.*columns=\{'logmstar'"):
        cat.read_catalog(tmp_path / "x.csv")
    df = cat.read_catalog(tmp_path / "x.csv", columns={"logmstar": "mass"},
                          units={"logsfr": "solMass/yr"})
    assert df.logmstar[0] == 10.0 and df.logsfr[0] == 0.0
    with pytest.raises(cat.CatalogError, match="'nope' given for 'z' is not in the file"):
        cat.read_catalog(tmp_path / "x.csv", columns={"z": "nope", "logmstar": "mass"})
    with pytest.raises(cat.CatalogError, match="unknown unit"):
        cat.read_catalog(tmp_path / "x.csv", columns={"logmstar": "mass"}, units={"logsfr": "bogus"})


def test_load_survey_a_catalog_needs_every_file_and_says_which(tmp_path):
    with pytest.raises(cat.CatalogError) as err:
        cat.load_survey_a_catalog(tmp_path, verbose=False)
    for name in ("MagPhysv06", "zou22", "green_peas", "red_spirals"):
        assert name in str(err.value)
    gama_files(tmp_path)
    with pytest.raises(cat.CatalogError, match="missing: red_spirals") as err:
        pd.DataFrame({"ra": [1.0], "dec": [1.0]}).to_csv(tmp_path / "green_peas.csv", index=False)
        cat.load_survey_a_catalog(tmp_path, verbose=False)
    assert "green_peas" not in str(err.value)


def test_load_survey_a_catalog_schema_ids_and_counted_drops(tmp_path):
    truth = gama_files(tmp_path)
    anomaly_files(tmp_path, ra0=float(truth["ra"][0]))  # GP1 sits on GAMA galaxy 0
    t = Table.read(tmp_path / "StellarMassesGKVv24.fits")
    t["Z"][1] = 1.5  # outside z < 1
    t["logmstar"][2] = np.nan
    t.write(tmp_path / "StellarMassesGKVv24.fits", overwrite=True)
    pd.read_csv(tmp_path / "green_peas.csv").assign(dec=[float(truth["dec"][0]), 0.5]).to_csv(
        tmp_path / "green_peas.csv", index=False)
    df = cat.load_survey_a_catalog(tmp_path, verbose=False)
    assert list(df.columns[:10]) == list(cat.SCHEMA)
    assert df["id"].dtype == np.int64 and list(df["id"]) == list(range(len(df)))
    assert df["class"].value_counts().to_dict() == {"normal": 3, "green_pea": 2, "red_spiral": 2}
    drops = df.attrs["drops"]
    assert drops["normal outside 0 < z < 1"] == 1
    assert drops["normal without finite ra/dec/z/M*/SFR/errors"] == 1
    assert drops["normal duplicating an anomaly"] == 1
    assert drops["anomaly without position"] == 1
    rs = df[df["class"] == "red_spiral"]
    assert list(rs["z"]) == [0.05, 0.06] and rs["logsfr"].isna().all()


def test_gama_join_by_position_when_no_shared_cataid(tmp_path):
    truth = gama_files(tmp_path, n=4)
    sm = Table.read(tmp_path / "StellarMassesGKVv24.fits")
    sm.remove_column("CATAID")
    sm.write(tmp_path / "StellarMassesGKVv24.fits", overwrite=True)
    mp = Table.read(tmp_path / "MagPhysv06.fits")
    mp["RA"], mp["DEC"] = truth["ra"][::-1] + 0.3 / 3600, truth["dec"][::-1]  # 0.3" offsets
    mp.remove_row(0)  # galaxy 3 has no MagPhys fit
    mp.write(tmp_path / "MagPhysv06.fits", overwrite=True)
    df = cat.read_gama(tmp_path / "StellarMassesGKVv24.fits", tmp_path / "MagPhysv06.fits")
    np.testing.assert_allclose(df["logsfr"][:3], truth["logsfr"][:3], atol=1e-12)
    assert np.isnan(df["logsfr"][3]) and np.isnan(df["logsfr_err"][3])  # unmatched → NaN (dropped later)


def test_fits_units_are_read_like_catalogs_write_them_or_named_when_unreadable(tmp_path):
    from astropy.io import fits

    def write(sfr_unit):
        cols = [fits.Column("RA", "D", unit="deg", array=[1.0]), fits.Column("DEC", "D", array=[0.0]),
                fits.Column("Z", "D", array=[0.1]),
                fits.Column("logmstar", "D", unit="dex(solMass)", array=[10.0]),
                fits.Column("SFR", "D", unit=sfr_unit, array=[0.5])]
        fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "t.fits", overwrite=True)

    write("log(Msun/yr)")  # astropy's FITS reader knows neither dex(...) nor log(...)
    df = cat.read_catalog(tmp_path / "t.fits")
    assert df.logmstar[0] == 10.0 and df.logsfr[0] == 0.5  # read as dex, not as linear M☉/yr
    write("furlongs")
    with pytest.raises(cat.CatalogError, match=r"column 'SFR': the file gives the unit 'furlongs'"):
        cat.read_catalog(tmp_path / "t.fits")
    assert catalog_units.parse_unit("[Msun]") == catalog_units.LOG_MASS
    assert catalog_units.parse_unit("---") is None


def test_gkv_masses_without_positions_take_them_from_the_positions_file(tmp_path):
    truth = gama_files(tmp_path, n=4)
    sm = Table.read(tmp_path / "StellarMassesGKVv24.fits")
    pos = sm["uberID", "CATAID", "RAcen", "Deccen"][::-1]  # another order: joined on uberID
    pos.remove_row(0)  # the last galaxy has no position
    pos.write(tmp_path / "gkvScienceCatv02.fits")
    sm.remove_columns(["RAcen", "Deccen", "CATAID"])  # as DR4 StellarMassesGKV: no RA/Dec
    sm.write(tmp_path / "StellarMassesGKVv24.fits", overwrite=True)
    with pytest.raises(cat.GamaIncomplete, match="no RA/Dec columns.*gkvScienceCatv02.fits"):
        cat.read_gama(tmp_path / "StellarMassesGKVv24.fits", tmp_path / "MagPhysv06.fits")
    df = cat.read_gama(tmp_path / "StellarMassesGKVv24.fits", tmp_path / "MagPhysv06.fits",
                       positions=tmp_path / "gkvScienceCatv02.fits")
    np.testing.assert_allclose(df["ra"][:3], truth["ra"][:3])
    np.testing.assert_allclose(df["logsfr"][:3], truth["logsfr"][:3], atol=1e-12)  # CATAID via positions
    assert np.isnan(df["ra"][3])  # no position: dropped and counted by load_survey_a_catalog
    with pytest.raises(cat.GamaIncomplete, match="no SFR column; put GAMA MagPhysv06.fits"):
        cat.read_gama(tmp_path / "StellarMassesGKVv24.fits", None,
                      positions=tmp_path / "gkvScienceCatv02.fits")

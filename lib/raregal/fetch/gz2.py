"""Paper B's real data: the Hart et al. 2016 GZ2 catalog and the Zenodo image archive, joined on objid.

Why: the label code (``raregal.paper_b.labels``) and image reader expect one folder of
``<dr7objid>.jpg`` and one ``gz2_hart16.csv.gz`` (CONTRIBUTING.md). The real sources are a catalog
(csv.gz, S3), a 3.4 GB zip of JPEGs named by ``asset_id`` and a mapping file (Zenodo 3565489), or the
Kaggle "Galaxy Zoo challenge" files for people who have those. :func:`prepare_gz2` turns either into
the contract layout, takes the profile's number of galaxies (seeded), validates every JPEG and lists
each galaxy it could not use with a reason (``fetch_drops.csv``). Physical columns come from GSWLC-2
(:mod:`raregal.fetch.gswlc`, downloaded) or a user table; the Kaviraj et al. 2012 D-ETG list and halo
masses are user-supplied (``data/raw/catalogs/``).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from raregal.core.outputs import atomic_path
from raregal.fetch import remote_catalogs
from raregal.fetch.catalogs import CatalogError, crossmatch, find_catalog_file, read_table
from raregal.fetch.http import RetryPolicy, check_reachable, download_file, make_session

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

HART16_URL = "https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz"
ZENODO_GZ2_URL = "https://zenodo.org/records/3565489/files"  # images_gz2.zip, gz2_filename_mapping.csv
IMAGES_ZIP = "images_gz2.zip"
MAPPING_CSV = "gz2_filename_mapping.csv"
HART16_CSV = "gz2_hart16.csv.gz"
KAGGLE_CSV = "training_solutions_rev1.csv"
KAGGLE_IMAGES = "images_training_rev1"
PHYSICAL_COLUMNS = ("z", "rmag", "logmstar", "logsfr", "loghalomass")
HART16_ID_COLUMNS = ("dr7objid", "ra", "dec")
KAGGLE_N_CLASSIFICATIONS = 40  # assumed votes per galaxy for the Kaggle form (it has no counts)



def kaggle_tasks() -> list[tuple[str, list[str]]]:
    """The GZ2 tree in Kaggle order (ClassN.M = task N, answer M): per task, its Hart16 column stems.

    Kaggle numbers tasks and answers in the tree's own order, so this is ``raregal.core.gz2_schema.TREE``."""
    from raregal.core.gz2_schema import TASKS, TREE

    return [(t, list(TREE.stem[TREE.task == t])) for t in TASKS]


def read_hart16(path: Path | str) -> pd.DataFrame:
    """The Hart16 catalog (csv or csv.gz), checked for its id columns and per-answer vote columns."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"GZ2 catalog {path} does not exist; download {HART16_URL} there")
    try:
        df = pd.read_csv(path)
    except Exception as err:
        raise CatalogError(f"cannot read {path} as CSV: {type(err).__name__}: {err}") from None
    missing = [c for c in HART16_ID_COLUMNS if c not in df.columns]
    if not any(c.endswith("_debiased") for c in df.columns):
        missing.append("t01_smooth_or_features_a01_smooth_debiased (and the other *_debiased)")
    if missing:
        raise CatalogError(f"{path}: not the Hart et al. 2016 schema, missing columns {missing}")
    dup = df["dr7objid"].duplicated()
    if dup.any():
        raise CatalogError(f"{path}: {int(dup.sum())} duplicated dr7objid values")
    return df


def read_filename_mapping(path: Path | str) -> pd.DataFrame:
    """Zenodo's ``gz2_filename_mapping.csv`` (objid, sample, asset_id) with duplicates refused."""
    df = pd.read_csv(path)
    missing = [c for c in ("objid", "asset_id") if c not in df.columns]
    if missing:
        raise CatalogError(f"{path}: missing columns {missing}; expected objid, sample, asset_id")
    df = df.dropna(subset=["objid", "asset_id"]).astype({"objid": "int64", "asset_id": "int64"})
    if df["objid"].duplicated().any():
        raise CatalogError(f"{path}: {int(df['objid'].duplicated().sum())} objids map to two images")
    return df


def read_kaggle_solutions(path: Path | str,
                          n_classifications: int = KAGGLE_N_CLASSIFICATIONS) -> pd.DataFrame:
    """Kaggle ``training_solutions_rev1.csv`` → Hart16-style columns.

    Kaggle values are cumulative products down the tree (Class7.1 = p(smooth)·p(round)); dividing by
    the task's sum gives the per-task fraction. There are no vote counts: ``*_count`` assumes
    ``n_classifications`` volunteers start the tree (those reaching a task scale with its sum), and
    ``*_debiased`` is the plain fraction (Kaggle values are not debiased). ``dr7objid`` is the
    Kaggle GalaxyID; ra/dec are NaN.
    """
    df = pd.read_csv(path)
    if "GalaxyID" not in df.columns:
        raise CatalogError(f"{path}: not the Kaggle training-solutions form (no GalaxyID column)")
    out = {"dr7objid": df["GalaxyID"].astype("int64"), "ra": np.nan, "dec": np.nan}
    for n, (_, stems) in enumerate(kaggle_tasks(), start=1):
        cols = [f"Class{n}.{m}" for m in range(1, len(stems) + 1)]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise CatalogError(f"{path}: missing Kaggle columns {missing}")
        vals = df[cols].to_numpy(float)
        reach = vals.sum(axis=1, keepdims=True)
        frac = np.divide(vals, reach, out=np.zeros_like(vals), where=reach > 0)
        task_votes = np.rint(n_classifications * np.minimum(reach, 1.0))
        for j, prefix in enumerate(stems):
            out[f"{prefix}_count"] = np.rint(frac[:, j] * task_votes[:, 0]).astype(int)
            out[f"{prefix}_fraction"] = frac[:, j]
            out[f"{prefix}_debiased"] = frac[:, j]
    table = pd.DataFrame(out)
    table["total_classifications"] = n_classifications
    return table


def read_physical(path: Path | str | None, ids: pd.Series) -> tuple[pd.DataFrame, str]:
    """User physical columns (dr7objid + z, rmag, logmstar, logsfr, loghalomass) aligned to ``ids``."""
    if path is None:
        return (pd.DataFrame({c: np.nan for c in PHYSICAL_COLUMNS}, index=ids.index),
                "no gz2_physical table in data/raw/catalogs: physical columns are NaN")
    df, _ = read_table(path)
    if "dr7objid" not in df.columns:
        raise CatalogError(f"{path}: needs a dr7objid column to join on; columns {list(df.columns)}")
    absent = [c for c in PHYSICAL_COLUMNS if c not in df.columns]
    df = df.drop_duplicates("dr7objid").set_index("dr7objid")
    aligned = df.reindex(ids.to_numpy())
    for c in absent:
        aligned[c] = np.nan
    aligned = aligned[list(PHYSICAL_COLUMNS)].set_index(ids.index)
    n_match = int(aligned.notna().any(axis=1).sum())
    note = f"physical columns from {path.name}: {n_match} of {len(ids)} galaxies matched"
    return aligned, note + (f"; absent columns {absent} are NaN" if absent else "")


def read_detg_catalog(path: Path | str) -> pd.DataFrame:
    """User-supplied D-ETG list (Kaviraj et al. 2012): needs dr7objid, or ra and dec."""
    df, _ = read_table(path)
    if "dr7objid" not in df.columns and not {"ra", "dec"} <= set(df.columns):
        raise CatalogError(f"{path}: a D-ETG table needs a dr7objid column or ra and dec columns; "
                           f"has {list(df.columns)}")
    return df


def match_known(known: pd.DataFrame, cat: pd.DataFrame, radius_arcsec: float = 2.0) -> pd.Series:
    """dr7objids of ``cat`` galaxies in the known list: by dr7objid, else by position (≤ radius)."""
    if "dr7objid" in known.columns:
        ids = pd.to_numeric(known["dr7objid"], errors="coerce").dropna().astype("int64")
        return cat.loc[cat["dr7objid"].isin(ids), "dr7objid"]
    pos = cat.dropna(subset=["ra", "dec"])
    if pos.empty:
        raise CatalogError("the D-ETG list has only positions, but this GZ2 catalog has none "
                           "(Kaggle form): give the list a dr7objid column")
    idx, ok = crossmatch(known.dropna(subset=["ra", "dec"]), pos, radius_arcsec)
    return pos["dr7objid"].iloc[np.unique(idx[ok])]


def check_jpeg(data: bytes) -> str:
    """'' for a readable RGB-convertible JPEG, else the reason it is not."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.format != "JPEG":
                return f"not a JPEG ({im.format})"
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        return f"corrupt image ({type(err).__name__})"
    return ""


class ImageSource:
    """Image bytes by asset name from a zip archive or an extracted folder (either layout)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.is_dir():
            self.zip = None
        else:
            try:
                self.zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                raise CatalogError(f"{self.path} is not a readable zip archive (truncated download? "
                                   f"delete it and rerun)") from None
            self.members = {Path(n).name: n for n in self.zip.namelist() if not n.endswith("/")}

    def read(self, name: str) -> bytes | None:
        if self.zip is None:
            p = self.path / name
            return p.read_bytes() if p.exists() else None
        member = self.members.get(name)
        return None if member is None else self.zip.read(member)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def extract_images(wanted: pd.DataFrame, source: ImageSource, out_dir: Path,
                   progress: bool = True) -> pd.DataFrame:
    """Write ``out_dir/<dr7objid>.jpg`` for rows (dr7objid, image_name); returns drops (id, reason).

    Bytes are copied as they are (no re-encoding); an existing valid output is kept (resumable).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    drops = []
    for oid, name in tqdm(wanted[["dr7objid", "image_name"]].itertuples(index=False),
                          total=len(wanted), desc="gz2 images", unit="img", disable=not progress):
        target = out_dir / f"{int(oid)}.jpg"
        if target.exists() and not check_jpeg(target.read_bytes()):
            continue
        data = source.read(name)
        reason = f"image {name} not in {source.path.name}" if data is None else check_jpeg(data)
        if reason:
            drops.append((int(oid), reason))
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return pd.DataFrame(drops, columns=["dr7objid", "reason"])


def _ensure(url: str, dest: Path, policy: RetryPolicy, what: str) -> Path:
    if not dest.exists():
        check_reachable(url, instead=f"download {what} yourself to {dest}")
        print(f"downloading {url} → {dest}")
        download_file(url, dest, make_session(1), policy, instead=f"download {what} to {dest}")
    return dest


def gather_inputs(raw: Path, hart16_url: str = HART16_URL, zenodo_url: str = ZENODO_GZ2_URL,
                  policy: RetryPolicy = RetryPolicy()) -> tuple[pd.DataFrame, ImageSource, str]:
    """The catalog with an ``image_name`` column and where its images are; downloads what is missing.

    Preference: Kaggle files when present (and no Hart16 catalog), else Hart16 + mapping + images
    from ``raw/images/`` (extracted) or ``raw/images_gz2.zip``.
    """
    kaggle_csv, kaggle_dir = raw / KAGGLE_CSV, raw / KAGGLE_IMAGES
    if kaggle_csv.exists() and not (raw / HART16_CSV).exists():
        if not kaggle_dir.is_dir():
            raise CatalogError(f"found {kaggle_csv} but not its image folder {kaggle_dir}")
        cat = read_kaggle_solutions(kaggle_csv)
        cat["image_name"] = cat["dr7objid"].astype(str) + ".jpg"
        return cat, ImageSource(kaggle_dir), "kaggle"
    cat = read_hart16(_ensure(hart16_url, raw / HART16_CSV, policy, "gz2_hart16.csv.gz"))
    mapping = read_filename_mapping(_ensure(f"{zenodo_url.rstrip('/')}/{MAPPING_CSV}?download=1",
                                            raw / MAPPING_CSV, policy, MAPPING_CSV))
    names = mapping.set_index("objid")["asset_id"].reindex(cat["dr7objid"].to_numpy())
    image_name = pd.Series([f"{int(a)}.jpg" if pd.notna(a) else "" for a in names],
                           index=cat.index, name="image_name")
    cat = pd.concat([cat, image_name], axis=1)  # one copy; inserting into a wide frame warns
    extracted = raw / "images"
    if extracted.is_dir() and any(extracted.iterdir()):
        return cat, ImageSource(extracted), "hart16"
    archive = _ensure(f"{zenodo_url.rstrip('/')}/{IMAGES_ZIP}?download=1", raw / IMAGES_ZIP,
                      policy, f"{IMAGES_ZIP} (≈3.4 GB, Zenodo 3565489)")
    return cat, ImageSource(archive), "hart16"


def draw_sample(cat: pd.DataFrame, known: pd.Series, n: int, seed: int) -> pd.DataFrame:
    """``n`` galaxies: the known D-ETGs first (the rare class must survive a small profile), then
    a seeded random draw of the rest. Galaxies without an image stay in: they become counted drops."""
    n = min(n, len(cat))
    first = cat[cat["dr7objid"].isin(known)]
    if len(first) > n:
        first = first.sample(n=n, random_state=seed)
    rest = cat[~cat["dr7objid"].isin(first["dr7objid"])]
    take = n - len(first)
    return pd.concat([first, rest.sample(n=take, random_state=seed) if take < len(rest) else rest])


def prepare_gz2(cfg: "RunConfig", hart16_url: str = HART16_URL, zenodo_url: str = ZENODO_GZ2_URL,
                policy: RetryPolicy = RetryPolicy(), progress: bool = True,
                catalog_urls: dict[str, str] | str | None = None,
                download_catalogs: bool | None = None) -> dict:
    """Real paper-B data in the mock's layout: ``images/<dr7objid>.jpg``, ``gz2_hart16.csv.gz``
    and ``detg_known.csv`` (dr7objid, ra, dec, z of known D-ETGs in the sample).

    Takes ``survey_b.n_galaxies`` galaxies (:func:`draw_sample`; the user's D-ETG list is
    ``data/raw/catalogs/detg_kaviraj12.*``). Joins the user's physical columns
    (``data/raw/catalogs/gz2_physical.*``), made from GSWLC-2 when there is none (downloaded first:
    :func:`raregal.fetch.remote_catalogs.fetch_for_run` says when; ``catalog_urls``: a mirror's base
    URL or one address per catalog).
    Galaxies whose image is missing or corrupt are dropped and listed in ``fetch_drops.csv``.
    """
    raw, user = cfg.paths.raw / "gz2", cfg.paths.raw / "catalogs"
    raw.mkdir(parents=True, exist_ok=True)
    detg_path = find_catalog_file(user, "detg_kaviraj12")
    cat, source, form = gather_inputs(raw, hart16_url, zenodo_url, policy)
    try:
        # GSWLC-2 → gz2_physical (z, log M*, log SFR by position), unless the user gave one
        remote_catalogs.fetch_for_run(cfg, remote_catalogs.SURVEY_B, hart16_url == HART16_URL,
                                      catalog_urls, download_catalogs, policy, catalog_dir=user,
                                      gz2_catalog=cat)
        known_list = read_detg_catalog(detg_path) if detg_path is not None else None
        known = (match_known(known_list, cat) if known_list is not None
                 else pd.Series([], dtype="int64"))
        sample = draw_sample(cat, known, cfg.survey_b.n_galaxies, cfg.seed)
        no_image = sample["image_name"] == ""
        out_dir = cfg.data_dir("interim", "gz2")
        drops = [pd.DataFrame({"dr7objid": sample.loc[no_image, "dr7objid"],
                               "reason": "no image in the filename mapping"}),
                 extract_images(sample[~no_image], source, out_dir / "images", progress)]
    finally:
        source.close()
    drops = pd.concat(drops, ignore_index=True)
    kept = sample[~sample["dr7objid"].isin(drops["dr7objid"])].drop(columns="image_name")
    kept = kept.sort_values("dr7objid").reset_index(drop=True)
    physical, note = read_physical(find_catalog_file(user, "gz2_physical"), kept["dr7objid"])
    kept = pd.concat([kept.drop(columns=[c for c in PHYSICAL_COLUMNS if c in kept]), physical],
                     axis=1)
    with atomic_path(out_dir / HART16_CSV) as tmp:
        kept.to_csv(tmp, index=False, compression="gzip")
    with atomic_path(out_dir / "fetch_drops.csv") as tmp:
        drops.to_csv(tmp, index=False)
    detg = kept.loc[kept["dr7objid"].isin(known), ["dr7objid", "ra", "dec", "z"]]
    if known_list is not None:  # no list → no file, as gz2_schema.read_known_detg expects
        with atomic_path(out_dir / "detg_known.csv") as tmp:
            detg.to_csv(tmp, index=False)
    detg_note = (f"D-ETG list {detg_path.name}: {len(known_list)} listed, {len(known)} found in the "
                 f"GZ2 catalog, {len(detg)} in the sample" if known_list is not None else
                 "no D-ETG list in data/raw/catalogs (detg_kaviraj12.*), so no detg_known.csv")
    print(f"gz2 (real, {form} form): {len(kept)} galaxies with images in {out_dir}; "
          f"{len(drops)} dropped (listed in fetch_drops.csv); {note}; {detg_note}")
    return {"form": form, "n_catalog": len(cat), "n_kept": len(kept), "n_dropped": len(drops),
            "drops": drops, "physical": note, "detg": detg_note, "n_detg_known": len(detg),
            "out_dir": out_dir}

"""``python -m raregal.fetch``: the real-data downloads without the notebooks (same code as 01_fetch)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raregal.fetch.http import FetchError, RetryPolicy

EPILOG = """examples:
  python -m raregal.fetch catalogs                        # GAMA, Zou22, GSWLC-2 → data/raw/catalogs
  python -m raregal.fetch catalogs --only gswlc --base-url http://mirror.example  # other host
  python -m raregal.fetch survey-a --profile default      # paper A: catalogs in data/raw/catalogs + cutouts
  python -m raregal.fetch gz2 --profile default           # paper B: Hart16 catalog + Zenodo images
  python -m raregal.fetch cutouts targets.csv             # any table with id, ra, dec
  python -m raregal.fetch model stable-diffusion-v1-5/stable-diffusion-v1-5 --download
  python -m raregal.fetch estimate --profile paper        # how long the cutouts take at the polite rate
"""


def _policy(args) -> RetryPolicy:
    return RetryPolicy(retries=args.retries, delay=args.delay, timeout=args.timeout)


def _add_http(p: argparse.ArgumentParser) -> None:
    p.add_argument("--delay", type=float, default=RetryPolicy.delay,
                   help="politeness interval between request starts, seconds (default %(default)s)")
    p.add_argument("--retries", type=int, default=RetryPolicy.retries, help="retries per file")
    p.add_argument("--timeout", type=float, default=RetryPolicy.timeout, help="seconds per request")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", help="smoke | default | paper (sample sizes)")
    p.add_argument("--seed", type=int, default=0, help="seed for the subsample")


def _add_cutout(p: argparse.ArgumentParser) -> None:
    from raregal.fetch.legacy_survey import LEGACY_SURVEY_URL, CutoutSpec

    p.add_argument("--layer", default=CutoutSpec.layer, help="e.g. ls-dr10, ls-dr9-north")
    p.add_argument("--size", type=int, default=CutoutSpec.size, help="pixels per side")
    p.add_argument("--base-url", default=LEGACY_SURVEY_URL, help="cutout service root")
    p.add_argument("--workers", type=int, default=4, help="concurrent requests")


def _add_catalog_urls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog-base-url", default=None,
                   help="host (mirror) for the catalog downloads; the public addresses' paths are kept")
    p.add_argument("--no-catalog-download", action="store_true",
                   help="use only the catalog files already in data/raw/catalogs")


def _catalog_options(args) -> dict:
    return {"catalog_urls": args.catalog_base_url,
            "download_catalogs": False if args.no_catalog_download else None}


def _add_catalogs(sub) -> None:
    from raregal.fetch.remote_catalogs import REMOTE

    p = sub.add_parser("catalogs", help="catalogs with an address (GAMA DR4, Zou et al. 2022, GSWLC-2) "
                                        "→ data/raw/catalogs; lists the ones you must provide")
    p.add_argument("--only", default=",".join(REMOTE), help="comma-separated subset of %(default)s")
    p.add_argument("--base-url", default=None,
                   help="host (mirror, test server) replacing scheme and host of every address")
    for key, what in REMOTE.items():
        p.add_argument(f"--{key}-url", default=None, help=f"{what.title} (default {what.url})")
    p.add_argument("--z-max", type=float, default=1.0, help="Zou et al. 2022 rows with 0 < z < this")
    _add_http(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m raregal.fetch", description=__doc__,
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_catalogs(sub)
    p = sub.add_parser("survey-a", help="paper A: catalogs + Legacy Surveys cutouts → data/interim")
    _add_run(p), _add_cutout(p), _add_http(p), _add_catalog_urls(p)
    p = sub.add_parser("gz2", help="paper B: Hart16 catalog + GZ2 images → data/interim")
    from raregal.fetch.gz2 import HART16_URL, ZENODO_GZ2_URL

    p.add_argument("--hart16-url", default=HART16_URL, help="the gz2_hart16.csv.gz address")
    p.add_argument("--zenodo-url", default=ZENODO_GZ2_URL,
                   help="folder holding images_gz2.zip and gz2_filename_mapping.csv")
    _add_run(p), _add_http(p), _add_catalog_urls(p)
    p = sub.add_parser("cutouts", help="cutouts for a table (csv/parquet with id, ra, dec)")
    p.add_argument("table", type=Path)
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default data/raw/legacy_survey)")
    p.add_argument("--failures", type=Path, default=None, help="write failures (id, ra, dec, reason) here")
    _add_cutout(p), _add_http(p)
    p = sub.add_parser("model", help="resolve `pretrained` (tiny | folder | hub id) to local weights")
    p.add_argument("pretrained")
    p.add_argument("--download", action="store_true", help="download a hub id if not cached")
    p = sub.add_parser("estimate", help="time for the cutout fetch at the politeness rate")
    p.add_argument("--profile", default="paper")
    p.add_argument("--n", type=int, default=None, help="number of cutouts (default: the profile's)")
    p.add_argument("--delay", type=float, default=RetryPolicy.delay)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--latency", type=float, default=1.0, help="assumed seconds per answer")
    return parser


def run(args: argparse.Namespace) -> int:
    from raregal.core import config, registry

    if args.command == "model":
        from raregal.fetch.models import resolve_pretrained

        res = resolve_pretrained(args.pretrained, allow_download=args.download,
                                 root=config.repo_root())
        print(f"{res.kind}: {res.path or 'built from config (no weights)'}")
        return 0
    if args.command == "estimate":
        from raregal.fetch.legacy_survey import cutout_bytes, estimate_fetch_seconds

        sec = config.setup(args.profile, make_dirs=False).survey_a
        n = args.n or sec.n_normal + sec.n_green_pea + sec.n_red_spiral
        s = estimate_fetch_seconds(n, args.delay, args.workers, args.latency)
        print(f"{n} cutouts at one request per {args.delay:g} s, {args.workers} workers, "
              f"{args.latency:g} s latency: {s:.0f} s = {s / 3600:.2f} h "
              f"(≈{n * cutout_bytes() / 1e9:.1f} GB of 128 px grz float32 FITS)")
        return 0
    if args.command == "cutouts":
        import pandas as pd

        from raregal.fetch.legacy_survey import CutoutSpec, fetch_cutouts

        table = (pd.read_parquet(args.table) if args.table.suffix == ".parquet"
                 else pd.read_csv(args.table))
        cache = args.cache or config.Paths(config.repo_root()).raw / "legacy_survey"
        report = fetch_cutouts(table, cache, CutoutSpec(layer=args.layer, size=args.size),
                               args.base_url, _policy(args), args.workers, not args.quiet)
        print(report.summary(), f"; cache {cache}")
        if args.failures is not None:
            report.failures.to_csv(args.failures, index=False)
        return 0 if report.failures.empty else 1
    if args.command == "catalogs":
        return run_catalogs(args, config.Paths(config.repo_root()).raw)
    cfg = config.setup(args.profile, "real", args.seed)
    if args.command == "survey-a":
        from raregal.fetch.legacy_survey import CutoutSpec, prepare_survey_a

        prepare_survey_a(cfg, args.base_url, spec=CutoutSpec(layer=args.layer, size=args.size),
                         policy=_policy(args), workers=args.workers, progress=not args.quiet,
                         **_catalog_options(args))
        paper = "A"
    else:
        from raregal.fetch.gz2 import prepare_gz2

        prepare_gz2(cfg, args.hart16_url, args.zenodo_url, _policy(args), not args.quiet,
                    **_catalog_options(args))
        paper = "B"
    registry.mark_prepared(cfg.data_dir("interim"), paper)  # so ./run_all.sh --only 07 (or 02) knows
    return 0


def run_catalogs(args: argparse.Namespace, raw: Path) -> int:
    """The ``catalogs`` command: download, make gz2_physical if the GZ2 catalog is there, list the rest."""
    from raregal.fetch import gz2, remote_catalogs

    urls = remote_catalogs.addresses(args.base_url, **{k: getattr(args, f"{k}_url")
                                                        for k in remote_catalogs.REMOTE})
    hart16 = raw / "gz2" / gz2.HART16_CSV
    remote_catalogs.fetch_catalogs(raw / "catalogs", [k for k in args.only.split(",") if k], urls,
                                   _policy(args), gz2.read_hart16(hart16) if hart16.exists() else None,
                                   z_max=args.z_max)
    for key, what in remote_catalogs.user_supplied_status(raw / "catalogs").items():
        print(f"user-supplied {key}: {what}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from raregal.core.config import ConfigError
    from raregal.fetch.catalogs import CatalogError
    from raregal.fetch.models import WeightsUnavailableError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FetchError, CatalogError, WeightsUnavailableError, ConfigError) as err:
        print(f"raregal.fetch: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raregal.fetch: interrupted; finished files are cached, rerun to fetch the rest",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Units of catalog columns: read them as catalogs write them, convert M* and SFR to log10.

Why a module: catalogs give stellar masses and SFRs linear (M☉, M☉/yr) or logarithmic (dex, CDS
``[Msun]``, ``log(Msun)``), per yr or per Gyr (the authors' GAMA labels, log SFR + 9), or with no
unit at all; every reader (user files, GAMA, VizieR) goes through these few functions so a unit is
read one way, converted by astropy, guessed only where the guess is safe, and an unreadable one is
named with what to do.
"""
from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np

LOG_MASS = u.dex(u.Msun)
LOG_SFR = u.dex(u.Msun / u.yr)


class CatalogError(ValueError):
    """A catalog (user-supplied or downloaded) is missing, unreadable, or lacks a column the schema
    needs. Defined here, the lowest catalog module, and used through :mod:`raregal.fetch.catalogs`."""


def reread_unit(unit):
    """A unit the file reader could not read (e.g. ``dex(solMass)`` in a FITS TUNIT), read again
    with :func:`parse_unit`; left unrecognised (an error only if the column is used) otherwise."""
    if not isinstance(unit, u.UnrecognizedUnit):
        return unit
    try:
        return parse_unit(str(unit))
    except ValueError:
        return unit


def as_unit(spec, column: str = "") -> u.UnitBase | None:
    """A unit given by the user (string or astropy) or read from a file; CatalogError if unreadable."""
    if isinstance(spec, u.UnrecognizedUnit):
        raise CatalogError(f"column {column!r}: the file gives the unit {str(spec)!r}, which astropy "
                           f"cannot read; give the unit by hand, e.g. units={{'logmstar': "
                           f"'dex(solMass)'}}")
    if spec is None or isinstance(spec, u.UnitBase):
        return spec
    try:
        return u.Unit(spec)
    except ValueError:
        raise CatalogError(f"unknown unit {spec!r}; use e.g. 'dex(solMass)', 'solMass', "
                           f"'dex(solMass/yr)', 'solMass/yr', 'dex(solMass/Gyr)'") from None


def parse_unit(text) -> u.UnitBase | None:
    """A unit as catalogs write it → astropy; None when there is none; ValueError when unreadable.

    Tried in turn: astropy's own syntax (FITS ``TUNIT``), CDS (VizieR's ``[Msun]`` = dex(M☉)),
    VOUnit, and ``log(X)``/``log10(X)`` read as dex(X).
    """
    text = str(text or "").strip()
    if not text or text in ("---", "-"):
        return None
    if text.lower().startswith(("log(", "log10(")) and text.endswith(")"):
        text = "dex(" + text[text.index("(") + 1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        for fmt in (None, "cds", "vounit"):
            try:
                return u.Unit(text, format=fmt)
            except ValueError:
                continue
    raise ValueError(f"astropy cannot read the unit {text!r}")


def resolve_unit(values, unit, target: u.FunctionUnitBase, column: str = "") -> u.UnitBase:
    """The unit of a column: the file's or the user's if given, else guessed and safe to guess.

    Without a unit, a name starting with ``log`` means log10 of the target's physical unit; masses
    above 50 are linear M☉; an SFR column with negative values is logarithmic, one without is
    linear M☉/yr.
    """
    unit = as_unit(unit, column)
    if unit is not None and unit != u.dimensionless_unscaled:
        return unit
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if column.lower().startswith(("log", "dellog", "e_log")) or not len(x):
        return target
    if target.physical_unit == u.Msun:
        return target if np.median(np.abs(x)) < 50 else target.physical_unit
    return target if (x < 0).any() else target.physical_unit


def to_log10(values, unit, target: u.FunctionUnitBase, column: str = "") -> np.ndarray:
    """Values in ``unit`` (linear like M☉, M☉/Gyr, or logarithmic like dex(M☉/Gyr)) → ``target``.

    E.g. log SFR per Gyr (the authors' GAMA labels) → per yr subtracts 9, done by astropy.
    """
    x = np.asarray(values, dtype=float)
    unit = resolve_unit(x, unit, target, column)
    try:
        if isinstance(unit, u.FunctionUnitBase):
            return (x * unit).to(target).value
        lin = (x * unit).to(target.physical_unit).value
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(lin > 0, np.log10(np.where(lin > 0, lin, 1.0)), np.nan)
    except u.UnitConversionError:
        raise CatalogError(f"column {column!r}: unit {unit} cannot be converted to {target}") from None


def log_error(values, unit, centre_log: np.ndarray, centre_unit: u.UnitBase,
              column: str = "") -> np.ndarray:
    """A 1σ error in dex: kept if logarithmic (like its centre unless told), else σ/(x ln 10)."""
    x = np.asarray(values, dtype=float)
    unit = as_unit(unit, column)
    if unit is None or unit == u.dimensionless_unscaled:
        unit = centre_unit
    if isinstance(unit, u.FunctionUnitBase) or column.lower().startswith(("log", "dellog", "e_log")):
        return x
    lin_err = (x * unit).to(centre_unit.physical_unit if isinstance(centre_unit, u.FunctionUnitBase)
                            else centre_unit).value
    return lin_err / (10 ** centre_log * np.log(10))


def log_sfr_per_gyr(logsfr_per_yr) -> np.ndarray:
    """log10 SFR in M☉/Gyr (the authors' label convention: GAMA's log SFR + 9) from M☉/yr."""
    return (np.asarray(logsfr_per_yr, dtype=float) * LOG_SFR).to(u.dex(u.Msun / u.Gyr)).value

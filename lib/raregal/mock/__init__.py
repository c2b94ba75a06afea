"""Mock surveys that stand in for the real data: ``survey`` (paper A grz cutouts + catalog) and
``gz2`` (paper B GZ2-like images + vote catalog), each a package split into population, rendering,
(votes,) io. Import the package you need; nothing here."""

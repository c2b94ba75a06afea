"""Mock surveys that stand in for the real data: ``survey`` (paper A grz cutouts + catalog) and
``gz2`` (paper B GZ2-like images + vote catalog). Import the submodule you need; nothing here."""

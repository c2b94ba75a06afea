"""``python -m raregal.infer``: survey-scale inference with a paper-A model bundle.

The tool lives in :mod:`raregal.paper_a.infer`; this module only makes the short command work.
"""
from raregal.paper_a.infer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m raregal.pretrain diffusion|simclr|morphology``: build a pretrained galaxy base in ``models/``.

The tool lives in :mod:`raregal.paper_b.pretrain`; this module only makes the short command work.
"""
from raregal.paper_b.pretrain.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

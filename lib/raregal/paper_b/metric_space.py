"""The space realism and diversity (Ma et al. 2025 §4.1, eq. 1 and 3) take cosine similarities in.

Eq. 1 and 3 compare galaxies by the cosine similarity of their SimCLR embeddings f_φ. Taken as they
come out of the encoder, a few directions carry most of the spread of real galaxies, and in the
default mock run those track total flux and colour (the first principal component of the projections,
30 % of their variance, correlates with red − blue at 0.82 and with mean brightness at 0.61). Pixel
shuffling keeps flux and colour, so noise made of a galaxy's own pixels landed as close to real
galaxies as real galaxies do (realism 0.954 against 0.992 for held-out real ones).

:class:`WhitenedSpace` is fitted on the real reference galaxies only: it centres the embeddings on
their mean and scales each principal direction to unit variance, keeping the directions that carry
``variance_kept`` of their variance. The cosine similarity then weighs every direction in which real
galaxies differ alike, so agreeing on flux and colour alone no longer makes an image look real. It is
still eq. 1 and 3, only on whitened f_φ; generated and real images go through the same map. The
measurements behind the choice are in ``docs/decisions.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANCE_KEPT = 0.999  # share of the reference galaxies' variance the kept directions carry
MIN_PER_COMPONENT = 10  # reference galaxies per kept direction, so each variance is estimated well


@dataclass(frozen=True)
class WhitenedSpace:
    """Centre on the real reference mean, rotate onto its principal directions, scale each to unit variance.

    Attributes
    ----------
    mean : (d,) array
        Mean embedding of the reference galaxies (the origin of the cosine similarity).
    components : (k, d) array
        The kept principal directions, largest variance first (unit vectors).
    scale : (k,) array
        Standard deviation of the reference galaxies along each kept direction (embedding units).
    variance_kept : float
        Share of the reference variance the kept directions carry (≥ the share asked for, unless capped).
    n_reference : int
        Number of reference galaxies the space was fitted on.
    note : str
        Why fewer directions were kept than the variance share asked for ('' when none).
    """

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    variance_kept: float
    n_reference: int
    note: str = ""

    @classmethod
    def fit(cls, reference: np.ndarray, variance_kept: float = VARIANCE_KEPT,
            min_per_component: int = MIN_PER_COMPONENT) -> WhitenedSpace:
        """Fit on real reference embeddings (N, d), never on generated ones.

        Parameters
        ----------
        reference : (N, d) array
            Embeddings of the real reference galaxies.
        variance_kept : float
            Keep the fewest principal directions that carry this share of the variance (0 < share ≤ 1).
            Directions beyond it are ones in which real galaxies barely differ; scaled to unit
            variance they would count numerical noise as much as morphology.
        min_per_component : int
            At most N // min_per_component directions are kept (at least one), so each direction's
            variance comes from enough galaxies; the cap is named in ``note``.
        """
        x = np.asarray(reference, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need (N, d) reference embeddings with N >= 2, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{int((~np.isfinite(x)).any(axis=1).sum())} reference embedding(s) contain NaN/inf")
        if not 0 < variance_kept <= 1:
            raise ValueError(f"variance_kept must be in (0, 1], got {variance_kept}")
        mean = x.mean(axis=0)
        _, sing, vt = np.linalg.svd(x - mean, full_matrices=False)
        var = sing ** 2 / (len(x) - 1)
        positive = int((var > var[0] * 1e-12).sum()) if var[0] > 0 else 0
        if positive == 0:
            raise ValueError("the reference embeddings are all identical: no direction to compare them in")
        share = np.cumsum(var) / var.sum()
        k = min(int(np.searchsorted(share, variance_kept - 1e-12)) + 1, positive)
        cap = max(1, len(x) // min_per_component)
        note = ""
        if k > cap:
            note = (f"{k} directions carry {variance_kept:.4g} of the variance, but {len(x)} reference "
                    f"galaxies support {cap} (>= {min_per_component} per direction): kept {cap}")
            k = cap
        return cls(mean, vt[:k].copy(), np.sqrt(var[:k]), float(share[k - 1]), len(x), note)

    @property
    def dim(self) -> int:
        """Number of kept directions k (the dimension cosine similarities are taken in)."""
        return len(self.scale)

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, d) embeddings → (N, k) whitened coordinates (unit variance per direction for real galaxies)."""
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ValueError(f"expected embeddings (N, {len(self.mean)}), got shape {x.shape}")
        return (x - self.mean) @ self.components.T / self.scale

    def arrays(self) -> list[np.ndarray]:
        """The fitted arrays (for a digest of what a score depends on)."""
        return [self.mean, self.components, self.scale]

    def describe(self) -> str:
        """One line: directions kept, their variance share and the galaxies fitted on."""
        return (f"whitened f_φ: {self.dim} of {len(self.mean)} directions ({self.variance_kept:.4f} of the "
                f"variance of {self.n_reference:,} reference galaxies)" + (f"; {self.note}" if self.note else ""))

"""Fréchet Audio Distance and its bias-aware companions, on embeddings already computed.

Everything here takes frame embeddings as ``(N, D)`` arrays (one row per embedding frame) and
works in float64. Nothing imports a model: the embedding backends live in
:mod:`analysis.metrics.embeddings`.

Definitions
-----------
* Gaussian statistics: mean and the unbiased (n - 1) covariance, as ``np.cov(X, rowvar=False)``;
  identical to Google's one-pass accumulation in ``create_embeddings_beam.py`` and to fadtk's.
* FAD = ``|mu_r - mu_e|^2 + Tr S_r + Tr S_e - 2 Tr (S_r S_e)^(1/2)`` (Kilgour et al. 2019).
  The trace of the square root is taken from eigenvalues of the symmetric matrix
  ``S_r^(1/2) S_e S_r^(1/2)`` (same spectrum as ``S_r S_e``), negative round-off clipped to 0,
  the approach of torchaudio's ``frechet_distance`` and fadtk's eigen path. ``scipy.linalg.sqrtm``
  is never used (its ``disp`` argument is going away and it has had regressions).
* FAD-inf (fadtk ``score_inf``): resample ``n`` evaluated frames with replacement for a linear
  grid of ``n`` from ``min_n`` to the pool size, fit ``FAD = a + b / n`` and report ``a``.
* KAD (kadtk): unbiased MMD^2 with a Gaussian kernel ``exp(-d^2 / (2 h^2))``, times 100. The
  bandwidth ``h`` is **fixed**: by default the median pairwise distance of the *reference* set,
  so that the value of every condition is on the same kernel (kadtk defaults to the evaluated set,
  which changes the kernel between conditions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "GaussianStats",
    "FADResult",
    "FADInfResult",
    "frechet_distance",
    "fad",
    "fad_inf",
    "kad",
    "median_pairwise_distance",
    "subsample_equal",
    "fad_table",
]

# Relative size of a negative FAD (from round-off) that is silently clipped to 0; larger ones
# are logged, because they point at badly conditioned statistics.
_NEGATIVE_TOLERANCE = 1e-8


def _as_frames(x: np.ndarray, *, name: str, min_rows: int = 2) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of frame embeddings (N, D); got shape {arr.shape}"
        )
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} frames; got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``mu`` (D,), unbiased covariance ``sigma`` (D, D) and frame count ``n`` of a set."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    def __post_init__(self) -> None:
        mu = np.asarray(self.mu, dtype=np.float64).reshape(-1)
        sigma = np.asarray(self.sigma, dtype=np.float64)
        if sigma.shape != (mu.size, mu.size):
            raise ValueError(f"sigma must be ({mu.size}, {mu.size}); got {sigma.shape}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    @property
    def dim(self) -> int:
        return int(self.mu.size)

    @classmethod
    def from_embeddings(cls, frames: np.ndarray) -> GaussianStats:
        """Statistics of ``frames`` (N, D): ``np.mean`` and ``np.cov(rowvar=False)`` in float64."""
        x = _as_frames(frames, name="frames")
        return cls(mu=x.mean(axis=0), sigma=np.cov(x, rowvar=False), n=int(x.shape[0]))

    def save(self, path: str | Path) -> Path:
        """Write ``mu``, ``sigma`` and ``n`` to an ``.npz`` file (e.g. reference statistics)."""
        path = Path(path)
        np.savez(path, mu=self.mu, sigma=self.sigma, n=np.int64(self.n))
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> GaussianStats:
        """Read statistics written by :meth:`save` (keys ``mu``, ``sigma``, optional ``n``)."""
        with np.load(Path(path)) as data:
            n = int(data["n"]) if "n" in data.files else 0
            return cls(mu=data["mu"], sigma=data["sigma"], n=n)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(a)
    root: np.ndarray = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return root


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    # Tr (S1 S2)^(1/2) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))); the latter is symmetric PSD.
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    middle = (middle + middle.T) / 2.0
    eig = np.linalg.eigvalsh(middle)
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``|mu1 - mu2|^2 + Tr sigma1 + Tr sigma2 - 2 Tr (sigma1 sigma2)^(1/2)``, with the last trace
    from the eigenvalues of ``sigma1^(1/2) sigma2 sigma1^(1/2)`` (negative round-off clipped).
    The result is real and never negative.

    Examples
    --------
    >>> frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1))
    2.0
    """
    m1 = np.asarray(mu1, dtype=np.float64).reshape(-1)
    m2 = np.asarray(mu2, dtype=np.float64).reshape(-1)
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = m1.size
    if m2.size != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {m1.shape}, mu2 {m2.shape}, sigma1 {s1.shape}, sigma2 {s2.shape}"
        )
    for name, arr in (("mu1", m1), ("mu2", m2), ("sigma1", s1), ("sigma2", s2)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    s1 = (s1 + s1.T) / 2.0
    s2 = (s2 + s2.T) / 2.0
    diff = m1 - m2
    trace_term = float(np.trace(s1) + np.trace(s2)) - 2.0 * _trace_sqrt_product(s1, s2)
    value = float(diff @ diff) + trace_term
    if value < 0.0:
        scale = max(float(np.trace(s1) + np.trace(s2)), 1.0)
        if -value > _NEGATIVE_TOLERANCE * scale:
            logger.warning("Fréchet distance %.3g < 0 from round-off; clipped to 0", value)
        value = 0.0
    return value


@dataclass(frozen=True)
class FADResult:
    """A FAD value with the frame counts and dimension it was computed from."""

    fad: float
    n_reference: int
    n_evaluated: int
    dim: int


def _stats(x: np.ndarray | GaussianStats, *, name: str) -> GaussianStats:
    if isinstance(x, GaussianStats):
        return x
    return GaussianStats.from_embeddings(_as_frames(x, name=name))


def fad(reference: np.ndarray | GaussianStats, evaluated: np.ndarray | GaussianStats) -> FADResult:
    """Plain FAD between a reference set and an evaluated set of frame embeddings.

    Either side may be frames ``(N, D)`` or precomputed :class:`GaussianStats` (e.g. Google's
    background statistics). The frame counts are returned with the value: FAD falls roughly as
    ``b / n`` with the number of evaluated frames, so only compare values at equal counts (see
    :func:`subsample_equal` and :func:`fad_table`).
    """
    ref = _stats(reference, name="reference")
    ev = _stats(evaluated, name="evaluated")
    if ref.dim != ev.dim:
        raise ValueError(f"embedding dimensions differ: reference {ref.dim}, evaluated {ev.dim}")
    value = frechet_distance(ref.mu, ref.sigma, ev.mu, ev.sigma)
    return FADResult(fad=value, n_reference=ref.n, n_evaluated=ev.n, dim=ref.dim)


@dataclass(frozen=True)
class FADInfResult:
    """FAD-inf: the intercept of ``FAD = a + b / n`` fitted over resampled sizes ``n``."""

    fad_inf: float
    slope: float
    r2: float
    n_values: tuple[int, ...]
    fad_values: tuple[float, ...]


def fad_inf(
    reference: np.ndarray | GaussianStats,
    evaluated: np.ndarray,
    *,
    min_n: int = 500,
    steps: int = 25,
    seed: int = 0,
) -> FADInfResult:
    """FAD-inf as fadtk's ``score_inf`` defines it (Chong & Forsyth's FID-inf applied to FAD).

    For ``steps`` sizes ``n`` spread linearly from ``min_n`` to the number of evaluated frames,
    draw ``n`` frames with replacement, compute FAD against the reference, and fit
    ``FAD = a + b / n`` by least squares; ``a`` is FAD-inf. This removes the bias of the
    evaluated side's sample size only: the finite size of the pool itself still biases it.
    fadtk runs its grid backwards when the pool is smaller than ``min_n``; here that raises.
    """
    ref = _stats(reference, name="reference")
    ev = _as_frames(evaluated, name="evaluated")
    n_pool = ev.shape[0]
    if min_n < 2:
        raise ValueError("min_n must be at least 2")
    if n_pool <= min_n:
        raise ValueError(
            f"FAD-inf needs more evaluated frames than min_n={min_n}; got {n_pool}. "
            "Lower min_n or use kad()."
        )
    rng = np.random.default_rng(seed)
    ns = np.unique(np.linspace(min_n, n_pool, steps).astype(int))
    values = []
    for n in ns:
        idx = rng.integers(0, n_pool, size=int(n))
        sample = GaussianStats.from_embeddings(ev[idx])
        values.append(frechet_distance(ref.mu, ref.sigma, sample.mu, sample.sigma))
    xs = 1.0 / ns.astype(np.float64)
    ys = np.asarray(values)
    slope, intercept = np.polyfit(xs, ys, 1)
    fitted = intercept + slope * xs
    ss_res = float(((ys - fitted) ** 2).sum())
    ss_tot = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return FADInfResult(
        fad_inf=float(intercept),
        slope=float(slope),
        r2=r2,
        n_values=tuple(int(n) for n in ns),
        fad_values=tuple(float(v) for v in values),
    )


def median_pairwise_distance(frames: np.ndarray, *, max_frames: int = 2000, seed: int = 0) -> float:
    """Median Euclidean distance over all pairs of (at most ``max_frames``, seeded) frames."""
    x = _as_frames(frames, name="frames")
    if x.shape[0] > max_frames:
        x = x[np.random.default_rng(seed).choice(x.shape[0], size=max_frames, replace=False)]
    sq = (x * x).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    iu = np.triu_indices(x.shape[0], k=1)
    return float(np.median(np.sqrt(np.clip(d2[iu], 0.0, None))))


def _kernel_sum(a: np.ndarray, b: np.ndarray, gamma: float, *, block: int = 2048) -> float:
    """Sum of ``exp(-gamma |a_i - b_j|^2)`` over all pairs, in blocks to bound memory."""
    sq_b = (b * b).sum(axis=1)
    total = 0.0
    for start in range(0, a.shape[0], block):
        chunk = a[start : start + block]
        d2 = (chunk * chunk).sum(axis=1)[:, None] + sq_b[None, :] - 2.0 * (chunk @ b.T)
        total += float(np.exp(-gamma * np.clip(d2, 0.0, None)).sum())
    return total


def kad(
    reference: np.ndarray,
    evaluated: np.ndarray,
    *,
    bandwidth: float | None = None,
    scale: float = 100.0,
) -> float:
    """Kernel Audio Distance (kadtk): unbiased MMD^2 with ``k = exp(-d^2 / (2 h^2))``, times
    ``scale``.

    ``(1/(m(m-1))) sum_{i!=j} k(x_i, x_j) + (1/(n(n-1))) sum_{i!=j} k(y_i, y_j)
    - (2/(mn)) sum_{i,j} k(x_i, y_j)``. Unbiased in the sample sizes, so values at different
    frame counts are comparable (they can be slightly negative when the sets agree).
    ``bandwidth`` defaults to :func:`median_pairwise_distance` of the *reference*; pass the same
    value for every condition of a comparison (:func:`fad_table` does).
    """
    x = _as_frames(reference, name="reference")
    y = _as_frames(evaluated, name="evaluated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"embedding dimensions differ: reference {x.shape[1]}, evaluated {y.shape[1]}"
        )
    h = median_pairwise_distance(x) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"kernel bandwidth must be positive; got {h}")
    gamma = 1.0 / (2.0 * h * h)
    m, n = x.shape[0], y.shape[0]
    k_xx = (_kernel_sum(x, x, gamma) - m) / (m * (m - 1))  # diagonal terms are exp(0) = 1
    k_yy = (_kernel_sum(y, y, gamma) - n) / (n * (n - 1))
    k_xy = _kernel_sum(x, y, gamma) / (m * n)
    return float(scale * (k_xx + k_yy - 2.0 * k_xy))


def subsample_equal(
    sets: Mapping[str, np.ndarray], *, n: int | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Draw the same number of frames (without replacement, seeded) from every set.

    ``n`` defaults to the smallest set's size. Use it before comparing FAD across conditions.
    """
    if not sets:
        raise ValueError("no embedding sets given")
    arrays = {k: _as_frames(v, name=f"embeddings[{k!r}]") for k, v in sets.items()}
    smallest = min(a.shape[0] for a in arrays.values())
    n = smallest if n is None else int(n)
    if n > smallest:
        raise ValueError(f"cannot draw {n} frames; the smallest set has {smallest}")
    rng = np.random.default_rng(seed)
    out = {}
    for key, arr in arrays.items():
        if arr.shape[0] == n:
            out[key] = arr
        else:
            out[key] = arr[np.sort(rng.choice(arr.shape[0], size=n, replace=False))]
    return out


FAD_TABLE_COLUMNS = [
    "condition",
    "fad",
    "kad",
    "fad_inf",
    "n_reference",
    "n_evaluated",
    "n_available",
    "dim",
    "kad_bandwidth",
]


def fad_table(
    embeddings: Mapping[str, np.ndarray],
    *,
    reference: np.ndarray | GaussianStats,
    equal_n: bool = True,
    n: int | None = None,
    with_kad: bool = True,
    with_fad_inf: bool = False,
    kad_bandwidth: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """FAD (and KAD, FAD-inf) of each condition's frames against one reference, as a tidy table.

    Parameters
    ----------
    embeddings
        condition name -> frame embeddings ``(N_c, D)``.
    reference
        reference frames ``(N_r, D)`` (e.g. the original soundtracks) or precomputed statistics
        (KAD needs frames and is then left empty).
    equal_n
        draw the same number of frames from every condition first (seeded), so that the
        sample-size bias is the same for all of them. ``n`` fixes that number (default: the
        smallest condition).

    Returns
    -------
    DataFrame with columns ``condition, fad, kad, fad_inf, n_reference, n_evaluated,
    n_available, dim, kad_bandwidth``; ``n_evaluated`` is the count actually used,
    ``n_available`` the count the condition had.
    """
    available = {
        k: _as_frames(v, name=f"embeddings[{k!r}]").shape[0] for k, v in embeddings.items()
    }
    sets = (
        subsample_equal(embeddings, n=n, seed=seed)
        if equal_n
        else {k: _as_frames(v, name=f"embeddings[{k!r}]") for k, v in embeddings.items()}
    )
    ref_stats = _stats(reference, name="reference")
    ref_frames = (
        None if isinstance(reference, GaussianStats) else _as_frames(reference, name="reference")
    )
    bandwidth = kad_bandwidth
    if with_kad and ref_frames is not None and bandwidth is None:
        bandwidth = median_pairwise_distance(ref_frames, seed=seed)
    rows = []
    for cond, frames in sets.items():
        res = fad(ref_stats, frames)
        row = {
            "condition": cond,
            "fad": res.fad,
            "kad": np.nan,
            "fad_inf": np.nan,
            "n_reference": res.n_reference,
            "n_evaluated": res.n_evaluated,
            "n_available": available[cond],
            "dim": res.dim,
            "kad_bandwidth": np.nan if bandwidth is None else float(bandwidth),
        }
        if with_kad and ref_frames is not None:
            row["kad"] = kad(ref_frames, frames, bandwidth=bandwidth)
        if with_fad_inf:
            row["fad_inf"] = fad_inf(ref_stats, frames, seed=seed).fad_inf
        rows.append(row)
    return pd.DataFrame(rows, columns=FAD_TABLE_COLUMNS)

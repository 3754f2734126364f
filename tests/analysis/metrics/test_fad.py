"""FAD, FAD-inf and KAD against the analytic cases and peer formulas of research/C_metrics.md
5.1."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from analysis.metrics.fad import (
    GaussianStats,
    fad,
    fad_inf,
    fad_table,
    frechet_distance,
    kad,
    median_pairwise_distance,
    subsample_equal,
)


def test_it_gives_2_for_n01_vs_n14():
    assert frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(
        2.0, abs=1e-12
    )


def test_it_gives_7_for_the_diagonal_pair_and_its_rotation():
    mu1, mu2 = np.zeros(2), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0, abs=1e-12)
    r = np.array([[0.6, -0.8], [0.8, 0.6]])
    assert frechet_distance(r @ mu1, r @ s1 @ r.T, r @ mu2, r @ s2 @ r.T) == pytest.approx(
        7.0, abs=1e-12
    )


def test_it_gives_zero_for_identical_sets():
    x = np.random.default_rng(0).normal(size=(300, 16))
    res = fad(x, x)
    assert res.fad == pytest.approx(0.0, abs=1e-10)
    assert (res.n_reference, res.n_evaluated, res.dim) == (300, 300, 16)


def _torchaudio_formula(mu1, s1, mu2, s2):
    # torchaudio.functional.frechet_distance: a + b - 2 * sum(sqrt(eigvals(s1 @ s2)).real)
    diff = mu1 - mu2
    eig = np.linalg.eigvals(s1 @ s2).astype(complex)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).real.sum())


@pytest.mark.parametrize("n", [60, 400])  # n < d gives rank-deficient covariances
def test_it_agrees_with_eigvals_and_sqrtm_peers_on_128_dims(n):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, 128))
    b = rng.normal(loc=0.3, scale=1.5, size=(n, 128)) @ rng.normal(size=(128, 128)) / 11
    sa, sb = GaussianStats.from_embeddings(a), GaussianStats.from_embeddings(b)
    ours = frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)
    peer = _torchaudio_formula(sa.mu, sa.sigma, sb.mu, sb.sigma)
    covmean = scipy.linalg.sqrtm(sa.sigma @ sb.sigma)
    diff = sa.mu - sb.mu
    via_sqrtm = float(
        diff @ diff + np.trace(sa.sigma) + np.trace(sb.sigma) - 2 * np.trace(covmean).real
    )
    assert ours == pytest.approx(peer, rel=1e-6)
    assert ours == pytest.approx(via_sqrtm, rel=1e-6)
    assert ours > 0


def test_it_matches_google_one_pass_covariance():
    x = np.random.default_rng(1).normal(size=(50, 8))
    n = x.shape[0]
    mu = x.sum(0) / n
    google = (x.T @ x) / (n - 1) - np.outer(mu, mu) * n / (n - 1)
    stats = GaussianStats.from_embeddings(x)
    np.testing.assert_allclose(stats.sigma, google, atol=1e-12)
    assert stats.n == 50


def test_it_recovers_the_fad_of_known_gaussians_from_samples():
    rng = np.random.default_rng(2)
    mu1, mu2 = np.zeros(2), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=200_000)
    assert fad(x, y).fad == pytest.approx(7.0, abs=0.1)


def test_it_is_never_negative_for_nearly_singular_covariances():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 64))  # rank 4 covariance in 64 dims
    value = fad(x, x + 1e-9 * rng.normal(size=x.shape)).fad
    assert value >= 0.0
    assert value == pytest.approx(0.0, abs=1e-8)


def test_it_round_trips_statistics_through_npz(tmp_path):
    stats = GaussianStats.from_embeddings(np.random.default_rng(4).normal(size=(20, 3)))
    loaded = GaussianStats.load(stats.save(tmp_path / "ref.npz"))
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    assert loaded.n == 20


def test_it_rejects_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        fad(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="dimensions differ"):
        fad(
            np.ones((5, 2)) + np.arange(10).reshape(5, 2),
            np.random.default_rng(0).normal(size=(5, 3)),
        )
    with pytest.raises(ValueError, match="NaN"):
        fad(np.full((3, 2), np.nan), np.ones((3, 2)))


def test_fad_inf_removes_most_of_the_sample_size_bias():
    # research/C_metrics.md 1.2: on a pool from the reference distribution FAD-inf comes out
    # near FAD(pool), far below FAD at the smallest resampled size.
    rng = np.random.default_rng(5)
    d = 32
    ref = GaussianStats(mu=np.zeros(d), sigma=np.eye(d), n=0)
    pool = rng.normal(size=(3000, d))
    res = fad_inf(ref, pool, min_n=300, steps=10, seed=0)
    assert res.fad_values[0] > 3 * abs(res.fad_inf)
    assert res.fad_inf == pytest.approx(fad(ref, pool).fad, abs=0.1)
    assert res.slope > 0 and res.r2 > 0.9
    with pytest.raises(ValueError, match="min_n"):
        fad_inf(ref, pool[:100], min_n=500)


def _kad_bruteforce(x, y, h):
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * h * h))

    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return 100 * (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * k(x, y).mean()
    )


def test_kad_matches_the_unbiased_mmd_definition():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(40, 5)), rng.normal(loc=0.5, size=(30, 5))
    assert kad(x, y, bandwidth=2.0) == pytest.approx(_kad_bruteforce(x, y, 2.0), rel=1e-10)
    h = median_pairwise_distance(x)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))[np.triu_indices(40, 1)]
    assert h == pytest.approx(np.median(d))
    assert kad(x, y) == pytest.approx(_kad_bruteforce(x, y, h), rel=1e-10)


def test_kad_is_unbiased_for_the_same_distribution():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(loc=0.5, size=(400, 16))
    assert abs(kad(x, y)) < 0.3 * kad(x, shifted)


def test_subsample_equal_draws_the_smallest_count():
    rng = np.random.default_rng(8)
    sets = {"a": rng.normal(size=(10, 2)), "b": rng.normal(size=(25, 2))}
    out = subsample_equal(sets, seed=1)
    assert {k: v.shape[0] for k, v in out.items()} == {"a": 10, "b": 10}
    with pytest.raises(ValueError, match="smallest"):
        subsample_equal(sets, n=11)


def test_fad_table_reports_counts_and_compares_at_equal_n():
    rng = np.random.default_rng(9)
    ref = rng.normal(size=(500, 8))
    table = fad_table(
        {"same": rng.normal(size=(400, 8)), "shifted": rng.normal(loc=1.0, size=(200, 8))},
        reference=ref,
        seed=0,
    )
    assert list(table["condition"]) == ["same", "shifted"]
    assert list(table["n_evaluated"]) == [200, 200]
    assert list(table["n_available"]) == [400, 200]
    assert (table["n_reference"] == 500).all()
    same, shifted = table.set_index("condition").loc[["same", "shifted"], "fad"]
    assert shifted > 5 * same  # a unit shift in 8 dims adds about 8
    assert shifted == pytest.approx(8.0, abs=1.5)
    assert table["kad_bandwidth"].nunique() == 1  # one kernel for every condition

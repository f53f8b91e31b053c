"""copyscope.compat against the real peers (pytorch-fid 0.3.0 from /opt/copyscope-tools/pypeers,
tools/install-deps.sh), both on the same test weights file (pytorch-fid finds it through
$TORCH_HOME/hub/checkpoints, where it would have downloaded the official file).

Tolerance 1e-5 relative (the issue's bound): pytorch-fid's features are PyTorch's float32
network (copyscope's match them to ~1e-6 of scale), its mean is a float32 np.mean, and its FID
goes through scipy's sqrtm; the sets have more images than dims (64), so the covariances are
full rank and sqrtm is accurate."""
import os

import numpy as np
import pytest

import copyscope
from conftest import make_natural
from copyscope.compat import cleanfid as cs_cleanfid
from copyscope.compat import pytorch_fid as cs_pfid

pytestmark = pytest.mark.filterwarnings("ignore::copyscope.NonOfficialWeightsWarning")

REL = 1e-5


@pytest.fixture(scope="module")
def peer(weights, work, monkeypatch_module):
    pf = pytest.importorskip("pytorch_fid.fid_score", reason="pytorch-fid not installed (tools/install-deps.sh)")
    hub = os.path.join(work, "torch_home", "hub", "checkpoints")
    os.makedirs(hub, exist_ok=True)
    link = os.path.join(hub, "pt_inception-2015-12-05-6726825d.pth")
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(weights), link)
    monkeypatch_module.setenv("TORCH_HOME", os.path.join(work, "torch_home"))
    import torch
    torch.set_num_threads(2)
    return pf


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def full_rank_dirs(work):
    # n > dims = 64: full-rank covariances, where scipy's sqrtm is accurate
    return (make_natural(work, "peer_a", 70, "32x32", seed=21), make_natural(work, "peer_b", 72, "36x30", seed=22))


@pytest.fixture(scope="module")
def peer_stats(peer, full_rank_dirs, work):
    """pytorch-fid's own .npz statistics of both sets (its save_fid_stats), computed once."""
    out = []
    for d, name in zip(full_rank_dirs, ("peer_pytorch_a.npz", "peer_pytorch_b.npz")):
        p = os.path.join(work, name)
        if os.path.exists(p):
            os.unlink(p)
        peer.save_fid_stats([d, p], 50, "cpu", 64, num_workers=0)
        out.append(p)
    return out


def test_calculate_fid_given_paths_equals_pytorch_fid(peer, weights, full_rank_dirs, work):
    a, b = full_rank_dirs
    want = peer.calculate_fid_given_paths([a, b], 50, "cpu", 64, num_workers=0)
    got = cs_pfid.calculate_fid_given_paths([a, b], 50, "cpu", 64, weights=weights, cache=None)
    assert isinstance(got, float)
    assert abs(got - want) <= REL * abs(want), (got, want)
    # through the weights discovery, as pytorch-fid users call it (TORCH_HOME's hub cache), cached
    cache = os.path.join(work, "peer_cache")
    got2 = cs_pfid.calculate_fid_given_paths([a, b], 50, "cpu", 64, cache=cache)
    assert got2 == got


def test_save_fid_stats_readable_by_pytorch_fid(peer, peer_stats, weights, full_rank_dirs, work):
    a, b = full_rank_dirs
    out = os.path.join(work, "peer_stats_a.npz")
    if os.path.exists(out):
        os.unlink(out)
    cache = os.path.join(work, "peer_cache")
    cs_pfid.save_fid_stats([a, out], 50, "cpu", 64, weights=weights, cache=cache)
    with pytest.raises(copyscope.InputError, match="Existing output file"):
        cs_pfid.save_fid_stats([a, out], 50, "cpu", 64, weights=weights, cache=cache)
    z = np.load(out)
    assert z["mu"].shape == (64,) and z["sigma"].shape == (64, 64)
    # pytorch-fid reads our .npz; both FIDs of (our stats of a, pytorch-fid's stats of b)
    want = peer.calculate_fid_given_paths([out, peer_stats[1]], 50, "cpu", 64, num_workers=0)
    got = cs_pfid.calculate_fid_given_paths([out, peer_stats[1]], 50, "cpu", 64)
    assert abs(got - want) <= REL * abs(want), (got, want)
    # pytorch-fid's own statistics of the same directory: equal to its float32 rounding (its mean
    # is a float32 np.mean; features differ by ~1e-6 of scale)
    pz = np.load(peer_stats[0])
    scale = np.abs(pz["sigma"]).max()
    assert np.abs(z["sigma"] - pz["sigma"]).max() <= 1e-5 * scale
    assert np.abs(z["mu"] - pz["mu"]).max() <= 1e-5 * np.abs(pz["mu"]).max()


def test_calculate_frechet_distance_equals_pytorch_fid(peer):
    rs = np.random.RandomState(5)
    x, y = rs.randn(200, 16), rs.randn(180, 16) * 1.3 + 0.2
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    want = peer.calculate_frechet_distance(m1, s1, m2, s2)
    got = cs_pfid.calculate_frechet_distance(m1, s1, m2, s2)
    assert abs(got - want) <= 1e-9 * abs(want)  # full rank, well conditioned: scipy's sqrtm is exact to ~1e-12


def test_invalid_path_like_pytorch_fid(peer, work):
    with pytest.raises(RuntimeError, match="Invalid path"):
        peer.calculate_fid_given_paths([os.path.join(work, "nope"), work], 50, "cpu", 64)
    with pytest.raises(copyscope.InputError, match="Invalid path"):
        cs_pfid.calculate_fid_given_paths([os.path.join(work, "nope"), work], 50, "cpu", 64)


def test_cleanfid_legacy_pytorch_is_pytorch_fid(weights, dirs, work):
    a, b = dirs
    cache = os.path.join(work, "peer_cache")  # the second call reads the first's features
    got = cs_cleanfid.compute_fid(a, b, mode="legacy_pytorch", device="cpu", weights=weights, cache=cache)
    want = copyscope.fid(a, b, weights=weights, device="cpu", cache=cache)
    assert got == want
    # mode "clean" is the engine's clean-fid protocol (its resize is checked against clean-fid's
    # own function in tests/protocols.cmake)
    clean = cs_cleanfid.compute_fid(a, b, mode="clean", device="cpu", weights=weights, cache=cache)
    assert clean == copyscope.fid(a, b, protocol="clean-fid", weights=weights, device="cpu", cache=cache)
    with pytest.raises(copyscope.InputError, match="unknown"):
        cs_cleanfid.compute_fid(a, b, mode="cleaner", weights=weights)
    with pytest.raises(copyscope.InputError, match="two folders"):
        cs_cleanfid.compute_fid(a, None, mode="legacy_pytorch", weights=weights)

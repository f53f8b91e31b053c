"""copyscope's Python API against the CLI on the same inputs (bit for bit), and its errors.

Tolerances: FIDs, features and statistics from the same engine are compared for equality (the
package calls the library functions the CLI calls, with the same method rule and float order);
features of in-memory arrays go through the same preprocessing and network as files, so they
are equal too, checked against the issue's bound of 1e-6 of the feature scale and also exactly."""
import glob
import json
import os
import threading
import time
import warnings

import numpy as np
import pytest

import copyscope
from conftest import make_natural, pil_rgb, read_h5_features, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::copyscope.CopyscopeWarning")  # checked where they matter


def cli_fid(cli, a, b, weights, *extra):
    p = run_cli(cli, "fid", a, b, "--weights", weights, "--no-cache", "--json", "--quiet", *extra)
    return json.loads(p.stdout)


# ---- fid / features / stats: equal to the CLI ---------------------------------------------------

def test_fid_dirs_equals_cli_bit_for_bit(cli, weights, dirs):
    a, b = dirs
    want = cli_fid(cli, a, b, weights)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = copyscope.fid(a, b, weights=weights, cache=None)
    assert isinstance(got, float)
    assert got.hex() == float(want["fid"]).hex(), (got, want)
    # the CLI's warnings (singular covariances, n < d) arrive as Python warnings
    texts = [str(x.message) for x in w if issubclass(x.category, copyscope.CopyscopeWarning)
             and not issubclass(x.category, copyscope.NonOfficialWeightsWarning)]
    assert texts == want["warnings"]
    # same through the printed line: pytorch-fid's "FID:  <repr>"
    p = run_cli(cli, "fid", a, b, "--weights", weights, "--quiet", "--cache", os.path.join(os.path.dirname(a), "cache"))
    assert p.stdout.strip() == f"FID:  {got!r}"  # (features from the cache are the same bits)


def test_features_files_equal_cli(cli, weights, dirs, work):
    a, _ = dirs
    out = os.path.join(work, "cli_features_a.h5")
    if os.path.exists(out):
        os.unlink(out)
    run_cli(cli, "features", a, "--out", out, "--weights", weights, "--no-cache", "--quiet")
    want, paths = read_h5_features(out)
    got = copyscope.features(a, weights=weights, cache=None)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(paths), 2048)
    assert np.array_equal(got, want)


def test_features_arrays_equal_cli(cli, weights, dirs, work):
    a, b = dirs
    files = sorted(glob.glob(os.path.join(a, "*.png"))) + sorted(glob.glob(os.path.join(b, "*.jpg")))
    out = os.path.join(work, "cli_features_ab.h5")
    if os.path.exists(out):
        os.unlink(out)
    run_cli(cli, "features", *files, "--out", out, "--weights", weights, "--no-cache", "--quiet")
    want, _ = read_h5_features(out)
    imgs = [pil_rgb(f) for f in files]  # two sizes: 64x48 and 40x56
    got = copyscope.features(imgs, weights=weights, batch_size=4)
    scale = float(np.abs(want).max())
    assert np.abs(got - want).max() <= 1e-6 * scale  # the bound; in fact:
    assert np.array_equal(got, want)
    # one (n, H, W, 3) array of equal sizes, and a non-contiguous view (copied once, same rows)
    stack = np.stack(imgs[:len(glob.glob(os.path.join(a, "*.png")))])
    got2 = copyscope.features(stack, weights=weights, dims=2048)
    assert np.array_equal(got2, want[:len(stack)])
    view = np.ascontiguousarray(stack[:, ::-1])[:, ::-1]  # a negative-stride view
    assert not view.flags.c_contiguous
    assert np.array_equal(copyscope.features(view, weights=weights), want[:len(stack)])


def test_features_dims_batch_threads_invariant(weights, dirs):
    a, _ = dirs
    x = copyscope.features(a, weights=weights, dims=64, cache=None, batch_size=3, threads=1)
    y = copyscope.features(a, weights=weights, dims=64, cache=None, batch_size=50, threads=2)
    assert x.shape == (8, 64) and np.array_equal(x, y)


def test_stats_equal_cli_npz(cli, weights, dirs, work):
    a, _ = dirs
    out = os.path.join(work, "cli_stats_a.npz")
    if os.path.exists(out):
        os.unlink(out)
    run_cli(cli, "stats", a, "--out", out, "--weights", weights, "--no-cache", "--dims", "64", "--quiet")
    z = np.load(out)
    mu, sigma = copyscope.stats(a, weights=weights, dims=64, cache=None)
    assert mu.dtype == sigma.dtype == np.float64
    assert np.array_equal(mu, z["mu"]) and np.array_equal(sigma, z["sigma"])
    # and against numpy on the features: float64 accumulation, np.cov's n - 1
    x = copyscope.features(a, weights=weights, dims=64, cache=None).astype(np.float64)
    scale = np.abs(np.cov(x, rowvar=False)).max()
    assert np.abs(mu - x.mean(0)).max() <= 1e-12 * np.abs(x).max()  # float64 summation order only
    assert np.abs(sigma - np.cov(x, rowvar=False)).max() <= 1e-12 * scale


def test_fid_of_every_input_kind_agrees(cli, weights, dirs, work):
    """dirs, feature arrays, (mu, sigma), .npz and .h5 files give the CLI's numbers for the same kind."""
    a, b = dirs
    xa = copyscope.features(a, weights=weights, dims=64, cache=None)
    xb = copyscope.features(b, weights=weights, dims=64, cache=None)
    f_dirs = copyscope.fid(a, b, weights=weights, dims=64, cache=None)
    with pytest.warns(copyscope.CopyscopeWarning, match="singular"):
        f_rows = copyscope.fid(xa, xb)
    assert f_rows == f_dirs  # same rows, same method (lowrank)
    # statistics: pytorch-fid's .npz of each set, through the CLI and through the package
    npz = []
    for d, name in ((a, "sa.npz"), (b, "sb.npz")):
        p = os.path.join(work, name)
        if os.path.exists(p):
            os.unlink(p)
        run_cli(cli, "stats", d, "--out", p, "--weights", weights, "--no-cache", "--dims", "64", "--quiet")
        npz.append(p)
    want = float(json.loads(run_cli(cli, "fid", npz[0], npz[1], "--json").stdout)["fid"])
    assert copyscope.fid(npz[0], npz[1]) == want
    za, zb = np.load(npz[0]), np.load(npz[1])
    assert copyscope.fid((za["mu"], za["sigma"]), (zb["mu"], zb["sigma"])) == want
    # the exact low-rank value and the eigenvalue value of the same sets agree closely (1e-9
    # relative: both are float64 evaluations of the same quantity, README's FID accuracy)
    assert abs(want - f_dirs) <= 1e-9 * max(1.0, abs(want)) * 1e3


def test_kid_equals_cli(cli, weights, dirs):
    a, b = dirs
    p = run_cli(cli, "metrics", a, b, "-m", "kid", "--weights", weights, "--no-cache", "--json", "--seed", "5")
    want = json.loads(p.stdout)["metrics"]["kid"]
    got = copyscope.kid(a, b, weights=weights, cache=None, seed=5, return_std=True)
    # the CLI prints cJSON's %.17g: equal to 1e-15 relative (round trip of the printed digits)
    assert got[0] == pytest.approx(want["kid"], rel=1e-15, abs=0)
    assert got[1] == pytest.approx(want["std"], rel=1e-15, abs=0)


def test_kid_against_numpy():
    """The unbiased MMD^2 of the cubic kernel k(u, v) = (u.v / d + 1)^3, recomputed with numpy: one
    subset of all rows of equal-size sets is the whole sets (any order), so the value is fixed."""
    rs = np.random.RandomState(3)
    x = rs.randn(25, 16).astype(np.float32)
    y = (rs.randn(25, 16) + 0.3).astype(np.float32)
    got = copyscope.kid(x, y, n_subsets=1, subset_size=25)
    k = lambda u, v: (u.astype(np.float64) @ v.astype(np.float64).T / 16 + 1) ** 3  # noqa: E731
    xx, yy, xy = k(x, x), k(y, y), k(x, y)
    m = 25
    want = ((xx.sum() - np.trace(xx)) + (yy.sum() - np.trace(yy))) / (m * (m - 1)) - 2 * xy.sum() / m ** 2
    assert abs(got - want) <= 1e-12 * max(1.0, abs(want))  # float64 sums in another order


@pytest.mark.parametrize("protocol", ["clean-fid", "torch-fidelity"])
def test_protocols_equal_cli(cli, weights, dirs, work, protocol):
    """features (files and arrays) and fid under the engine's other protocols equal the CLI's."""
    a, b = dirs
    files = sorted(glob.glob(os.path.join(a, "*.png")))
    out = os.path.join(work, f"cli_features_{protocol}.h5")
    if os.path.exists(out):
        os.unlink(out)
    run_cli(cli, "features", *files, "--out", out, "--weights", weights, "--no-cache", "--quiet",
            "--protocol", protocol, "--dims", "64")
    want, _ = read_h5_features(out)
    assert np.array_equal(copyscope.features([pil_rgb(f) for f in files], weights=weights, protocol=protocol, dims=64), want)
    assert np.array_equal(copyscope.features(a, weights=weights, protocol=protocol, dims=64, cache=None), want)
    j = cli_fid(cli, a, b, weights, "--protocol", protocol, "--dims", "64")
    assert copyscope.fid(a, b, weights=weights, protocol=protocol, dims=64, cache=None) == j["fid"]


def test_isc_equals_cli(cli, weights, dirs):
    a, _ = dirs
    j = json.loads(run_cli(cli, "isc", a, "--weights", weights, "--no-cache", "--quiet", "--json", "--splits", "4").stdout)
    got = copyscope.isc(a, weights=weights, cache=None, splits=4, return_std=True)
    # the CLI prints cJSON's %.17g: equal to 1e-15 relative (round trip of the printed digits)
    assert got[0] == pytest.approx(j["isc_mean"], rel=1e-15, abs=0)
    assert got[1] == pytest.approx(j["isc_std"], rel=1e-15, abs=0)


# ---- shapley / audit: equal to the CLI ----------------------------------------------------------

def test_shapley_equals_cli(cli):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    table = os.path.join(root, "data", "paper_fids.csv")
    for est in ("kernelshap", "paper"):
        want = json.loads(run_cli(cli, "shapley", table, "--baseline", "SDv1-5", "-e", est, "--json").stdout)
        got = copyscope.shapley(table, baseline="SDv1-5", estimator=est)
        # cJSON prints %.17g: equal to 1e-15 relative after the round trip of the printed digits
        assert got["players"] == want["players"]
        assert got["values"] == pytest.approx(want["values"], rel=1e-15, abs=0)
        assert got["efficiency_gap"] == pytest.approx(want["efficiency_gap"], rel=1e-15, abs=0)
    # the same game as a dict of coalition tuples
    rows = [line.strip().split(",") for line in open(table) if line.strip() and not line.startswith("#")]
    header = [h.strip().lower() for h in rows[0]]
    ci, fi = header.index("coalition"), header.index("fid")
    d = {}
    for r in rows[1:]:
        names = tuple(n for n in r[ci].strip().split("+") if n and n != "SDv1-5")
        d[names] = float(r[fi])
    got_d = copyscope.shapley(d, estimator="kernelshap")
    got_t = copyscope.shapley(table, baseline="SDv1-5", estimator="kernelshap")
    assert got_d["values"] == pytest.approx(got_t["values"], rel=0, abs=0)


def test_shapley_exact_known_game():
    # glove game: players a, b hold left gloves, c a right glove; v = 1 for a pair. Shapley values
    # (1/6, 1/6, 2/3) (a textbook value). Utility "raw": the values are the utilities.
    v = {(): 0.0, ("a",): 0.0, ("b",): 0.0, ("c",): 0.0, ("a", "b"): 0.0, ("a", "c"): 1.0, ("b", "c"): 1.0,
         ("a", "b", "c"): 1.0}
    r = copyscope.shapley(v, utility="raw")
    assert r["values"] == pytest.approx({"a": 1 / 6, "b": 1 / 6, "c": 2 / 3}, abs=1e-15)
    with pytest.raises(copyscope.InputError, match="missing|not measured|coalition"):
        copyscope.shapley({(): 0.0, ("a", "b"): 1.0}, utility="raw")


def test_audit_pixel_equals_cli(cli, work):
    """A pixel-metric audit (no network) from a manifest dict and from its file: report.json's
    values equal the CLI's."""
    ref = make_natural(work, "audit_ref", 3, "32x32", seed=10)
    sets = {name: make_natural(work, f"audit_{name}", 3, "32x32", seed=11 + i)
            for i, name in enumerate(["base", "A", "B", "AB"])}
    manifest = {"name": "py", "baseline": "base", "players": ["A", "B"], "reference": ref,
                "sets": [{"coalition": [], "path": sets["base"]}, {"coalition": ["A"], "path": sets["A"]},
                         {"coalition": ["B"], "path": sets["B"]}, {"coalition": ["A", "B"], "path": sets["AB"]}]}
    mpath = os.path.join(work, "audit_manifest.json")
    with open(mpath, "w") as f:
        json.dump(manifest, f)
    out = os.path.join(work, "audit_cli")
    run_cli(cli, "audit", mpath, "--utility", "ssim", "--bootstrap", "20", "--seed", "3", "--out", out, "--quiet")
    want = json.load(open(os.path.join(out, "report.json")))
    got = copyscope.audit(manifest, utility="ssim", bootstrap=20, seed=3)
    got_file = copyscope.audit(mpath, utility="ssim", bootstrap=20, seed=3, out=os.path.join(work, "audit_py"))

    def strip(r):  # timings and the manifest's name differ; every number must not
        if isinstance(r, dict):
            return {k: strip(v) for k, v in r.items() if "seconds" not in k and k not in ("timing", "manifest")}
        if isinstance(r, list):
            return [strip(v) for v in r]
        return r
    assert strip(got_file) == strip(want)
    assert strip(got) == strip(want)
    assert os.path.exists(os.path.join(work, "audit_py", "report.html"))


# ---- errors --------------------------------------------------------------------------------------

def test_corrupt_image_raises_value_error_naming_file(weights, work):
    d = os.path.join(work, "corrupt")
    os.makedirs(d, exist_ok=True)
    bad = os.path.join(d, "corrupt.png")
    src = sorted(glob.glob(os.path.join(make_natural(work, "set_a", 8, "64x48", seed=1), "*.png")))[0]
    data = open(src, "rb").read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError) as e:
        copyscope.features([bad], weights=weights, cache=None)
    assert isinstance(e.value, copyscope.InputError)
    assert bad in str(e.value) and "skip_bad=True" in str(e.value)
    assert e.value.status in ("truncated", "format")
    # skip_bad: listed as a warning, the good images still come out
    with pytest.warns(copyscope.CopyscopeWarning, match="corrupt.png"):
        x = copyscope.features([src, bad], weights=weights, cache=None, dims=64, skip_bad=True)
    assert x.shape == (1, 64)


@pytest.mark.parametrize("images,match", [
    (np.zeros((2, 8, 8, 3), np.float32), "dtype"),
    (np.zeros((8, 8, 3), np.uint8), "shape"),
    (np.zeros((2, 8, 8, 4), np.uint8), "shape"),
    ([np.zeros((8, 8), np.uint8)], "shape"),
    ([np.zeros((8, 8, 3), np.uint8), "x.png"], "only paths or only"),
    ([], "empty"),
    (42, "expected"),
])
def test_bad_arrays_raise_input_error(weights, images, match):
    with pytest.raises(copyscope.InputError, match=match):
        copyscope.features(images, weights=weights, cache=None)


def test_bad_inputs_raise_input_error(weights, work):
    missing = os.path.join(work, "no-such-dir")
    with pytest.raises(copyscope.InputError, match="no-such-dir"):
        copyscope.features(missing, weights=weights, cache=None)
    empty = os.path.join(work, "empty_dir")
    os.makedirs(empty, exist_ok=True)
    with pytest.raises(copyscope.InputError, match="no image files"):
        copyscope.fid(empty, empty, weights=weights, cache=None)
    x = np.random.RandomState(0).randn(10, 8).astype(np.float32)
    y = x.copy()
    y[3, 5] = np.nan
    with pytest.raises(copyscope.InputError, match="not finite"):
        copyscope.fid(x, y)
    with pytest.raises(copyscope.InputError, match="8-dimensional|dimension"):
        copyscope.fid(x, np.zeros((10, 9), np.float32))
    with pytest.raises(copyscope.InputError, match="sigma"):
        copyscope.fid((np.zeros(4), np.eye(3)), (np.zeros(4), np.eye(4)))
    with pytest.raises(copyscope.InputError, match="dims"):
        copyscope.features(np.zeros((1, 8, 8, 3), np.uint8), dims=100)
    with pytest.raises(copyscope.InputError, match="protocol"):
        copyscope.features(np.zeros((1, 8, 8, 3), np.uint8), protocol="inception-tf2")
    with pytest.raises(copyscope.InputError, match="weights|no-such.pth"):
        copyscope.features(np.zeros((1, 8, 8, 3), np.uint8), weights=os.path.join(work, "no-such.pth"))
    with pytest.raises(copyscope.InputError, match="at least 2"):
        copyscope.fid(x[:1], x)
    notstats = os.path.join(work, "not-stats.npz")
    with open(notstats, "wb") as f:
        f.write(b"PK\x03\x04 garbage")
    with pytest.raises(copyscope.InputError, match="not-stats.npz"):
        copyscope.fid(notstats, x)


def test_errors_are_documented_classes():
    assert issubclass(copyscope.InputError, ValueError)
    assert issubclass(copyscope.EngineError, RuntimeError)
    for f in (copyscope.features, copyscope.stats, copyscope.fid, copyscope.kid, copyscope.isc, copyscope.shapley,
              copyscope.audit):
        assert f.__doc__ and f.__annotations__


# ---- the GIL, arrays without copies -------------------------------------------------------------

def test_gil_released_during_engine_work(weights, dirs):
    a, _ = dirs
    done = threading.Event()
    result = {}

    def work_():
        result["x"] = copyscope.features(a, weights=weights, cache=None, dims=2048, threads=1)
        done.set()

    t = threading.Thread(target=work_)
    ticks = 0
    t0 = time.perf_counter()
    t.start()
    while not done.is_set():  # this loop runs only while the engine does not hold the GIL
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.perf_counter() - t0
    assert result["x"].shape == (8, 2048)
    # a held GIL gives 0-1 ticks over the whole call; released, about one per millisecond
    assert elapsed > 0.2 and ticks >= 0.2 * elapsed * 1000 * 0.2, (ticks, elapsed)


def test_result_is_a_view_of_engine_memory(weights):
    x = copyscope.features(np.zeros((1, 5, 7, 3), np.uint8), weights=weights, dims=64)
    assert not x.flags.owndata and x.base is not None  # numpy views the engine's buffer
    assert isinstance(x.base, copyscope._core.Buffer) or isinstance(x.base.obj, copyscope._core.Buffer)
    assert x.flags.writeable and x.flags.c_contiguous

#!/usr/bin/env python3
"""Coverage study of `copyscope audit --bootstrap` intervals on simulated populations with known
answers (issue 22).

World: Gaussian "features" in d dimensions. The reference is N(0, S_r). The baseline set is
N(mu_0, S_0). Player i (not the null player) moves the mean by delta_i (partly toward the
reference) and scales the spread by s_i, so coalition S draws from
N(mu_0 + sum_{i in S} delta_i, (prod_{i in S} s_i)^2 S_0): the players interact through the spread,
so the game is not additive. The last player is a null player when --null is given (delta = 0,
s = 1): its coalitions draw from the same distribution as the coalition without it.

The population FID of every coalition is known in closed form,
  FID(S) = |mu_S|^2 + tr S_S + tr S_r - 2 c_S tr (S_r^1/2 S_0 S_r^1/2)^1/2,   c_S = prod s_i,
so the estimand, the Shapley value (and the Banzhaf value) of U(S) = FID(baseline) - FID(S) of
the POPULATION, is known exactly.

Each replicate draws a fresh reference (n_ref rows) and one fresh set of n rows per coalition,
writes them as copyscope features .h5 files, runs the real CLI (`copyscope audit MANIFEST --json
--bootstrap B -j 1`), and records for every interval method in report.json (`ci95_methods`)
whether each nominal 95% interval covers the truth, and its width: for every Shapley value
(exact), every Banzhaf value and every coalition FID.

    bench/coverage_study.py --cli build/copyscope --d 64 --n 300 --players 3 --reps 200 \\
        --bootstrap 400 --out bench/results/coverage-cpu.txt

Coverage is reported with its Wilson 95% interval over all (replicate, quantity) pairs; the
quantities of one replicate are correlated, so the interval over replicates alone (also given,
per quantity kind) is the honest one.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from math import factorial

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write_features(path, x):
    import h5py
    x = np.asarray(x, dtype=np.float32)
    with h5py.File(path, "w") as f:
        f["features"] = x
        f["paths"] = np.array(["img%05d.png" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f["sha256"] = np.array(["%064x" % i for i in range(len(x))], dtype=h5py.string_dtype())
        f.attrs["kind"] = "features"
        f.attrs["dims"] = np.int64(x.shape[1])
        f.attrs["weights_sha256"] = "cd" * 32
        f.attrs["preprocessing"] = "simulated"


def sym_sqrt(a):
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


class World:
    """A population with known coalition FIDs. world_seed fixes it."""

    def __init__(self, d, players, null, world_seed, shift=1.0):
        rng = np.random.default_rng(world_seed)
        self.d, self.p = d, players
        q_r = np.linalg.qr(rng.standard_normal((d, d)))[0]
        lam_r = np.exp(rng.uniform(np.log(0.3), np.log(3.0), d))
        self.S_r = (q_r * lam_r) @ q_r.T
        q_0 = np.linalg.qr(rng.standard_normal((d, d)))[0]
        lam_0 = np.exp(rng.uniform(np.log(0.3), np.log(3.0), d))
        self.S_0 = (q_0 * lam_0) @ q_0.T
        self.L_0 = np.linalg.cholesky(self.S_0)
        self.L_r = np.linalg.cholesky(self.S_r)
        # baseline mean at distance ~ 3 * shift from the reference
        self.mu_0 = rng.standard_normal(d) * 3.0 * shift / math.sqrt(d)
        self.delta = np.zeros((players, d))
        self.scale = np.ones(players)
        active = players - 1 if null else players
        fracs = [0.5, 0.3, 0.15, 0.25, 0.1]
        scales = [0.9, 1.15, 0.95, 1.05, 0.85]
        for i in range(active):
            # part toward the reference, part in a random direction
            self.delta[i] = -fracs[i % 5] * self.mu_0 + rng.standard_normal(d) * 0.6 * shift / math.sqrt(d)
            self.scale[i] = scales[i % 5]
        a = sym_sqrt(self.S_r)
        self.tsq0 = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(a @ self.S_0 @ a), 0, None))))
        self.null = null

    def coalition(self, mask):
        mu = self.mu_0.copy()
        c = 1.0
        for i in range(self.p):
            if mask >> i & 1:
                mu += self.delta[i]
                c *= self.scale[i]
        return mu, c

    def fid(self, mask):
        mu, c = self.coalition(mask)
        return float(mu @ mu + c * c * np.trace(self.S_0) + np.trace(self.S_r) - 2.0 * c * self.tsq0)

    def sample(self, rng, mask, n):
        mu, c = self.coalition(mask)
        return mu + c * (rng.standard_normal((n, self.d)) @ self.L_0.T)

    def sample_ref(self, rng, n):
        return rng.standard_normal((n, self.d)) @ self.L_r.T


def shapley(p, u):
    phi = np.zeros(p)
    for i in range(p):
        for s in range(1 << p):
            if s >> i & 1:
                continue
            k = bin(s).count("1")
            phi[i] += factorial(k) * factorial(p - k - 1) / factorial(p) * (u[s | 1 << i] - u[s])
    return phi


def banzhaf(p, u):
    beta = np.zeros(p)
    for i in range(p):
        for s in range(1 << p):
            if not s >> i & 1:
                beta[i] += (u[s | 1 << i] - u[s]) / 2 ** (p - 1)
    return beta


def wilson(k, n, z=1.96):
    if n == 0:
        return (float("nan"), float("nan"))
    ph = k / n
    den = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / den
    h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return (c - h, c + h)


def run_replicate(args, world, rep, work, utilities):
    rng = np.random.default_rng([args.seed, rep])
    p = world.p
    names = ["P%d" % i for i in range(p)]
    if world.null:
        names[-1] = "Null"
    sets = []
    write_features(os.path.join(work, "ref.h5"), world.sample_ref(rng, args.n_ref or args.n))
    for mask in range(1 << p):
        path = os.path.join(work, "s%d.h5" % mask)
        write_features(path, world.sample(rng, mask, args.n))
        sets.append({"coalition": [names[i] for i in range(p) if mask >> i & 1], "path": path})
    man = os.path.join(work, "manifest.json")
    with open(man, "w") as f:
        json.dump({"reference": os.path.join(work, "ref.h5"), "baseline": "Base", "players": names, "sets": sets}, f)
    out = {}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS=str(args.threads))
    for u in utilities:
        cmd = [args.cli, "audit", man, "--json", "-q", "--bootstrap", str(args.bootstrap), "--seed", str(rep + 1),
               "-j", str(args.threads), "--utility", u, "--out", os.path.join(work, "report")] + args.extra
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SystemExit("copyscope failed (%d): %s" % (r.returncode, r.stderr))
        out[u] = json.loads(r.stdout)
    return names, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "copyscope"))
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--n", type=int, default=300, help="rows per coalition set")
    ap.add_argument("--n-ref", type=int, default=0, help="reference rows (default: --n)")
    ap.add_argument("--players", type=int, default=3, help="players, the null player included")
    ap.add_argument("--null", action="store_true", help="the last player is a null player")
    ap.add_argument("--reps", type=int, default=100, help="simulated audits")
    ap.add_argument("--start", type=int, default=0, help="first replicate (resume a --jsonl run)")
    ap.add_argument("--bootstrap", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2026, help="replicate seed (tests use others)")
    ap.add_argument("--world-seed", type=int, default=7)
    ap.add_argument("--shift", type=float, default=1.0, help="scale of the mean shifts")
    ap.add_argument("--out", default=None, help="append the table to this file")
    ap.add_argument("--jsonl", default=None, help="append one JSON line per replicate")
    ap.add_argument("--utilities", default="fid-gain,fid-inf", help="audits per replicate, same samples")
    ap.add_argument("--summarize", default=None, help="only summarise a --jsonl file of an earlier run")
    ap.add_argument("--extra", nargs="*", default=[], help="more copyscope audit arguments")
    args, unknown = ap.parse_known_args()
    args.extra += unknown  # `--extra --studentized 5`: argparse leaves option-like values to us

    world = World(args.d, args.players, args.null, args.world_seed, args.shift)
    p = args.players
    u_true = {s: world.fid(0) - world.fid(s) for s in range(1 << p)}
    phi_true = shapley(p, u_true)
    beta_true = banzhaf(p, u_true)
    fid_true = np.array([world.fid(s) for s in range(1 << p)])
    utilities = args.utilities.split(",")
    lines = []
    t0 = time.time()
    if args.summarize:
        with open(args.summarize) as f:
            lines = [json.loads(x) for x in f if x.strip() and "|" in x]
    else:
        with tempfile.TemporaryDirectory(prefix="cs-coverage-") as work:
            for rep in range(args.start, args.reps):
                names, rjs = run_replicate(args, world, rep, work, utilities)
                line = {"rep": rep}
                for u, rj in rjs.items():
                    ests = {e["estimator"]: e for e in rj["estimators"]}
                    rows = []
                    for i, nm in enumerate(names):
                        rows.append(("shapley", ests["exact"]["ci95_methods"][nm], phi_true[i], ests["exact"]["values"][nm]))
                        rows.append(("banzhaf", ests["banzhaf"]["ci95_methods"][nm], beta_true[i],
                                     ests["banzhaf"]["values"][nm]))
                    for c in rj["coalitions"]:
                        mask = sum(1 << names.index(x) for x in c["coalition"])
                        rows.append(("fid", c["fid_ci95_methods"], fid_true[mask], c["fid"]))
                    for kind, cim, truth, point in rows:
                        for m, (lo, hi) in cim.items():
                            if lo is None or hi is None:  # a method not computed in this audit
                                continue
                            key = "%s|%s|%s" % (u, kind, m)
                            line.setdefault(key, []).append([int(lo <= truth <= hi), hi - lo])
                        line.setdefault("%s|%s|point" % (u, kind), []).append([0, point - truth])
                lines.append(line)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(line) + "\n")
                if (rep + 1) % 10 == 0:
                    print("%d/%d replicates, %.0f s" % (rep + 1, args.reps, time.time() - t0), file=sys.stderr, flush=True)
    keys = [k for k in lines[0] if k != "rep"]
    el = time.time() - t0
    out = []
    out.append("## d=%d n=%d n_ref=%d players=%d%s B=%d reps=%d world_seed=%d seed=%d shift=%g %s (%.0f s, %d thread)"
               % (args.d, args.n, args.n_ref or args.n, p, " (last = null)" if args.null else "", args.bootstrap,
                  len(lines), args.world_seed, args.seed, args.shift, " ".join(args.extra), el, args.threads))
    if args.summarize:
        out[-1] = out[-1][:out[-1].rindex("(")] + "(from %s)" % os.path.basename(args.summarize)
    out.append("true Shapley %s; true Banzhaf %s; true FIDs %s" % (
        np.array2string(phi_true, precision=3), np.array2string(beta_true, precision=3),
        np.array2string(fid_true, precision=2)))
    out.append("%-13s %-8s %-16s %9s %17s %11s %16s" % ("utility", "quantity", "interval", "coverage", "Wilson 95% CI",
                                                        "mean width", "all-in-replicate"))
    for key in keys:
        u, kind, m = key.split("|")
        vals = [v for ln in lines for v in ln[key]]
        n = len(vals)
        if m == "point":
            per = np.array([[v[1] for v in ln[key]] for ln in lines])  # (reps, values)
            out.append("%-13s %-8s %-16s mean error of the point estimates %s (RMS %.3f)"
                       % (u, kind, m, np.array2string(per.mean(0), precision=3), math.sqrt(np.mean(per ** 2))))
            continue
        k = sum(v[0] for v in vals)
        lo, hi = wilson(k, n)
        allin = sum(all(v[0] for v in ln[key]) for ln in lines)
        out.append("%-13s %-8s %-16s %8.1f%% %7.1f%%..%5.1f%% %11.4f %9d/%d" % (
            u, kind, m, 100 * k / n, 100 * lo, 100 * hi, sum(v[1] for v in vals) / n, allin, len(lines)))
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

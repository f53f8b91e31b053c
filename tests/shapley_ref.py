#!/usr/bin/python3
"""Independent Python references for `copyscope shapley` and `copyscope plan`.

Modes (each exits 0 on success, 1 on a mismatch):
  paper  CLI CSV      the public CopyScope code's dividend formula, recomputed here from the CSV
  brute  CLI TMPDIR   exact / banzhaf / loo / kernelshap on random games (n <= 6) against a
                      brute-force enumeration of all n! permutations (and all subsets)
  errors CLI TMPDIR   bad tables -> exit 2 with the expected message
  plan   CLI TMPDIR   plans: sizes, order, determinism; a permutation plan feeds the estimator

Tolerances: values of order 1..300 computed by two correct implementations differ only by the
rounding of a few dozen additions (math.fsum here, compensated sums in C): 1e-12 relative is
~1e4 ulps of head-room, far below the effect of any formula error. KernelSHAP solves a small
linear system: 1e-10.
"""
import csv
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys


def run(cli, *args):
    p = subprocess.run([cli, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_json(cli, *args):
    rc, out, err = run(cli, *args, "--json")
    if rc != 0:
        raise SystemExit(f"FAIL: {' '.join(args)} exited {rc}: {err}")
    return json.loads(out)


def close(a, b, rel):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


# ---------------------------------------------------------------------------------------------
def mode_paper(cli, path):
    """Dividends c(B) = FID(B) - FID(base); phi_i = sum_{B containing i} c(B)/|B|; the project
    reports value_i = -phi_i and normalized -phi_i / sum |phi_j|."""
    base_name = "SDv1-5"
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if not l.lstrip().startswith("#")]
    for r in csv.DictReader(lines):
        names = [t.strip() for t in r["coalition"].split("+")]
        members = frozenset(t for t in names if t != base_name)
        rows.append((members, float(r["fid"])))
    fid = dict(rows)
    check(len(fid) == 14, f"expected the 14 published coalitions, got {len(fid)}")
    base = fid[frozenset()]
    players = sorted(set().union(*fid.keys()))
    phi = {p: math.fsum((f - base) / len(B) for B, f in fid.items() if p in B) for p in players}
    total = math.fsum(abs(v) for v in phi.values())
    ref_norm = {p: -phi[p] / total for p in players}

    got = run_json(cli, "shapley", path, "--baseline", base_name, "--estimator", "paper")
    for key in ("players", "estimator", "values", "normalized", "utilities", "efficiency_gap", "missing",
                "is_estimate", "fids", "note"):
        check(key in got, f"--json lacks '{key}'")
    check(got["estimator"] == "paper" and got["is_estimate"] is False, "labels")
    check(sorted(got["players"]) == players, f"players {got['players']}")
    for p in players:
        check(close(got["values"][p], -phi[p], 1e-12), f"paper value {p}: {got['values'][p]!r} vs {-phi[p]!r}")
        check(close(got["normalized"][p], ref_norm[p], 1e-12), f"paper normalized {p}")
    grand = frozenset(players)
    gap = math.fsum(-phi[p] for p in players) - (base - fid[grand])
    check(close(got["efficiency_gap"], gap, 1e-12), f"efficiency gap {got['efficiency_gap']} vs {gap}")
    check(len(got["missing"]) == 32 - 14 and got["missing_count"] == 18, "missing list")
    check(set(got["utilities"]) == {("+".join(p for p in got["players"] if p in B) or "(baseline)") for B in fid},
          "utilities keys")
    # neg-fid gives the same dividends (v(B) - v(0) is unchanged)
    neg = run_json(cli, "shapley", path, "--baseline", base_name, "--estimator", "paper", "--utility", "neg-fid")
    for p in players:
        check(close(neg["values"][p], -phi[p], 1e-12), f"neg-fid paper value {p}")
    print("paper (value = -phi, positive = toward the Mona Lisa):")
    for p in players:
        print(f"  {p:10s} {-phi[p]:+12.6f}  normalized {ref_norm[p]:+.6f}")


# ---------------------------------------------------------------------------------------------
def shapley_brute(n, v):
    """Average marginal contribution over all n! orders."""
    acc = [[] for _ in range(n)]
    for order in itertools.permutations(range(n)):
        mask = 0
        for i in order:
            acc[i].append(v[mask | 1 << i] - v[mask])
            mask |= 1 << i
    return [math.fsum(a) / len(a) for a in acc]


def banzhaf_brute(n, v):
    return [math.fsum(v[s | 1 << i] - v[s] for s in range(1 << n) if not s >> i & 1) / 2 ** (n - 1)
            for i in range(n)]


def write_table(path, names, v, masks=None):
    with open(path, "w") as f:
        f.write("coalition,utility\n")
        for s in (masks if masks is not None else range(len(v))):
            coal = "+".join(names[i] for i in range(len(names)) if s >> i & 1)
            f.write(f"{coal},{v[s]!r}\n")


def mode_brute(cli, tmp):
    rng = random.Random(2024)
    for n in range(1, 7):
        for rep in range(3):
            names = [f"c{i}" for i in range(n)]
            v = [rng.uniform(-5, 5) for _ in range(1 << n)]
            path = os.path.join(tmp, f"brute_{n}_{rep}.csv")
            # rows in a shuffled order and with shuffled member order: parsing must not care
            order = list(range(1 << n))
            rng.shuffle(order)
            with open(path, "w") as f:
                f.write("coalition,utility\n")
                for s in order:
                    members = [names[i] for i in range(n) if s >> i & 1]
                    rng.shuffle(members)
                    f.write(f"{'+'.join(members)},{v[s]!r}\n")
            ref = shapley_brute(n, v)
            got = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "exact")
            for i, p in enumerate(names):
                check(close(got["values"][p], ref[i], 1e-12), f"n={n} exact {p}: {got['values'][p]} vs {ref[i]}")
            check(abs(got["efficiency_gap"]) < 1e-12, f"n={n} exact efficiency {got['efficiency_gap']}")
            check(got["missing"] == [] and got["is_estimate"] is False, "exact labels")
            ks = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "kernelshap")
            for i, p in enumerate(names):
                check(close(ks["values"][p], ref[i], 1e-10), f"n={n} kernelshap {p}")
            check(ks["is_estimate"] is True, "kernelshap is an estimate")
            bz = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "banzhaf")
            bref = banzhaf_brute(n, v)
            for i, p in enumerate(names):
                check(close(bz["values"][p], bref[i], 1e-12), f"n={n} banzhaf {p}")
            lo = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "loo")
            full = (1 << n) - 1
            for i, p in enumerate(names):
                check(close(lo["values"][p], v[full] - v[full & ~(1 << i)], 1e-12), f"n={n} loo {p}")
            pm = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "permutation",
                          "--samples", "400", "--seed", "3")
            for i, p in enumerate(names):
                se = pm["std_error"][p]
                check(abs(pm["values"][p] - ref[i]) <= 5 * se + 1e-12, f"n={n} permutation {p}")
    print("brute force: exact, kernelshap, banzhaf, loo, permutation agree for n = 1..6")


# ---------------------------------------------------------------------------------------------
ERROR_CASES = [
    # (name, content, extra args, regex on stderr)
    ("empty", "", [], r"empty\.csv: empty file"),
    ("header", "name,score\n,1\n", [], r"header\.csv:1: bad header"),
    ("dup", "coalition,fid\n,300\nA+B,200\nB + A,210\n", [], r"dup\.csv:4: duplicate coalition 'B \+ A' \(the same set as line 3\)"),
    ("nobase", "coalition,fid\nA,2\nB,3\n", [], r"nobase\.csv: missing baseline row"),
    ("nonnum", "coalition,fid\n,1\nA,12,5\n", [], None),  # "12" parses; extra column ignored -> ok
    ("nonnum2", "coalition,fid\n,1\nA,twelve\n", [], r"nonnum2\.csv:3: fid value 'twelve' is not a finite number"),
    ("nan", "coalition,fid\n,1\nA,NaN\n", [], r"nan\.csv:3: fid value 'NaN' is not a finite number"),
    ("inf", "coalition,fid\n,1\nA,-inf\n", [], r"inf\.csv:3: fid value '-inf' is not a finite number"),
    ("unknown", "coalition,fid\n,1\nA,2\nZ,3\n", ["--players", "A,B"], r"unknown\.csv:4: unknown player 'Z'"),
    ("many", "coalition,fid\n,1\n" + "".join(f"P{i},{i}\n" for i in range(21)), [],
     r"many\.csv:23: too many players: 'P20' would be player 21, at most 20"),
    ("missing", "coalition,fid\n,1\nA,2\nA+B,3\n", [], r"missing\.csv: the exact Shapley value needs 1 coalition that is not measured: B"),
    ("nofile", None, [], r"nofile\.csv: no such file"),
]


def mode_errors(cli, tmp):
    for name, content, extra, pattern in ERROR_CASES:
        path = os.path.join(tmp, name + ".csv")
        if content is not None:
            with open(path, "w") as f:
                f.write(content)
        elif os.path.exists(path):
            os.remove(path)
        rc, out, err = run(cli, "shapley", path, *extra)
        if pattern is None:
            check(rc == 0, f"{name}: expected success, got {rc}: {err}")
            continue
        check(rc == 2, f"{name}: exit {rc}, expected 2 ({err.strip()})")
        check(re.search(pattern, err) is not None, f"{name}: stderr {err.strip()!r} does not match {pattern!r}")
    # 64 players fail for every estimator; 21 are fine for kernelshap
    path = os.path.join(tmp, "p64.csv")
    with open(path, "w") as f:
        f.write("coalition,fid\n,1\n" + "".join(f"P{i},{i}\n" for i in range(64)) + "+".join(f"P{i}" for i in range(63)) + ",0\n")
    rc, _, err = run(cli, "shapley", path, "--estimator", "kernelshap")
    check(rc == 2 and "at most 63" in err, f"64 players: {rc} {err}")
    rc, _, err = run(cli, "shapley", os.path.join(tmp, "many.csv"), "--estimator", "paper")
    check(rc == 0, f"21 players with paper: {rc} {err}")
    # usage errors
    for args in (["--estimator", "magic"], ["--utility", "ssim"], []):
        rc, _, err = run(cli, "shapley", *( [os.path.join(tmp, "dup.csv")] if args else []), *args)
        check(rc == 2, f"usage {args}: exit {rc}")
    rc, _, err = run(cli, "shapley", os.path.join(tmp, "missing.csv"), "--utility", "neg-fid", "--estimator", "paper")
    check(rc == 0, f"neg-fid on a fid table: {rc} {err}")
    path = os.path.join(tmp, "util.csv")
    with open(path, "w") as f:
        f.write("coalition,utility\n,0\nA,1\n")
    rc, _, err = run(cli, "shapley", path, "--utility", "neg-fid")
    check(rc == 2 and "utility" in err, f"--utility on a utility table: {rc} {err}")
    print(f"errors: {len(ERROR_CASES) + 6} cases checked")


# ---------------------------------------------------------------------------------------------
def mode_plan(cli, tmp):
    rc, out, err = run(cli, "plan", "--players", "A,B,C")
    lines = out.split()
    check(rc == 0 and lines == ["(baseline)", "A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"], f"exact plan {lines}")
    rng = random.Random(5)
    names = ["Depth", "Davinci", "MonaLisa", "Leonardo", "SDMv10", "X6", "X7"]
    n = len(names)
    v = {}
    for s in range(1 << n):
        v[s] = rng.uniform(0, 50)
    for anti in ([], ["--antithetic"]):
        p1 = run_json(cli, "plan", "--players", ",".join(names), "--estimator", "permutation", "--budget", "12",
                      "--seed", "42", *anti)
        p2 = run_json(cli, "plan", "--players", ",".join(names), "--estimator", "permutation", "--budget", "12",
                      "--seed", "42", *anti)
        check(p1["coalitions"] == p2["coalitions"], "permutation plan is deterministic")
        check(p1["coalitions"][0] == "(baseline)" and "+".join(names) in p1["coalitions"], "baseline and grand")
        check(len(set(p1["coalitions"])) == len(p1["coalitions"]) <= 1 + 12 * n, "distinct prefixes")
        # a table with exactly the planned coalitions serves the estimator with the same seed
        idx = {nm: i for i, nm in enumerate(names)}
        masks = [0 if c == "(baseline)" else sum(1 << idx[t] for t in c.split("+")) for c in p1["coalitions"]]
        path = os.path.join(tmp, "plan_perm.csv")
        write_table(path, names, [v[s] for s in range(1 << n)], masks)
        got = run_json(cli, "shapley", path, "--players", ",".join(names), "--estimator", "permutation",
                       "--samples", "12", "--seed", "42", *anti)
        check(got["n_samples"] == 12 and got["note"] == "", f"plan-fed permutation: {got['n_samples']} {got['note']}")
        check(len(got["missing"]) == (1 << n) - len(masks), "missing count")
        check(abs(got["efficiency_gap"]) < 1e-9, "permutation efficiency")
    k = run_json(cli, "plan", "--players", ",".join(names), "--estimator", "kernelshap", "--budget", "20",
                 "--seed", "1")
    c = k["coalitions"]
    check(c[0] == "(baseline)" and c[1] == "+".join(names) and len(c) in (22, 23), f"kernelshap plan {len(c)}")
    sets = [frozenset(x.split("+")) for x in c[2:]]
    check(all(frozenset(names) - s in sets for s in sets), "kernelshap plan is paired")
    rc, _, err = run(cli, "plan", "--players", ",".join(f"P{i}" for i in range(21)))
    check(rc == 2, "exact plan of 21 players")
    rc, _, err = run(cli, "plan", "--players", "A,A")
    check(rc == 2 and "twice" in err, f"duplicate player: {err}")
    print("plan: exact order, permutation and kernelshap plans checked")


def main():
    mode, cli = sys.argv[1], sys.argv[2]
    {"paper": mode_paper, "brute": mode_brute, "errors": mode_errors, "plan": mode_plan}[mode](cli, sys.argv[3])
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()

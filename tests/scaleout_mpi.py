#!/usr/bin/python3
"""MPI mode tests (`copyscope features|stats|audit ... --mpi`, docs/cluster.md "MPI").

    scaleout_mpi.py cli    CLI WORKDIR WEIGHTS HAVE_MPI   # no launcher: option handling, singleton
    scaleout_mpi.py mpirun CLI WORKDIR WEIGHTS HAVE_MPI   # mpirun -np 2/3 vs the single process
    scaleout_mpi.py srun   CLI WORKDIR WEIGHTS HAVE_MPI   # a real single-node Slurm, srun --mpi=pmix

Equality: 1e-12 relative (scaleout_test.REL) for every number of report.json and for merged
statistics; feature rows must be bit-identical. Every run uses --batch 1 --no-cache --threads 1:
the CPU backend's float32 rows depend (at ~1e-8) on the batch composition and on the thread count,
and ranks must compute exactly the rows the single process computes. Rows are gathered in rank
order, so the audit's FIDs, values and bootstrap see the same rows in the same order; statistics
are merged with Chan's update (~1e-16 relative here). A lost, duplicated or reordered row changes
the numbers by ~1e-2 relative.

Error propagation: one bad image in one rank's slice => every rank exits 2 (each rank's exit code is
recorded by a `sh -c` wrapper) and the error line appears once (printed by rank 0).
Exit 77 = skipped: the build has no MPI mode (COPYSCOPE_MPI), mpirun/srun or Slurm are absent, or
(srun) not root.
"""
import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scaleout_test import REL, close, compare_reports, make_audit, read_stats, run  # noqa: E402

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def opts(weights):
    return ["--dims", 64, "--weights", weights, "--no-cache", "--batch", 1, "--threads", 1]


def error_lines(text, cmd):
    return [l for l in text.splitlines() if l.startswith(f"copyscope {cmd}:")]


def per_rank(launch, args, work, tag, env=None, rank_var="OMPI_COMM_WORLD_RANK"):
    """Run `launch sh -c 'CLI ...; echo $? > rc.RANK'`: every rank's own exit code (the wrapper exits 0
    so that the launcher does not kill the other ranks first). Returns ({rank: rc}, combined output)."""
    d = os.path.join(work, f"rc-{tag}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    quoted = " ".join("'" + str(a).replace("'", "'\\''") + "'" for a in args)
    script = f'{quoted}; echo $? > "{d}/rc.${{{rank_var}}}"; exit 0'
    p = subprocess.run([*map(str, launch), "sh", "-c", script], capture_output=True, text=True, env=env)
    rcs = {}
    for f in os.listdir(d):
        with open(os.path.join(d, f)) as fh:
            rcs[int(f.split(".")[1])] = int(fh.read())
    return rcs, p.stdout + p.stderr


def check_failure(rcs, out, nranks, cmd, want_rc, want_text, what):
    if sorted(rcs) != list(range(nranks)) or set(rcs.values()) != {want_rc}:
        sys.exit(f"FAIL: {what}: rank exit codes {rcs}, expected {want_rc} on all {nranks}\n{out}")
    lines = error_lines(out, cmd)
    if len(lines) != 1 or want_text not in lines[0]:
        sys.exit(f"FAIL: {what}: expected one 'copyscope {cmd}:' line naming {want_text!r}, got {lines}\n{out}")
    print(f"{what}: all {nranks} ranks exit {want_rc}, one message: {lines[0]}")


def bad_copy(work, root, name, victim_rel):
    """A copy of the audit with one image truncated (a PNG cut after 40 bytes)."""
    bad = os.path.join(work, name)
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(root, bad)
    victim = os.path.join(bad, victim_rel)
    with open(victim, "rb") as f:
        head = f.read(40)
    with open(victim, "wb") as f:
        f.write(head)
    return os.path.join(bad, "manifest.json"), victim


def image_list(root):
    """cs_audit_image_list: every set's images in manifest order, then the reference's."""
    import json
    with open(os.path.join(root, "manifest.json")) as f:
        m = json.load(f)
    out = []

    def files(spec):
        p = spec if isinstance(spec, str) else spec.get("images", spec.get("path"))
        p = os.path.join(root, p)
        if os.path.isdir(p):
            return sorted(os.path.join(p, x) for x in os.listdir(p) if x.endswith(".png"))
        return [p]
    sets = m["sets"]
    for s in (sets if isinstance(sets, list) else sets.values()):
        out += files(s)
    return out, files(m["reference"])


def skip_no_mpi():
    print("SKIP: this build has no MPI mode (configure with -DCOPYSCOPE_MPI=ON and libopenmpi-dev)")
    return 77


def have_mpi_mode(cli):
    p = subprocess.run([cli, "features", "--mpi", "x", "-o", "/nonexistent/x.h5"], capture_output=True, text=True)
    return "built without MPI" not in p.stderr, p


def test_cli(cli, work, weights, have_mpi):
    built, p = have_mpi_mode(cli)
    if have_mpi != "ON":
        # a build without MPI: --mpi is a usage error naming the build option, on every command
        for cmd in ("features", "stats", "audit"):
            p = run([cli, cmd, "--mpi", "x", "-o", os.path.join(work, "x")], expect=2)
            if "built without MPI" not in p.stderr or "COPYSCOPE_MPI" not in p.stderr:
                sys.exit(f"FAIL: {cmd} --mpi without MPI: unclear message: {p.stderr}")
        print("cli: no MPI in this build: --mpi is a usage error (exit 2) naming COPYSCOPE_MPI")
        return 0
    if not built:
        sys.exit(f"FAIL: COPYSCOPE_HAVE_MPI=ON but the CLI says: {p.stderr}")
    root = make_audit(work, 2, 3, "audit-small")
    inputs = [os.path.join(root, "reference"), os.path.join(root, "generated", "Base")]
    o = opts(weights)
    # a singleton (no launcher) is one rank: the same rows and statistics
    f1, fm = os.path.join(work, "f1.h5"), os.path.join(work, "fm.h5")
    run([cli, "features", *inputs, *o, "-q", "-o", f1])
    run([cli, "features", *inputs, *o, "-q", "--mpi", "-o", fm])
    with h5py.File(f1, "r") as a, h5py.File(fm, "r") as b:
        if not np.array_equal(a["features"][()], b["features"][()]) or list(a["paths"]) != list(b["paths"]):
            sys.exit("FAIL: singleton --mpi features differ")
    # exclusive options: exit 2, one clear line
    for args in (["features", *inputs, "--mpi", "--shard", "0/2", "-o", fm],
                 ["stats", *inputs, "--mpi", "--shard", "0/2", "-o", fm],
                 ["audit", os.path.join(root, "manifest.json"), "--mpi", "--from-partials", work]):
        p = run([cli, *args, *o], expect=2)
        if "--mpi" not in p.stderr:
            sys.exit(f"FAIL: {args[0]}: --mpi with --shard/--from-partials: {p.stderr}")
    p = run([cli, "stats", f1, "--mpi", "-o", os.path.join(work, "s.h5")], expect=2)
    if "image inputs" not in p.stderr:
        sys.exit(f"FAIL: stats --mpi of a features file: {p.stderr}")
    print("cli: singleton --mpi = one rank (bit-identical rows); --mpi with --shard/--from-partials refused")
    return 0


def test_mpirun(cli, work, weights, have_mpi):
    if have_mpi != "ON":
        return skip_no_mpi()
    if not shutil.which("mpirun"):
        print("SKIP: mpirun absent (tools/install-deps.sh installs openmpi-bin)")
        return 77
    root = make_audit(work, 2, 3, "audit-small")
    manifest = os.path.join(root, "manifest.json")
    o = opts(weights)
    # audit: 16 sets of 2 images + 3 reference images over 2 and 3 ranks, with and without bootstrap
    full = os.path.join(work, "report-full")
    run([cli, "audit", manifest, *o, "-q", "-o", full])
    fullb = os.path.join(work, "report-full-boot")
    run([cli, "audit", manifest, *o, "-q", "--bootstrap", 20, "--seed", 3, "-o", fullb])
    for k, extra, ref in ((2, [], full), (3, [], full), (2, ["--bootstrap", 20, "--seed", 3], fullb)):
        rep = os.path.join(work, f"report-np{k}{'-boot' if extra else ''}")
        p = run([*MPIRUN, "-np", k, cli, "audit", manifest, *o, *extra, "--mpi", "-o", rep])
        if f"MPI: {k} ranks on 1 node" not in p.stderr:
            sys.exit(f"FAIL: audit --mpi -np {k}: no layout line: {p.stderr}")
        nf, nv, worst = compare_reports(rep, ref, f"mpirun -np {k} audit{' bootstrap' if extra else ''}")
        print(f"mpirun -np {k} audit{' --bootstrap 20' if extra else ''}: {nf} FIDs, {nv} numbers equal to "
              f"the single process (worst rel {worst:.1e})")
    # a pixel-metric utility decodes images (no features): rank 0 runs it alone, same values
    px1, px2 = os.path.join(work, "report-ssim"), os.path.join(work, "report-ssim-np2")
    run([cli, "audit", manifest, *o, "-q", "--utility", "ssim", "-o", px1])
    run([*MPIRUN, "-np", 2, cli, "audit", manifest, *o, "-q", "--utility", "ssim", "--mpi", "-o", px2])
    with open(os.path.join(px1, "values.csv")) as a, open(os.path.join(px2, "values.csv")) as b:
        if a.read() != b.read():
            sys.exit("FAIL: audit --utility ssim --mpi: values.csv differs from the single process")
    print("mpirun -np 2 audit --utility ssim (no features; rank 0 alone): values.csv identical")
    # features: the same rows (bit-identical), paths and digests; 3 ranks over 2 files leaves one empty
    inputs = [os.path.join(root, "reference"), os.path.join(root, "generated", "Base")]
    for k, ins in ((3, inputs), (3, [os.path.join(root, "generated", "Base")])):
        f1, fk = os.path.join(work, "f1.h5"), os.path.join(work, f"f{k}.h5")
        run([cli, "features", *ins, *o, "-q", "-o", f1])
        run([*MPIRUN, "-np", k, cli, "features", *ins, *o, "-q", "--mpi", "-o", fk])
        with h5py.File(f1, "r") as a, h5py.File(fk, "r") as b:
            for key in ("features", "paths", "sha256"):
                if not np.array_equal(a[key][()], b[key][()]):
                    sys.exit(f"FAIL: features --mpi -np {k} ({len(ins)} inputs): /{key} differs")
            if a.attrs["weights_sha256"] != b.attrs["weights_sha256"]:
                sys.exit("FAIL: features --mpi: weights identity differs")
            n = a["features"].shape[0]
        print(f"mpirun -np {k} features: {n} rows bit-identical to the single process")
    # stats: exact merge of the ranks' statistics
    s1, sk = os.path.join(work, "s1.h5"), os.path.join(work, "s3.h5")
    run([cli, "stats", *inputs, *o, "--quiet", "-o", s1])
    run([*MPIRUN, "-np", 3, cli, "stats", *inputs, *o, "--quiet", "--mpi", "-o", sk])
    n1, m1, c1 = read_stats(s1)
    nk, mk, ck = read_stats(sk)
    if n1 != nk:
        sys.exit(f"FAIL: stats --mpi: n {nk} vs {n1}")
    e1, e2 = close(mk, m1, "stats --mpi mean"), close(ck, c1, "stats --mpi covariance")
    with h5py.File(sk, "r") as h:
        if h.attrs["weights_sha256"] != h5py.File(s1, "r").attrs["weights_sha256"]:
            sys.exit("FAIL: stats --mpi: weights identity lost")
    print(f"mpirun -np 3 stats: n {nk}, mean rel {e1:.1e}, covariance rel {e2:.1e} (<= {REL})")
    # GPUs by local rank: with 2 devices listed, rank r takes the r-th (no such GPUs here: --device
    # auto falls back to the CPU); an explicit --device (cpu or cuda:N) keeps the list as it is
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="5,7")
    p = run([*MPIRUN, "-x", "CUDA_VISIBLE_DEVICES", "-np", 2, cli, "features", *inputs, *o, "--device", "auto",
             "--mpi", "-o", os.path.join(work, "fg.h5")], env=env)
    if "CUDA_VISIBLE_DEVICES by rank: 0:5 1:7" not in p.stderr:
        sys.exit(f"FAIL: GPU by local rank: {p.stderr}")
    p = run([*MPIRUN, "-x", "CUDA_VISIBLE_DEVICES", "-np", 2, cli, "features", *inputs, *o, "--device", "cpu",
             "--mpi", "-o", os.path.join(work, "fg.h5")], env=env)
    if "CUDA_VISIBLE_DEVICES" in p.stderr:
        sys.exit(f"FAIL: --device cpu: GPUs remapped anyway: {p.stderr}")
    print("mpirun -np 2 with CUDA_VISIBLE_DEVICES=5,7: rank 0 -> 5, rank 1 -> 7; none with --device cpu")
    # errors: a bad image in the last rank's slice (the last reference image), then in rank 0's
    sets, ref = image_list(root)
    for victim, who in ((ref[-1], "last rank"), (sets[0], "rank 0")):
        bad_manifest, bad = bad_copy(work, root, "audit-bad", os.path.relpath(victim, root))
        rcs, out = per_rank([*MPIRUN, "-np", 2], [cli, "audit", bad_manifest, *o, "-q", "--mpi", "-o",
                                                 os.path.join(work, "r-bad")], work, "bad")
        check_failure(rcs, out, 2, "audit", 2, os.path.basename(bad), f"mpirun: bad image in the {who}'s slice")
    # --skip-bad (the bad image, generated/Base/img0000.png, is in rank 1's slice of these 5 files):
    # rank 0 lists it, and the statistics equal the single process's
    bad_root = os.path.dirname(bad_manifest)
    bins = [os.path.join(bad_root, "reference"), os.path.join(bad_root, "generated", "Base")]
    s1, s2 = os.path.join(work, "skip1.h5"), os.path.join(work, "skip2.h5")
    run([cli, "stats", *bins, *o, "--quiet", "--skip-bad", "-o", s1])
    p = run([*MPIRUN, "-np", 2, cli, "stats", *bins, *o, "--skip-bad", "--mpi", "-o", s2])
    if not any("skipped" in l and bad in l for l in error_lines(p.stderr, "stats")):
        sys.exit(f"FAIL: stats --skip-bad --mpi: rank 1's skipped image not listed: {p.stderr}")
    (n1, m1, c1), (n2, m2, c2) = read_stats(s1), read_stats(s2)
    if n1 != n2 or n1 != 4:
        sys.exit(f"FAIL: stats --skip-bad --mpi: n {n2} vs {n1} (expected 4)")
    close(m2, m1, "stats --skip-bad --mpi mean"), close(c2, c1, "stats --skip-bad --mpi covariance")
    print("mpirun -np 2 stats --skip-bad: rank 1's bad image listed once by rank 0, statistics equal")
    rcs, out = per_rank([*MPIRUN, "-np", 3], [cli, "audit", manifest, *o, "--mpi", "--bogus"], work, "usage")
    check_failure(rcs, out, 3, "audit", 2, "unknown option", "mpirun: unknown option")
    rcs, out = per_rank([*MPIRUN, "-np", 2], [cli, "stats", inputs[0], "/nonexistent-dir", *o, "--mpi", "-o",
                                             os.path.join(work, "x.h5")], work, "stats-missing")
    check_failure(rcs, out, 2, "stats", 2, "/nonexistent-dir", "mpirun: stats of a missing input")
    print("mpirun: OK")
    return 0


def test_srun(cli, work, weights, have_mpi):
    if have_mpi != "ON":
        return skip_no_mpi()
    from slurm_local import Cluster, fail_on_sigterm, find, skip_reason
    why = skip_reason(("slurmctld", "slurmd", "srun", "sinfo", "munged", "mungekey", "runuser"))
    if why:
        print(f"SKIP: {why}")
        return 77
    root = make_audit(work, 2, 3, "audit-small")
    manifest = os.path.join(root, "manifest.json")
    o = opts(weights)
    full = os.path.join(work, "report-full")
    run([cli, "audit", manifest, *o, "-q", "-o", full])
    cluster = Cluster(os.path.join(work, "cluster"))
    fail_on_sigterm()
    try:
        cluster.start()
        srun = [find("srun"), "--mpi=pmix", "-n", "2", "--time=10"]
        rep = os.path.join(work, "report-srun")
        t0 = time.time()
        p = run([*srun, cli, "audit", manifest, *o, "--mpi", "-o", rep], env=cluster.env)
        if "MPI: 2 ranks on 1 node" not in p.stderr:
            sys.exit(f"FAIL: srun --mpi=pmix: the ranks did not form one MPI job: {p.stderr}")
        nf, nv, worst = compare_reports(rep, full, "srun --mpi=pmix -n 2 audit")
        print(f"srun --mpi=pmix -n 2 audit ({time.time() - t0:.1f} s): {nf} FIDs, {nv} numbers equal to the "
              f"single process (worst rel {worst:.1e})")
        sets, ref = image_list(root)
        bad_manifest, bad = bad_copy(work, root, "audit-bad", os.path.relpath(ref[-1], root))
        rcs, out = per_rank(srun, [cli, "audit", bad_manifest, *o, "-q", "--mpi", "-o", os.path.join(work, "r-bad")],
                            work, "bad", env=cluster.env, rank_var="SLURM_PROCID")
        check_failure(rcs, out, 2, "audit", 2, os.path.basename(bad), "srun: bad image in rank 1's slice")
        print("srun: OK")
        return 0
    except SystemExit as e:
        print(cluster.logs())
        raise e
    finally:
        cluster.stop()


if __name__ == "__main__":
    mode, cli, work, weights, have_mpi = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    tests = {"cli": test_cli, "mpirun": test_mpirun, "srun": test_srun}
    if mode not in tests:
        sys.exit(f"unknown mode {mode}")
    sys.exit(tests[mode](cli, work, weights, have_mpi))

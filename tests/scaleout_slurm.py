"""A real single-node Slurm for scaleout_test.py slurm (see /work/shared/REFERENCE.md section 6).

Starts munged (own key, socket and pid file under the temporary directory, as user munge),
slurmctld and slurmd (config under the temporary directory, SlurmUser=root, free ports), runs a
sharded audit through `copyscope slurm submit`, checks the report against the unsharded run,
`copyscope slurm status`, and a resume after deleting one part; stops every daemon by its PID
file at the end, pass or fail (also on SIGTERM from ctest's timeout).
"""
import json
import os
import shutil
import sys
import time

from slurm_local import Cluster, fail_on_sigterm, skip_reason  # tests/slurm_local.py: daemons started and stopped by PID

WAIT_S = 300  # bound for each batch of jobs (about 5-20 s here)


def main(cli, work, weights, make_audit, compare_reports, run):
    why = skip_reason(("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "munged", "mungekey", "runuser"))
    if why:
        print(f"SKIP: {why}")
        return 77
    os.makedirs(work, exist_ok=True)
    cluster = Cluster(os.path.join(work, "cluster"))
    fail_on_sigterm()
    try:
        cluster.start()
        return scenario(cli, work, weights, make_audit, compare_reports, run, cluster)
    except SystemExit as e:
        print(cluster.logs())
        raise e
    finally:
        cluster.stop()


def wait_jobs(cluster, jobdir, what):
    t0 = time.time()
    while time.time() - t0 < WAIT_S:
        idle, q = cluster.idle()
        if idle:
            return time.time() - t0
        time.sleep(0.5)
    sys.exit(f"FAIL: {what}: jobs not finished after {WAIT_S} s: {q}")


def scenario(cli, work, weights, make_audit, compare_reports, run, cluster):
    env = cluster.env
    root = make_audit(work, 6, 6, "audit")
    manifest = os.path.join(root, "manifest.json")
    aopts = ["--dims", 64, "--weights", weights, "--no-cache", "--batch", 1, "-q"]
    full = os.path.join(work, "report-full")
    run([cli, "audit", manifest, *aopts, "-o", full])
    job = os.path.join(work, "job")
    shutil.rmtree(job, ignore_errors=True)
    N = 4
    submit = [cli, "slurm", "submit", manifest, "--shards", N, "--out", job, "--dims", 64, "--weights", weights,
              "-a", "--no-cache", "-a", "--batch", "-a", "1", "-a", "-q", "--time", "00:10:00",
              "--", "--cpus-per-task=1"]
    p = run(submit, env=env)
    print(p.stdout.strip())
    if f"shards 0-{N - 1} of {N}" not in p.stdout:
        sys.exit(f"FAIL: first submission is not the whole array: {p.stdout}")
    took = wait_jobs(cluster, job, "first submission")
    if not os.path.exists(os.path.join(job, "report", "report.json")):
        logs = "".join(open(os.path.join(job, "logs", f)).read() for f in sorted(os.listdir(os.path.join(job, "logs"))))
        sys.exit(f"FAIL: no report after the jobs finished; logs:\n{logs}")
    nf, nv, worst = compare_reports(os.path.join(job, "report"), full, "slurm audit")
    print(f"slurm: {N} shards + merge in {took:.1f} s; {nf} FIDs, {nv} numbers equal to the unsharded run "
          f"(worst rel {worst:.1e})")
    st = run([cli, "slurm", "status", job], env=env)
    if f"{N} of {N} parts present" not in st.stdout:
        sys.exit(f"FAIL: status after success: {st.stdout}")
    # preemption: one part lost -> status names it, a resubmission reruns only that shard
    parts = os.path.join(job, "partials")
    lost = os.path.join(parts, f"part-2-of-{N}.h5")
    os.remove(lost)
    os.remove(os.path.join(job, "report", "report.json"))
    keep = {f: os.stat(os.path.join(parts, f)).st_mtime_ns for f in os.listdir(parts)}
    st = run([cli, "slurm", "status", job], expect=1, env=env)
    log2 = os.path.join(job, "logs", "shard-2.out")
    if "shard 2: missing" not in st.stdout or log2 not in st.stdout:
        sys.exit(f"FAIL: status does not name the missing shard and its log: {st.stdout}")
    print(st.stdout.strip())
    os.remove(log2)
    p = run(submit, env=env)
    print(p.stdout.strip())
    if f"shards 2 of {N}" not in p.stdout:
        sys.exit(f"FAIL: resubmission is not only shard 2: {p.stdout}")
    with open(os.path.join(job, "job.json")) as f:
        if json.load(f)["array"] != "2":
            sys.exit("FAIL: job.json array is not '2'")
    wait_jobs(cluster, job, "resubmission")
    for f, t in keep.items():
        if os.stat(os.path.join(parts, f)).st_mtime_ns != t:
            sys.exit(f"FAIL: {f} was rewritten by the resubmission (only shard 2 should run)")
    if not os.path.exists(lost) or not os.path.exists(log2):
        sys.exit("FAIL: shard 2 did not rerun")
    logs = sorted(os.listdir(os.path.join(job, "logs")))
    compare_reports(os.path.join(job, "report"), full, "slurm audit after resume")
    run([cli, "slurm", "status", job], env=env)
    print(f"slurm: resume reran shard 2 only (logs {logs}); report equal again")

    # a failing shard: the merge job is cancelled (kill_invalid_depend), status says "failed"
    import h5py
    with h5py.File(os.path.join(parts, f"part-1-of-{N}.h5"), "r") as h:
        victim = h["paths"][0]
        victim = victim.decode() if isinstance(victim, bytes) else victim
    with open(victim, "rb") as f:
        good = f.read()
    os.remove(os.path.join(parts, f"part-1-of-{N}.h5"))
    os.remove(os.path.join(job, "report", "report.json"))
    try:
        with open(victim, "wb") as f:
            f.write(good[:40])  # truncated PNG: shard 1 exits 2
        p = run(submit, env=env)
        if f"shards 1 of {N}" not in p.stdout:
            sys.exit(f"FAIL: resubmission is not only shard 1: {p.stdout}")
        wait_jobs(cluster, job, "failing shard")
        st = run([cli, "slurm", "status", job], expect=1, env=env)
        print(st.stdout.strip())
        if "shard 1: missing, failed" not in st.stdout or "report missing" not in st.stdout:
            sys.exit(f"FAIL: status after a failed shard: {st.stdout}")
    finally:
        with open(victim, "wb") as f:
            f.write(good)
    p = run(submit, env=env)
    if f"shards 1 of {N}" not in p.stdout:
        sys.exit(f"FAIL: resubmission after the fix is not only shard 1: {p.stdout}")
    wait_jobs(cluster, job, "fixed shard")
    compare_reports(os.path.join(job, "report"), full, "slurm audit after a failed shard was fixed")
    run([cli, "slurm", "status", job], env=env)
    print("slurm: a failed shard is reported with its log, its merge job cancelled, and a resubmission fixes it")

    # plain --shard auto under a real array (SLURM_ARRAY_TASK_ID/MIN/COUNT set by Slurm): a 5..7 array
    # is shards 0..2 of 3; merged statistics equal the unsharded ones
    import numpy as np
    ref = os.path.join(root, "reference")
    sopts = f"--dims 64 --weights '{weights}' --no-cache --batch 1 --quiet"
    full_s = os.path.join(work, "ref-full.h5")
    run([cli, "stats", ref, *sopts.replace("'", "").split(), "--out", full_s])
    wrap = f"'{cli}' stats '{ref}' {sopts} --shard auto --out \"{work}/ref-auto-$SLURM_ARRAY_TASK_ID.h5\""
    run(["sbatch", "--parsable", "--array=5-7", f"--output={work}/auto-%a.out", "--wrap", wrap], env=env)
    wait_jobs(cluster, job, "--shard auto array")
    parts = [os.path.join(work, f"ref-auto-{i}.h5") for i in (5, 6, 7)]
    merged = os.path.join(work, "ref-auto.h5")
    run([cli, "merge", *parts, "--out", merged])
    with h5py.File(full_s, "r") as a, h5py.File(merged, "r") as b, h5py.File(parts[0], "r") as p0:
        if int(p0["n"][()]) != 2 or int(b["n"][()]) != int(a["n"][()]):
            sys.exit("FAIL: --shard auto: shard sizes")
        for k in ("mean", "comoment"):
            x, y = a[k][()], b[k][()]
            err = np.abs(x - y).max() / np.abs(x).max()
            if not err <= 1e-12:
                sys.exit(f"FAIL: --shard auto under Slurm: {k} relative {err:.2e}")
    print("slurm: --shard auto in a real array (tasks 5-7 = shards 0-2 of 3) merges to the unsharded statistics")
    return 0

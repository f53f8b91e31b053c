"""A real single-node Slurm for scaleout_test.py slurm (see /work/shared/REFERENCE.md section 6).

Starts munged (own key, socket and pid file under the temporary directory, as user munge),
slurmctld and slurmd (config under the temporary directory, SlurmUser=root, free ports), runs a
sharded audit through `copyscope slurm submit`, checks the report against the unsharded run,
`copyscope slurm status`, and a resume after deleting one part; stops every daemon by its PID
file at the end, pass or fail (also on SIGTERM from ctest's timeout).
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

WAIT_S = 300  # bound for each batch of jobs (about 5-20 s here)


def find(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_pidfile(path):
    """SIGTERM (then SIGKILL) the daemon whose PID the file holds, only if that process is still the
    daemon named by the file (a stale PID may have been reused)."""
    name = os.path.basename(path).split(".")[0]  # munged, slurmctld, slurmd
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != name:
                return
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pidfiles = []
        self.env = dict(os.environ)

    def start(self):
        tmp = self.tmp
        # daemons left by an earlier run that was killed (SIGKILL cannot be trapped): by PID file
        for p in ("munge/munged.pid", "slurmd.pid", "slurmctld.pid"):
            stop_pidfile(os.path.join(tmp, p))
        shutil.rmtree(tmp, ignore_errors=True)
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(tmp, d))
        os.chmod(tmp, 0o755)
        munge = pwd.getpwnam("munge")
        mdir = os.path.join(tmp, "munge")
        os.chmod(mdir, 0o755)
        key = os.path.join(mdir, "munge.key")
        subprocess.run([find("mungekey"), "-c", "-k", key], check=True, capture_output=True)
        for p in (mdir, key):
            os.chown(p, munge.pw_uid, munge.pw_gid)
        os.chmod(key, 0o600)
        self.sock = os.path.join(mdir, "munge.socket")
        mpid = os.path.join(mdir, "munged.pid")
        self.pidfiles.append(mpid)
        subprocess.run(["runuser", "-u", "munge", "--", find("munged"), "--force", "--key-file", key,
                        "--socket", self.sock, "--pid-file", mpid, "--log-file", os.path.join(mdir, "munged.log"),
                        "--seed-file", os.path.join(mdir, "munged.seed")], check=True, capture_output=True)
        host = socket.gethostname().split(".")[0]
        ncpu = os.cpu_count() or 1
        with open("/proc/meminfo") as f:
            free_mb = next(int(l.split()[1]) for l in f if l.startswith("MemAvailable")) // 1024
        conf = os.path.join(tmp, "slurm.conf")
        self.pidfiles += [os.path.join(tmp, "slurmctld.pid"), os.path.join(tmp, "slurmd.pid")]
        with open(conf, "w") as f:
            f.write(f"""ClusterName=copyscope-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.sock}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
DependencyParameters=kill_invalid_depend
SchedulerParameters=sched_interval=1
MailProg=/bin/true
ReturnToService=2
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/log/slurmctld.log
SlurmdLogFile={tmp}/log/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={ncpu} RealMemory={max(free_mb // 2, 100)} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        self.env["SLURM_CONF"] = conf
        for k in list(self.env):
            if k.startswith("SLURM_") and k != "SLURM_CONF":
                del self.env[k]
        subprocess.run([find("slurmctld"), "-c"], check=True, env=self.env, capture_output=True)
        subprocess.run([find("slurmd")], check=True, env=self.env, capture_output=True)
        t0 = time.time()
        while time.time() - t0 < 60:
            p = subprocess.run([find("sinfo"), "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if p.returncode == 0 and p.stdout.strip() == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"slurm node not idle after 60 s: {self.logs()}")

    def logs(self):
        out = []
        for name in ("log/slurmctld.log", "log/slurmd.log", "munge/munged.log"):
            try:
                with open(os.path.join(self.tmp, name)) as f:
                    out.append(f"--- {name}\n" + "".join(f.readlines()[-20:]))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self):
        for p in reversed(self.pidfiles):
            stop_pidfile(p)

    def idle(self):
        p = subprocess.run([find("squeue"), "-h", "-o", "%i %T %r"], env=self.env, capture_output=True, text=True)
        return p.returncode == 0 and not p.stdout.strip(), p.stdout


def main(cli, work, weights, make_audit, compare_reports, run):
    if os.geteuid() != 0:
        print("SKIP: the Slurm test starts slurmctld/slurmd as root (not root here)")
        return 77
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "munged", "mungekey", "runuser")
               if not find(b)]
    if missing:
        print(f"SKIP: Slurm binaries absent ({', '.join(missing)}); tools/install-deps.sh installs them")
        return 77
    os.makedirs(work, exist_ok=True)
    cluster = Cluster(os.path.join(work, "cluster"))

    def on_term(sig, frame):
        raise SystemExit(f"FAIL: signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
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
    if f"shard 2: missing" not in st.stdout or log2 not in st.stdout:
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

"""A real single-node Slurm (slurmctld + slurmd + munged) under a temporary directory, for the
scale-out tests (scaleout_slurm.py, scaleout_mpi.py; see /work/shared/REFERENCE.md section 6).

    c = Cluster(tmpdir); c.start()   # munged as user munge (own key/socket), slurmctld -c, slurmd
    subprocess.run([...], env=c.env)   # SLURM_CONF points at the temporary config
    c.stop()                         # every daemon by its PID file (call it in a finally:)

The configuration works as root without cgroups (proctrack/linuxproc, task/none), MpiDefault=pmix
(Debian's Open MPI speaks PMIx only: srun --mpi=pmix), kill_invalid_depend, free ports.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time


def find(name):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def skip_reason(binaries):
    """Why a local-Slurm test cannot run here (None when it can): not root, or binaries absent."""
    if os.geteuid() != 0:
        return "the Slurm test starts slurmctld/slurmd as root (not root here)"
    missing = [b for b in binaries if not find(b)]
    if missing:
        return f"Slurm binaries absent ({', '.join(missing)}); tools/install-deps.sh installs them"
    return None


def fail_on_sigterm():
    """ctest's timeout sends SIGTERM: turn it into SystemExit so that the caller's finally stops
    the daemons."""
    def on_term(sig, frame):
        raise SystemExit(f"FAIL: signal {sig}")
    signal.signal(signal.SIGTERM, on_term)


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

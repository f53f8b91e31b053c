#!/usr/bin/python3
"""Run leak_loop.py under valgrind and fail on any definitely lost block allocated under the
copyscope extension or library (a frame in _core*.so or a cs_ function). CPython and numpy lose
some blocks at exit by design; those stacks have no such frame and are not counted.

Usage: leak_check.py VALGRIND SUPPRESSIONS WEIGHTS WORKDIR  (PYTHONPATH must hold the package)."""
import os
import re
import subprocess
import sys

valgrind, supp, weights, work = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
log = os.path.join(work, "valgrind-python.log")
env = dict(os.environ, PYTHONMALLOC="malloc", OMP_NUM_THREADS="1")
cmd = [valgrind, "--leak-check=full", "--show-leak-kinds=definite", "--num-callers=40", f"--log-file={log}",
       f"--suppressions={supp}", sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "leak_loop.py"),
       weights, work, "3"]
p = subprocess.run(cmd, env=env, capture_output=True, text=True)
print(p.stdout, end="")
if p.returncode != 0:
    print(p.stderr)
    sys.exit(f"FAIL: leak loop exited {p.returncode}")
text = open(log).read()
records = re.split(r"\n==\d+== \n", text)
ours = [r for r in records if "definitely lost" in r and re.search(r"_core\.cpython|\bcs_\w+ \(|copyscope", r)]
total = re.search(r"definitely lost: ([\d,]+) bytes", text)
print(f"valgrind: {len([r for r in records if 'definitely lost in' in r])} definite-loss records in all "
      f"({total.group(1) if total else '?'} bytes, the interpreter's), {len(ours)} under copyscope")
if "leak loop: done" not in p.stdout:
    sys.exit("FAIL: the loop did not finish")
if ours:
    print("\n\n".join(ours))
    sys.exit(f"FAIL: {len(ours)} leaks under copyscope (log: {log})")
print("OK: no leak under copyscope")

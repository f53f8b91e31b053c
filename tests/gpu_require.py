#!/usr/bin/env python3
"""gpu_require_no_skip: with COPYSCOPE_REQUIRE_GPU=1 no gpu-labelled test may skip.

Reads the gpu-labelled tests from ctest itself (ctest --show-only=json-v1 -L gpu, so a new GPU
test is covered without editing this file), runs each command with COPYSCOPE_REQUIRE_GPU=1 on
this machine, which has no usable GPU, and requires every one to FAIL: an exit status other than
0 and 77 (77 is ctest's "skipped"), plus, for the C programs, the line from tests/gpu_required.h
naming the variable (so the failure is the refusal to skip, not an unrelated crash). A control
run of one test without the variable must still skip (77).

Exit 77 (skipped) on a machine with an NVIDIA device node: there the gpu tests run for real
(tools/device-run.sh runs them with COPYSCOPE_REQUIRE_GPU=1)."""
import json
import os
import subprocess
import sys


def main():
    ctest, build = sys.argv[1], sys.argv[2]
    if any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")):
        print("skip: this machine has a GPU device node; the gpu tests run for real there")
        return 77
    r = subprocess.run([ctest, "--test-dir", build, "-L", "gpu", "--show-only=json-v1"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        print("FAIL: ctest --show-only: %s" % r.stderr)
        return 1
    tests = [t for t in json.loads(r.stdout)["tests"] if "gpu" in
             next((p["value"] for p in t.get("properties", []) if p["name"] == "LABELS"), [])]
    if not tests:
        print("FAIL: no gpu-labelled test registered")
        return 1
    failures = 0
    control = None
    for t in tests:
        env = dict(os.environ)
        for p in t.get("properties", []):
            if p["name"] == "ENVIRONMENT":
                env.update(kv.split("=", 1) for kv in p["value"])
        cwd = next((p["value"] for p in t.get("properties", []) if p["name"] == "WORKING_DIRECTORY"), build)
        env["COPYSCOPE_REQUIRE_GPU"] = "1"
        try:
            p = subprocess.run(t["command"], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            print("FAIL %s: timed out" % t["name"])
            failures += 1
            continue
        out = (p.stdout + p.stderr).strip().splitlines()
        last = out[-1] if out else ""
        named = any("COPYSCOPE_REQUIRE_GPU" in line for line in out)
        ok = p.returncode not in (0, 77) and named
        print("%s %-20s exit %d: %s" % ("ok  " if ok else "FAIL", t["name"], p.returncode, last))
        failures += not ok
        if control is None and t["command"]:
            control = (t, env, cwd)
    # the same first test without the variable: skipped, as before
    t, env, cwd = control
    env.pop("COPYSCOPE_REQUIRE_GPU")
    p = subprocess.run(t["command"], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    ok = p.returncode == 77
    print("%s %-20s without COPYSCOPE_REQUIRE_GPU: exit %d (77 expected)" % ("ok  " if ok else "FAIL", t["name"],
                                                                            p.returncode))
    failures += not ok
    print("%s: %d gpu test(s), %d failure(s)" % ("PASSED" if not failures else "FAILED", len(tests), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""C forward (bench_features) vs PyTorch forward (tools/fid_inception_torch.py: pytorch-fid's
network on Debian's torch 1.13, oneDNN convolutions) on the same weights, batch and thread
count. Rounds alternate C and torch; the best round of each is reported (the machine is shared,
so the best round is the least disturbed one), with CPU ms/image beside it.

    bench/bench_network.py --bin BUILD/tests/bench_features --weights W.pth [--batch 8]
                           [--threads 2] [--iters 2] [--rounds 3]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import fid_inception_torch as ref  # noqa: E402

GFLOP_PER_IMAGE = 11.422336192  # 2 x multiply-accumulates of the 94 convolutions at 299x299


def bench_c(a):
    out = subprocess.run([a.bin, a.weights, "--threads", str(a.threads), "--batch", str(a.batch),
                          "--iters", str(a.iters)], check=True, capture_output=True, text=True).stdout
    ips = float(re.search(r"([0-9.]+) images/s", out).group(1))
    cpu = float(re.search(r"([0-9.]+) CPU ms/image", out).group(1))
    return ips, cpu, out.strip()


def bench_torch(net, a):
    x = torch.rand(a.batch, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        net(x, 2048)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.iters):
            net(x, 2048)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    n = a.batch * a.iters
    return n / dt, 1000 * dc / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    net = ref.load_network(a.weights)
    c_best, t_best = (0, 0), (0, 0)
    for r in range(a.rounds):
        c = bench_c(a)
        t = bench_torch(net, a)
        print("round %d: C %.2f images/s (%.0f CPU ms/image), torch %.2f images/s (%.0f CPU ms/image)"
              % (r + 1, c[0], c[1], t[0], t[1]), flush=True)
        c_best = max(c_best, c[:2])
        t_best = max(t_best, t)
    for name, (ips, cpu) in (("C (copyscope)", c_best), ("torch %s" % torch.__version__, t_best)):
        print("%-14s batch %d threads %d dims 2048: best %.2f images/s, %.1f ms/image, %.1f GFLOP/s"
              % (name, a.batch, a.threads, ips, 1000 / ips, ips * GFLOP_PER_IMAGE))
    print("ratio C / torch (best rounds): %.2fx" % (c_best[0] / t_best[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

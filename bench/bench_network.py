#!/usr/bin/python3
"""C forward (bench_features) vs PyTorch forward (tools/fid_inception_torch.py, which is
pytorch-fid's network: torch 1.13 with oneDNN convolutions) on the same weights, batch and
thread count. Prints images/s of each and the ratio C / torch.

    bench/bench_network.py --bin BUILD/tests/bench_features --weights W.pth [--batch 8]
                           [--threads 2] [--iters 3]
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

GFLOP_PER_IMAGE = 11.422336192


def bench_torch(weights, batch, threads, iters):
    torch.set_num_threads(threads)
    net = ref.load_network(weights)
    x = torch.rand(batch, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        net(x, 2048)  # warm-up
        t0 = time.perf_counter()
        for _ in range(iters):
            net(x, 2048)
        dt = time.perf_counter() - t0
    return batch * iters / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    a = ap.parse_args()
    out = subprocess.run([a.bin, a.weights, "--threads", str(a.threads), "--batch", str(a.batch),
                          "--iters", str(a.iters)], check=True, capture_output=True, text=True).stdout
    print(out.strip())
    c_ips = float(re.search(r"([0-9.]+) images/s", out).group(1))
    t_ips = bench_torch(a.weights, a.batch, a.threads, a.iters)
    print("torch %s batch %d threads %d dims 2048: %.2f images/s, %.1f ms/image, %.1f GFLOP/s"
          % (torch.__version__, a.batch, a.threads, t_ips, 1000 / t_ips, t_ips * GFLOP_PER_IMAGE))
    print("ratio C / torch: %.2fx" % (c_ips / t_ips))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Compare copyscope's decoder with PIL 9.4's Image.open(f).convert('RGB') on the corpus
written by tools/make_test_images.py.

Expectation: byte-exact (max abs difference 0) for every file the manifest marks "ok",
8-bit and 16-bit alike: pytorch-fid feeds PIL's bytes to the network, so any difference
moves FID; we follow PIL's 16-bit rules (high byte; 16-bit gray clipped) on purpose.
JPEG is exact too because PIL and we call the same libjpeg-turbo with the same settings.
Bad files must give the manifest's status and a one-line message that names the file; a
missing file gives "not found" and a directory "format".

With --corrupt N, N variants of each of a few corpus files get 1-3 random bytes replaced
(seeded) and both decoders run on them: where both succeed the bytes must be identical
(libjpeg's error concealment included); JPEG/PPM/PGM must also agree on success vs failure
(same library, same rules); PNG may disagree on at most 2% of variants (libpng and PIL's
own reader treat some corrupt zlib streams differently), reported but tolerated.

  image_ref.py --bin test_image_decode --corpus DIR --work DIR [--corrupt N --seed S]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--corrupt", type=int, default=0, help="corrupt variants per seed file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corrupt-seeds", default=",".join(CORRUPT_SEEDS),
                    help="comma-separated corpus files to corrupt (default: the PNG/JPEG/PPM set)")
    ap.add_argument("--corrupt-tolerance", default="png:0.02",
                    help="ext:fraction,... of variants where PIL and we may disagree on success "
                         "(other extensions: 0)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    manifest = [l.rstrip("\n").split("\t") for l in open(os.path.join(a.corpus, "manifest.tsv"))]
    expect = {name: exp for name, exp in manifest}
    missing = os.path.join(a.corpus, "no_such_file.png")
    adir = os.path.join(a.work, "a_directory.png")
    os.makedirs(adir, exist_ok=True)
    expect["no_such_file.png"] = "not found"
    expect["a_directory.png"] = "format"
    files = [os.path.join(a.corpus, n) for n, _ in manifest] + [missing, adir]
    r = subprocess.run([a.bin, a.work] + files, capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    fails = 0 if r.returncode == 0 else 1
    if r.returncode != 0:
        print(f"FAIL: {a.bin} exited with {r.returncode}")
    seen = set()
    n_exact = 0
    for line in r.stdout.splitlines():
        name, st, w, h, msg = line.split("\t")
        seen.add(name)
        exp = expect.get(name)
        path = os.path.join(a.corpus, name) if name != "a_directory.png" else adir
        if st != exp:
            print(f"FAIL {name}: status {st!r}, expected {exp!r} ({msg})")
            fails += 1
            continue
        if exp != "ok":
            if path not in msg or "\n" in msg:
                print(f"FAIL {name}: message does not name the file: {msg!r}")
                fails += 1
            else:
                print(f"ok   {name}: {st}: {msg}")
            continue
        ref = np.asarray(Image.open(path).convert("RGB"))
        got = np.fromfile(os.path.join(a.work, name + ".rgb"), np.uint8)
        if ref.shape[:2] != (int(h), int(w)) or got.size != ref.size:
            print(f"FAIL {name}: size {w}x{h}, PIL {ref.shape[1]}x{ref.shape[0]}")
            fails += 1
            continue
        got = got.reshape(ref.shape)
        d = np.abs(got.astype(np.int16) - ref.astype(np.int16))
        if d.max() != 0:
            print(f"FAIL {name}: {int((d > 0).sum())} bytes differ from PIL, max abs diff {d.max()}")
            fails += 1
        else:
            n_exact += 1
            print(f"ok   {name}: {w}x{h} identical to PIL")
    for name in expect:
        if name not in seen:
            print(f"FAIL {name}: no result line")
            fails += 1
    print(f"{n_exact} images byte-identical to PIL, {fails} failures")
    if a.corrupt:
        fails += corrupt_stage(a)
    return 1 if fails else 0


CORRUPT_SEEDS = ["jpg_natural0.jpg", "jpg_natural2.jpg", "jpg_natural3.jpg", "jpg_cmyk.jpg",
                 "jpg_gray.jpg", "png_rgb8.png", "png_pal4.png", "png_rgba16_adam7.png",
                 "png_filters.png", "ppm_p6.ppm", "pgm_p5_max100.pgm", "pgm_p5_16bit.pgm",
                 "ppm_p6_max4095.ppm"]


def corrupt_stage(a):
    rs = np.random.RandomState(a.seed)
    wdir = os.path.join(a.work, "corrupt")
    os.makedirs(wdir, exist_ok=True)
    files = []
    for base in a.corrupt_seeds.split(","):
        d = open(os.path.join(a.corpus, base), "rb").read()
        for k in range(a.corrupt):
            m = bytearray(d)
            for _ in range(rs.randint(1, 4)):
                # a third of the variants hit anywhere (headers, tables), the rest the data
                m[rs.randint(0 if k % 3 == 0 else len(m) // 3, len(m))] = rs.randint(256)
            path = os.path.join(wdir, f"{k:04d}_{base}")
            with open(path, "wb") as f:
                f.write(m)
            files.append(path)
    r = subprocess.run([a.bin, wdir] + files, capture_output=True, text=True)
    fails = 0 if r.returncode == 0 else 1
    if r.returncode != 0:
        print(f"FAIL: {a.bin} exited with {r.returncode} on corrupt files: {r.stderr[-500:]}")
    both = same = 0
    tol = {k: float(v) for k, v in (t.split(":") for t in a.corrupt_tolerance.split(",") if t)}
    disagree, nfiles = {}, {}
    for line in r.stdout.splitlines():
        name, st, w, h, msg = line.split("\t")
        kind = os.path.splitext(name)[1].lstrip(".")
        nfiles[kind] = nfiles.get(kind, 0) + 1
        disagree.setdefault(kind, 0)
        try:
            im = Image.open(os.path.join(wdir, name))
            w_, h_ = im.size
            if w_ > 65535 or h_ > 65535 or w_ * h_ > (1 << 28):
                # beyond copyscope's size limits (CS_IMAGE_MAX_*): refused by design, and PIL
                # (MAX_IMAGE_PIXELS lifted above) would spend seconds on a corrupted header
                pil_ok, pil_msg = False, f"{w_}x{h_} exceeds copyscope's limits"
                if st == "format" and "larger than the limit" in msg:
                    continue
            else:
                ref = np.asarray(im.convert("RGB"))
                pil_ok, pil_msg = True, ""
        except Exception as e:  # noqa: BLE001 (any PIL failure is a failure)
            pil_ok, pil_msg = False, f"{type(e).__name__}: {e}"
        if st == "ok" and pil_ok:
            both += 1
            got = np.fromfile(os.path.join(wdir, name + ".rgb"), np.uint8)
            if got.size == ref.size and (got.reshape(ref.shape) == ref).all():
                same += 1
            else:
                print(f"FAIL corrupt {name}: both decode it but the bytes differ from PIL")
                fails += 1
        elif (st == "ok") != pil_ok:
            disagree[kind] += 1
            print(f"note corrupt {name}: ours {st} ({msg[-70:]}), PIL {'ok' if pil_ok else pil_msg[:70]}")
    for kind, n in sorted(nfiles.items()):
        if disagree[kind] > tol.get(kind, 0.0) * n:
            print(f"FAIL corrupt: {disagree[kind]} of {n} .{kind} variants where PIL and we disagree on "
                  f"success (tolerated: {tol.get(kind, 0.0):.0%})")
            fails += 1
    print(f"corrupt variants: {sum(nfiles.values())}, decoded by both: {both}, identical: {same}, "
          f"success disagreements: " + ", ".join(f"{k} {v}/{nfiles[k]}" for k, v in sorted(disagree.items())))
    return fails


if __name__ == "__main__":
    sys.exit(main())

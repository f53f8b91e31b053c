#!/usr/bin/python3
"""Directory listing under each peer's rule vs the peers' own listing code, on a folder with
upper/mixed-case extensions (ImageNet's .JPEG), dotfiles, hidden and nested directories, a
directory named like an image, non-image files and a symbolic link.

  image_listing_ref.py BIN WORK

pytorch-fid 0.3.0: fid_score's `sorted(file for ext in IMAGE_EXTENSIONS for file in
path.glob('*.{}'.format(ext)))`; clean-fid 0.1.35: fid.get_folder_features's recursive glob
over cleanfid.utils.EXTENSIONS; torch-fidelity 0.4.0: utils.glob_samples_paths with its
defaults. The peers' lists are taken from their installed modules (their extension sets and,
for torch-fidelity, the function itself); exit 77 when they are not installed."""
import glob
import os
import pathlib
import shutil
import subprocess
import sys

PEERS = "/opt/copyscope-tools/pypeers"


def main():
    binary, work = sys.argv[1], sys.argv[2]
    if not all(os.path.isdir(os.path.join(PEERS, m)) for m in ("pytorch_fid", "cleanfid", "torch_fidelity")):
        print(f"SKIP: the peer libraries are not installed in {PEERS} (tools/install-deps.sh)")
        return 77
    sys.path.insert(0, PEERS)
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS
    from cleanfid.utils import EXTENSIONS
    from torch_fidelity.utils import glob_samples_paths
    from torch_fidelity.defaults import DEFAULTS

    d = os.path.join(work, "folder")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "sub", "deeper"))
    os.makedirs(os.path.join(d, ".hidden"))
    os.makedirs(os.path.join(d, "dir.png"))
    names = ["a.png", "b.PNG", "c.JPEG", "d.jpeg", "e.Jpg", "f.jpg", "g.JPG", "h.webp", "i.WEBP", "j.tif",
             "k.TIFF", "l.bmp", "m.BMP", "n.pgm", "o.ppm", ".png", ".dot.png", "p.gif", "q.txt", "r.png.bak",
             "s.tiff", "t.Png", "sub/u.png", "sub/v.JPEG", "sub/deeper/w.webp", ".hidden/x.png"]
    for n in names:
        with open(os.path.join(d, n), "wb") as f:
            f.write(b"not decoded here")
    os.symlink("a.png", os.path.join(d, "y_link.png"))

    want = {}
    path = pathlib.Path(d)
    want["pytorch-fid"] = [str(p) for p in sorted(f for ext in IMAGE_EXTENSIONS for f in path.glob(f"*.{ext}"))
                           if p.is_file()]  # pytorch-fid would fail on the directory dir.png
    want["clean-fid"] = sorted(f for ext in EXTENSIONS
                               for f in glob.glob(os.path.join(d, f"**/*.{ext}"), recursive=True)
                               if os.path.isfile(f))
    want["torch-fidelity"] = glob_samples_paths(d, DEFAULTS["samples_find_deep"], DEFAULTS["samples_find_ext"],
                                                DEFAULTS["samples_ext_lossy"], verbose=False)
    fails = 0
    for rule in ("pytorch-fid", "clean-fid", "torch-fidelity"):
        p = subprocess.run([binary, rule, d], capture_output=True, text=True)
        got = p.stdout.split("\n")[:-1] if p.returncode == 0 else None
        exp = want[rule]
        if rule == "torch-fidelity":  # it returns real paths; the folder has no symlinked dirs
            got = [os.path.realpath(x) for x in got or []]
        rel = lambda xs: [os.path.relpath(x, d) for x in xs]  # noqa: E731
        if got != exp:
            print(f"FAIL {rule}: copyscope {rel(got or [])} ({p.stderr.strip()})\n     peer      {rel(exp)}")
            fails += 1
        else:
            print(f"ok   {rule}: {len(got)} files, same list and order as the peer: {rel(got)}")
    # clean-fid reads .npy arrays; copyscope refuses a folder that has one (exit 2, names it)
    with open(os.path.join(d, "sub", "z.npy"), "wb") as f:
        f.write(b"\x93NUMPY")
    p = subprocess.run([binary, "clean-fid", d], capture_output=True, text=True)
    if p.returncode != 2 or "z.npy" not in p.stderr or len(p.stderr.strip().splitlines()) != 1:
        print(f"FAIL clean-fid with a .npy: exit {p.returncode}, {p.stderr!r}")
        fails += 1
    else:
        print(f"ok   clean-fid with a .npy: refused: {p.stderr.strip()}")
    empty = os.path.join(work, "empty")
    os.makedirs(empty, exist_ok=True)
    for rule in ("pytorch-fid", "clean-fid", "torch-fidelity"):
        p = subprocess.run([binary, rule, empty], capture_output=True, text=True)
        if p.returncode != 2 or "no image files" not in p.stderr:
            print(f"FAIL {rule} on an empty folder: exit {p.returncode}, {p.stderr!r}")
            fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

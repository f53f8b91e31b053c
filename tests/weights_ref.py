#!/usr/bin/python3
"""Independent references for the weights loader (tests/weights.cmake).

  header FILE                    list a torch legacy file's tensors from its header with Python's
                                 pickle (restricted Unpickler, nothing is imported or executed)
  check-header --bin B FIXTURE   run `B fixture FIXTURE` (the C test, which prints its listing) and
                                 compare its listing with ours, line by line
  gen --seed S --outdir D        write test files with PyTorch (torch.save legacy and zip) and by hand
                                 (legacy stream with long = 4), their variants (another model, wrong
                                 shape, hostile pickles) and reference SHA-256s of every tensor as
                                 torch.load reads it (D/*.ref)
  cli-expect --cli C --rc N --match TEXT FILE...   run `C weights FILE...`; check exit status and stderr

Exit 77 = skipped (fixture absent).
"""
import argparse
import collections
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile

MAGIC = 0x1950A86A20F9469CFC6C


# ---- restricted parse of a legacy header ---------------------------------------------------------
class _Global:
    def __init__(self, module, name):
        self.module, self.name = module, name


class _Tensor:
    def __init__(self, storage, offset, size, stride, *rest):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class _ODict(dict):
    def __setstate__(self, state):  # BUILD with the _metadata attribute
        pass


class RestrictedUnpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
               ("torch", "FloatStorage"), ("torch", "LongStorage")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError("forbidden global %s.%s" % (module, name))
        if name == "_rebuild_tensor_v2":
            return _Tensor
        if name == "OrderedDict":
            return _ODict
        return _Global(module, name)

    def persistent_load(self, pid):
        kind, cls, key, location, numel = pid[:5]
        assert kind == "storage"
        return (cls.name, key, numel)


def parse_legacy_header(path):
    with open(path, "rb") as f:
        assert pickle.load(f) == MAGIC
        assert pickle.load(f) == 1001
        sys_info = pickle.load(f)
        sd = RestrictedUnpickler(f).load()
        keys = pickle.load(f)
        data_start = f.tell()
    sizes = {}
    for t in sd.values():
        sizes[t.storage[1]] = (t.storage[0], t.storage[2])
    es = {"FloatStorage": 4, "LongStorage": 8}
    implied = data_start + sum(8 + n * es[cls] for cls, n in (sizes[k] for k in keys))
    return sys_info, sd, implied


def listing(sd):
    out = []
    for name, t in sd.items():
        dt = "int64" if t.storage[0] == "LongStorage" else "float32"
        out.append("%s\t%s\t(%s)" % (name, dt, ", ".join(str(d) for d in t.size)))
    return out


def cmd_header(a):
    sys_info, sd, implied = parse_legacy_header(a.file)
    print("\n".join(listing(sd)))
    print("implied\t%d" % implied)


def cmd_check_header(a):
    if not os.path.exists(a.fixture):
        print("SKIP: fixture %s is absent" % a.fixture)
        return 77
    sys_info, sd, implied = parse_legacy_header(a.fixture)
    assert sys_info["type_sizes"]["long"] == 4, sys_info
    ref = listing(sd) + ["implied\t%d" % implied]
    r = subprocess.run([a.bin, "fixture", a.fixture], capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        print("C test failed with exit status %d" % r.returncode)
        return 1
    got = r.stdout.strip().split("\n")
    if got != ref:
        for i, (x, y) in enumerate(zip(got, ref)):
            if x != y:
                print("line %d differs: C %r, Python %r" % (i, x, y))
                break
        print("C listed %d lines, Python %d" % (len(got), len(ref)))
        return 1
    print("OK: %d tensors, names/dtypes/shapes and implied size %d identical to Python's parse"
          % (len(sd), implied))
    return 0


# ---- generation ----------------------------------------------------------------------------------
def expected_shapes():
    """Names and shapes of pytorch-fid's FID Inception (same parameters as torchvision's
    inception_v3 with 1008 classes and no aux logits), from torchvision itself."""
    import torchvision
    m = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                        init_weights=False)
    return [(k, tuple(v.shape), v.dtype) for k, v in m.state_dict().items()]


def tensor_sha(t):
    import torch
    t = t.contiguous()
    if t.dtype == torch.float32 or t.dtype == torch.int64:
        return hashlib.sha256(t.numpy().tobytes()).hexdigest()
    raise ValueError(t.dtype)


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_ref(path, files, expect=None):
    """torch.load every file, check they agree (and equal `expect`), write one .ref."""
    import torch
    table = None
    for fpath in files:
        sd = torch.load(fpath)
        cur = [(k, str(v.dtype).replace("torch.", ""), tuple(v.shape), tensor_sha(v)) for k, v in sd.items()]
        if table is None:
            table = cur
        assert sorted(cur) == sorted(table), "torch.load disagrees between %s and %s" % (files[0], fpath)
    if expect is not None:
        want = sorted((k, str(v.dtype).replace("torch.", ""), tuple(v.shape), tensor_sha(v)) for k, v in expect.items())
        assert sorted(table) == want, "torch.load of %s differs from the tensors written" % files[0]
    with open(path, "w") as f:
        for fpath in files:
            f.write("file %s %s %d\n" % (os.path.basename(fpath), file_sha(fpath), os.path.getsize(fpath)))
        for k, dt, shape, sha in table:
            f.write("tensor %s %s %s %s\n" % (k, dt, "x".join(str(d) for d in shape) or "-", sha))


class FakeStorage:
    def __init__(self, key, cls, data, numel):
        self.key, self.cls, self.data, self.numel = key, cls, data, numel


class TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce__(self):
        import torch
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel, None)  # legacy: view_metadata
        return None


def write_legacy_by_hand(path, entries, storages, long_size, protocol):
    """The legacy stream as REFERENCE.md section 1 and the fixture lay it out."""
    with open(path, "wb") as f:
        pickle.dump(MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": long_size}}, f, protocol=2)
        StoragePickler(f, protocol=protocol).dump(collections.OrderedDict(entries))
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.numel))
            f.write(s.data)


def official_like(values):
    """State dict whose conv weights are OIHW views of HWIO storages and whose fc.weight is a
    transposed view, as in the official file."""
    import torch
    sd = collections.OrderedDict()
    for k, v in values.items():
        if v.dim() == 4:
            sd[k] = v.permute(2, 3, 1, 0).contiguous().permute(3, 2, 0, 1)
        elif v.dim() == 2:
            sd[k] = v.t().contiguous().t()
        else:
            sd[k] = v.clone()
        assert torch.equal(sd[k], v)
    return sd


def gen_hand(path, values, rng, long_size, protocol):
    """Hand-written legacy file (torch 1.13 itself always writes long = 4, even on Linux), any
    pickle protocol for the main pickle (4 and 5: FRAME, MEMOIZE, STACK_GLOBAL...),
    keys in torchvision's module order, storages in shuffled order, HWIO conv storages, and
    fc.bias + transposed fc.weight sharing one storage at different offsets."""
    import numpy as np
    import torch
    entries, storages = [], []
    key = 1000
    for k, v in values.items():
        if k == "fc.weight":
            continue
        key += 1
        if k == "fc.bias":
            w = values["fc.weight"]
            data = v.numpy().tobytes() + w.t().contiguous().numpy().tobytes()
            s = FakeStorage(str(key), torch.FloatStorage, data, v.numel() + w.numel())
            storages.append(s)
            entries.append((k, TensorRef(s, 0, v.shape, (1,))))
            entries.append(("fc.weight", TensorRef(s, v.numel(), w.shape, (1, w.shape[0]))))
            continue
        if v.dtype == torch.int64:
            s = FakeStorage(str(key), torch.LongStorage, v.reshape(1).numpy().astype("<i8").tobytes(), 1)
            entries.append((k, TensorRef(s, 0, (), ())))
        elif v.dim() == 4:
            co, ci, kh, kw = v.shape
            s = FakeStorage(str(key), torch.FloatStorage, v.permute(2, 3, 1, 0).contiguous().numpy().tobytes(), v.numel())
            entries.append((k, TensorRef(s, 0, v.shape, (1, co, kw * ci * co, ci * co))))
        else:
            s = FakeStorage(str(key), torch.FloatStorage, v.numpy().tobytes(), v.numel())
            entries.append((k, TensorRef(s, 0, v.shape, (1,))))
        storages.append(s)
    order = rng.permutation(len(storages))
    write_legacy_by_hand(path, entries, [storages[i] for i in order], long_size, protocol)


def gen_shared(path, shapes, base, lbase, legacy=True):
    """Every tensor a view of one shared storage: a valid model in a small file."""
    import torch
    sd = collections.OrderedDict()
    for k, shape, dt in shapes:
        n = 1
        for d in shape:
            n *= d
        sd[k] = (lbase if dt == torch.int64 else base)[:n].view(shape)
    if legacy:
        torch.save(sd, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(sd, path)
    return sd


class Evil:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def gen_evil(outdir):
    import torch
    marker = os.path.join(outdir, "PWNED")
    evil = {"x": Evil(os.system, ("touch %s" % marker,))}
    # legacy stream with a hostile main pickle
    with open(os.path.join(outdir, "evil-system-legacy.pth"), "wb") as f:
        pickle.dump(MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 8}}, f, protocol=2)
        pickle.dump(evil, f, protocol=2)
        pickle.dump([], f, protocol=2)
    # zip with a hostile data.pkl (protocol 4: STACK_GLOBAL)
    with zipfile.ZipFile(os.path.join(outdir, "evil-system-zip.pth"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(evil, protocol=4))
        z.writestr("archive/version", "3\n")
    # torch.storage._load_from_bytes: torch's own but it unpickles arbitrary bytes: refused
    with zipfile.ZipFile(os.path.join(outdir, "evil-loadbytes-zip.pth"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(
            {"x": Evil(torch.storage._load_from_bytes, (b"xx",))}, protocol=2))
        z.writestr("archive/version", "3\n")
    # the sys_info pickle must be plain data
    with open(os.path.join(outdir, "evil-sysinfo-legacy.pth"), "wb") as f:
        pickle.dump(MAGIC, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump(Evil(os.system, ("touch %s" % marker,)), f, protocol=2)


def cmd_gen(a):
    import numpy as np
    import torch
    os.makedirs(a.outdir, exist_ok=True)
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    shapes = expected_shapes()
    values = collections.OrderedDict()
    for k, shape, dt in shapes:
        if dt == torch.int64:
            values[k] = torch.randint(0, 1 << 40, shape, dtype=torch.int64)
        else:
            values[k] = torch.randn(shape, dtype=torch.float32)
    sd = official_like(values)
    d = a.outdir
    torch.save(sd, os.path.join(d, "w-legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(sd, os.path.join(d, "w-zip.pth"))
    gen_hand(os.path.join(d, "w-long4.pth"), values, rng, long_size=4, protocol=4)
    gen_hand(os.path.join(d, "w-long8.pth"), values, rng, long_size=8, protocol=5)
    write_ref(os.path.join(d, "w.ref"), [os.path.join(d, n) for n in ("w-legacy.pth", "w-zip.pth", "w-long4.pth", "w-long8.pth")],
              expect=values)

    # small files of a valid model: all tensors share one storage
    base = torch.randn(2048 * 1008)
    lbase = torch.arange(5, 5 + 94, dtype=torch.int64)
    shared = gen_shared(os.path.join(d, "shared-legacy.pth"), shapes, base, lbase)
    write_ref(os.path.join(d, "shared.ref"), [os.path.join(d, "shared-legacy.pth")], expect=shared)
    # another model
    gen_shared(os.path.join(d, "extra-aux.pth"), shapes + [("AuxLogits.fc.weight", (1000, 768), torch.float32)], base, lbase)
    gen_shared(os.path.join(d, "missing.pth"), [s for s in shapes if s[0] != "Mixed_6e.branch_pool.bn.running_var"], base, lbase)
    gen_shared(os.path.join(d, "shape-fc.pth"), [(k, (1000,) + s[1:] if k.startswith("fc.") else s, dt) for k, s, dt in shapes],
               base, lbase, legacy=False)
    sd64 = gen_shared(os.path.join(d, "tmp.pth"), shapes, base, lbase)
    sd64["fc.bias"] = sd64["fc.bias"].double()
    torch.save(sd64, os.path.join(d, "double.pth"))
    os.remove(os.path.join(d, "tmp.pth"))

    # small any-model files for the mutation test: strided, offset and scalar int64 views
    small = collections.OrderedDict()
    small["a.weight"] = torch.randn(2, 2, 3, 4).permute(3, 2, 0, 1)
    small["a.bias"] = torch.randn(4)
    small["n"] = torch.tensor(7, dtype=torch.int64)
    b = torch.randn(20)
    small["b"] = b[5:15].view(2, 5)
    small["c"] = b[0:3]
    torch.save(small, os.path.join(d, "small-legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(small, os.path.join(d, "small-zip.pth"))
    write_ref(os.path.join(d, "small.ref"), [os.path.join(d, "small-legacy.pth"), os.path.join(d, "small-zip.pth")],
              expect=small)
    torch.save({"a": torch.randn(3, 4).t()}, os.path.join(d, "small-nc.pth"))  # non-contiguous view

    # compressed zip (torch writes storages stored; libzip must also read deflated ones)
    with zipfile.ZipFile(os.path.join(d, "small-zip.pth")) as zi, \
            zipfile.ZipFile(os.path.join(d, "small-deflate.pth"), "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))
    write_ref(os.path.join(d, "small-deflate.ref"), [os.path.join(d, "small-deflate.pth")], expect=small)

    # truncated copies
    with open(os.path.join(d, "w-legacy.pth"), "rb") as f:
        blob = f.read(1 << 20)
    with open(os.path.join(d, "trunc-legacy.pth"), "wb") as f:
        f.write(blob)
    # legacy storage keys are memory addresses: the full size varies from run to run
    with open(os.path.join(d, "trunc-legacy.expect"), "w") as f:
        f.write("truncated: %d of %d bytes\n" % (len(blob), os.path.getsize(os.path.join(d, "w-legacy.pth"))))
    with open(os.path.join(d, "w-zip.pth"), "rb") as f:
        blob = f.read(1 << 20)
    with open(os.path.join(d, "trunc-zip.pth"), "wb") as f:
        f.write(blob)
    # a flipped bit inside a stored zip storage: only the entry's CRC-32 can tell
    blob = bytearray(open(os.path.join(d, "small-zip.pth"), "rb").read())
    with zipfile.ZipFile(os.path.join(d, "small-zip.pth")) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename)
    n, e = struct.unpack("<HH", blob[info.header_offset + 26:info.header_offset + 30])
    blob[info.header_offset + 30 + n + e + 1] ^= 0x40
    with open(os.path.join(d, "crc-zip.pth"), "wb") as f:
        f.write(blob)
    gen_evil(d)
    print("wrote test weights into %s" % d)
    return 0


def cmd_cli_expect(a):
    if a.skip_if_absent and not os.path.exists(a.skip_if_absent):
        print("SKIP: %s is absent" % a.skip_if_absent)
        return 77
    if a.sha_of:
        a.match.append(file_sha(a.sha_of))
    if a.match_file:
        with open(a.match_file) as f:
            a.match += [l.rstrip("\n") for l in f if l.strip()]
    r = subprocess.run([a.cli, "weights"] + a.args, capture_output=True, text=True)
    sys.stdout.write(r.stdout[-2000:])
    sys.stderr.write(r.stderr)
    ok = True
    if r.returncode != a.rc:
        print("FAIL: exit status %d, expected %d" % (r.returncode, a.rc))
        ok = False
    for m in a.match:
        if m not in r.stderr and m not in r.stdout:
            print("FAIL: output does not contain %r" % m)
            ok = False
    if a.no_file and os.path.exists(a.no_file):
        print("FAIL: %s exists: the file ran code" % a.no_file)
        ok = False
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("header")
    p.add_argument("file")
    p = sub.add_parser("check-header")
    p.add_argument("--bin", required=True)
    p.add_argument("fixture")
    p = sub.add_parser("gen")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--outdir", required=True)
    p = sub.add_parser("cli-expect")
    p.add_argument("--cli", required=True)
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--match", action="append", default=[])
    p.add_argument("--no-file")
    p.add_argument("--sha-of", help="also expect hashlib's SHA-256 of this file in the output")
    p.add_argument("--skip-if-absent")
    p.add_argument("--match-file", help="more --match texts, one a line")
    p.add_argument("args", nargs="*")
    a, extra = ap.parse_known_args()
    if a.cmd == "cli-expect":
        a.args = extra + a.args  # CLI options such as --json pass through
    elif extra:
        ap.error("unrecognized arguments: %s" % " ".join(extra))
    fn = {"header": cmd_header, "check-header": cmd_check_header, "gen": cmd_gen,
          "cli-expect": cmd_cli_expect}[a.cmd]
    return fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())

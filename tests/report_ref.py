#!/usr/bin/python3
"""The audit report people look at (issue 18) and the copy-similarity utilities (issue 19 item 4).

  report_ref.py interactions CLI WORK     pairwise Shapley interaction indices (Grabisch-Roubens) of
                                          `copyscope shapley --json` on classic games (glove, weighted
                                          majority, a random 6-player game) against a brute-force
                                          reference written from the Harsanyi-dividend form
                                          I(i, j) = sum_{T >= {i, j}} m(T) / (|T| - 1), m the Moebius
                                          transform of v (a different route than copyscope's sum over
                                          S of weighted second differences); tolerance 1e-12.
  report_ref.py nearest CLI WORK          --utility nn-sim / copy-rate on features files against numpy
                                          (cosine of every pair, nearest reference, mean / share above the
                                          threshold), utilities, exact Shapley values, bootstrap replicates
                                          (the documented splitmix64 streams), the nearest pairs and the
                                          interaction indices (and their intervals) in report.json and
                                          interactions.csv; report.json bit-identical for -j 1 and -j 2.
  report_ref.py html CLI WORK WEIGHTS     the demo's audit (tools/make_synthetic_audit.py, smaller) renders
                                          in headless Chromium without console errors, its screenshot is
                                          not blank, the DOM has the reference, every coalition's
                                          thumbnails, the nearest pairs, the lattice and the interactions;
                                          no http(s) resource; thumbnails equal PIL's bicubic resize up to
                                          JPEG; a 32-coalition report stays under 8 MB; --pdf (and the
                                          notice without a browser).
  report_ref.py hostile CLI WORK          file and player names with quotes, <script>, event handlers and
                                          non-UTF-8 bytes: the DOM Chromium builds holds no injected
                                          element or attribute, the names appear as text, report.json
                                          parses.
Exit 77 = skipped (Chromium or the test weights absent, for the modes that need them).
"""
import base64
import html.parser
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_ref import Stream, shapley_exact, write_features  # noqa: E402

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def close(got, want, tol, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if got.shape != want.shape or not np.all(np.isfinite(got)) or err > tol:
        fail("%s: max |difference| %.3g > %.3g\n  copyscope %s\n  reference %s" % (what, err, tol, got, want))
    return err


def run(cmd, rc=0, **kw):
    r = subprocess.run(cmd, capture_output=True, **kw)
    if r.returncode != rc:
        fail("%s -> %d (want %d)\n%s%s" % (" ".join(map(str, cmd)), r.returncode, rc, r.stdout.decode(errors="replace"),
                                            r.stderr.decode(errors="replace")))
    return r


# ---- interaction indices -------------------------------------------------------------------------
def moebius(n, v):
    """Harsanyi dividends m(T) = sum_{S <= T} (-1)^{|T|-|S|} v(S), by enumeration."""
    m = {}
    for T in range(1 << n):
        acc, S = 0.0, T
        while True:
            acc += (-1) ** (bin(T).count("1") - bin(S).count("1")) * v[S]
            if S == 0:
                break
            S = (S - 1) & T
        m[T] = acc
    return m


def interactions_ref(n, v):
    m = moebius(n, v)
    out = np.zeros((n, n))
    for T, mt in m.items():
        t = bin(T).count("1")
        for i in range(n):
            if not T >> i & 1:
                continue
            out[i, i] += mt / t  # the Shapley value: dividends shared equally
            for j in range(n):
                if j != i and T >> j & 1:
                    out[i, j] += mt / (t - 1)
    return out


def write_table(path, players, v):
    with open(path, "w") as f:
        f.write("coalition,utility\n")
        for S in range(1 << len(players)):
            name = "+".join(p for i, p in enumerate(players) if S >> i & 1) or "(baseline)"
            f.write("%s,%r\n" % (name, float(v[S])))


def mode_interactions(cli, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    games = []
    # glove game: left gloves L1, L2, right glove R; a pair is worth 1
    pl = ["L1", "L2", "R"]
    games.append(("glove", pl, {S: float(min((S & 1) + (S >> 1 & 1), S >> 2 & 1)) for S in range(8)}))
    # weighted majority [6; 4, 3, 2, 1]
    w = [4, 3, 2, 1]
    games.append(("weighted majority [6; 4,3,2,1]", ["A", "B", "C", "D"],
                  {S: float(sum(w[i] for i in range(4) if S >> i & 1) >= 6) for S in range(16)}))
    # a random 6-player game (values of FID scale, not exact in binary)
    games.append(("random 6-player", ["P%d" % i for i in range(6)],
                  {S: (0.0 if S == 0 else float(rng.normal(0, 50))) for S in range(64)}))
    worst = 0.0
    for name, players, v in games:
        n = len(players)
        path = os.path.join(work, "game%d.csv" % len(players))
        write_table(path, players, v)
        r = run([cli, "shapley", path, "--json"])
        got = json.loads(r.stdout)
        inter = got["interactions"]
        if inter is None:
            fail("%s: no interactions in shapley --json" % name)
        mat = np.array([[inter[players[i]][players[j]] for j in range(n)] for i in range(n)])
        want = interactions_ref(n, v)
        scale = max(1.0, float(np.max(np.abs(want))))
        # 1e-12 of the game's scale: both are sums of at most 2^n terms of that size in another order
        err = close(mat, want, 1e-12 * scale, "interaction indices of the %s game" % name)
        close(np.diag(mat), shapley_exact(n, v), 1e-12 * scale, "diagonal = Shapley value (%s)" % name)
        if not np.array_equal(mat, mat.T):
            fail("%s: the interaction matrix is not symmetric" % name)
        worst = max(worst, err / scale)
        print("%-32s interactions equal the dividend reference, max |diff| %.2e (scale %.3g)" % (name, err, scale))
    # glove: the two left gloves substitute for each other, each complements the right glove
    g = games[0][2]
    want = interactions_ref(3, g)
    if not (want[0, 1] < 0 and want[0, 2] > 0):
        fail("glove game: expected substitutes L1-L2 and complements L-R")
    # a table with a missing coalition: interactions are null, not made up
    path = os.path.join(work, "partial.csv")
    with open(path, "w") as f:
        f.write("coalition,utility\n(baseline),0\nA,1\nA+B,3\n")
    r = run([cli, "shapley", path, "--json", "-e", "kernelshap"])
    if json.loads(r.stdout).get("interactions", 0) is not None:
        fail("a table with a missing coalition must give interactions null")
    print("interactions: max relative difference %.2e (tolerance 1e-12)" % worst)
    return 0


# ---- nn-sim and copy-rate ------------------------------------------------------------------------
def cosine_np(G, R):
    G, R = G.astype(np.float64), R.astype(np.float64)
    ng, nr = np.linalg.norm(G, axis=1), np.linalg.norm(R, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = (G @ R.T) / np.outer(ng, nr)
    S[(ng == 0)[:, None] | (nr == 0)[None, :]] = 0.0
    return S


def boot_nearest(S, iref, iset, thr):
    """nn-sim and copy-rate of one resample: the max over the drawn references, each drawn image counted."""
    refs = np.unique(iref)
    best = S[:, refs].max(axis=1)[iset]
    return best.mean(), float(np.mean(best > thr))


def audit_json(cli, manifest, args):
    r = run([cli, "audit", manifest, "--json", "-q", "--interval", "percentile"] + args)
    return json.loads(r.stdout)


def pct_ci(x):
    x = np.asarray(x, float)
    return [np.percentile(x, 2.5), np.percentile(x, 97.5)], x.std(ddof=1)


def mode_nearest(cli, work):
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(23)
    players, d, n_ref, thr = ["Lora", "Ctrl", "Ckpt"], 40, 17, 0.95
    ns = 1 << len(players)
    ref = np.abs(rng.normal(0.3, 0.5, (n_ref, d))).astype(np.float32)
    X = {}
    for m in range(ns):
        n = 9 + 2 * m  # unequal sizes
        x = np.abs(rng.normal(0.3, 0.5, (n, d)))
        # Lora copies reference images (near-duplicates), more with Ctrl (an interaction)
        copies = (2 if m & 1 else 0) + (3 if (m & 1 and m & 2) else 0)
        for c in range(copies):
            x[c] = ref[(c * 5 + m) % n_ref] + rng.normal(0, 0.02, d)
        x[-1] = 0.0 if m == 5 else x[-1]  # a zero row: similarity 0 with everything
        X[m] = np.abs(x).astype(np.float32)
    write_features(os.path.join(work, "ref.h5"), ref)
    for m in range(ns):
        write_features(os.path.join(work, "s%d.h5" % m), X[m])
    manifest = os.path.join(work, "manifest.json")
    order = [0, 3, 1, 2, 7, 4, 5, 6]  # manifest order is not mask order
    with open(manifest, "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": os.path.join(work, "ref.h5"),
                   "sets": [{"coalition": [p for i, p in enumerate(players) if m >> i & 1],
                             "path": os.path.join(work, "s%d.h5" % m)} for m in order]}, f)
    S = {m: cosine_np(X[m], ref) for m in range(ns)}
    for m in range(ns):
        best = S[m].max(axis=1)
        if np.min(np.abs(best - thr)) < 1e-9:
            fail("test data: a similarity lies within 1e-9 of the threshold")
    B, seed = 40, 9
    sizes = [len(X[m]) for m in order]
    for util in ["nn-sim", "copy-rate"]:
        outdir = os.path.join(work, "rep-" + util)
        args = ["-u", util, "--copy-threshold", str(thr), "-B", str(B), "-s", str(seed), "-o", outdir, "--nearest", "4"]
        rep = audit_json(cli, manifest, args + ["-j", "1"])
        rep2 = audit_json(cli, manifest, args + ["-j", "2"])
        rep.pop("seconds"), rep2.pop("seconds")
        if json.dumps(rep, sort_keys=True) != json.dumps(rep2, sort_keys=True):
            fail("%s: report.json differs between -j 1 and -j 2" % util)
        score = {}
        for m in range(ns):
            best = S[m].max(axis=1)
            score[m] = best.mean() if util == "nn-sim" else float(np.mean(best > thr))
        masks = [sum(1 << players.index(p) for p in c["coalition"]) for c in rep["coalitions"]]
        if masks != order:
            fail("coalition order %s != manifest order %s" % (masks, order))
        # scores are means of float64 cosines computed in another order: 1e-12
        tol = 1e-12
        for c, m in zip(rep["coalitions"], masks):
            close(c["score"], score[m], tol, "%s score of %s" % (util, c["label"]))
            close(c["utility"], score[m] - score[0], 2 * tol, "%s utility of %s" % (util, c["label"]))
            # nearest pairs: the 4 generated images with the largest nearest-reference similarity
            best, arg = S[m].max(axis=1), S[m].argmax(axis=1)
            top = sorted(range(len(best)), key=lambda g: (-best[g], g))[:4]
            nr = c["nearest"]
            close(nr["nn_sim"], best.mean(), tol, "nn_sim of %s" % c["label"])
            close(nr["copy_rate"], np.mean(best > thr), 0, "copy_rate of %s" % c["label"])
            if [p["generated_index"] for p in nr["pairs"]] != top or \
                    [p["reference_index"] for p in nr["pairs"]] != [int(arg[g]) for g in top]:
                fail("nearest pairs of %s: %s, want generated %s reference %s" % (
                    c["label"], nr["pairs"], top, [int(arg[g]) for g in top]))
            close([p["similarity"] for p in nr["pairs"]], best[top], tol, "pair similarities")
            if nr["pairs"][0]["generated"] != "img%05d.png" % top[0]:
                fail("pair path %s (the features file's /paths)" % nr["pairs"][0]["generated"])
        ex = [e for e in rep["estimators"] if e["estimator"] == "exact"][0]
        v = {m: score[m] - score[0] for m in range(ns)}
        close([ex["values"][p] for p in players], shapley_exact(len(players), v), 8 * tol, util + " exact Shapley")
        # interaction indices of the point estimate and their bootstrap intervals
        inter = rep["interactions"]
        want = interactions_ref(len(players), v)
        close([[inter["values"][a][b] for b in players] for a in players], want, 8 * tol, util + " interactions")
        # bootstrap: the same draws as every other utility
        reps = np.zeros((B, ns))
        for r in range(B):
            st = Stream(seed, r)
            iref = st.resample(n_ref, n_ref)
            for k, m in enumerate(order):
                iset = st.resample(sizes[k], sizes[k])
                nn, cr = boot_nearest(S[m], iref, iset, thr)
                reps[r, k] = nn if util == "nn-sim" else cr
        for k, c in enumerate(rep["coalitions"]):
            lo_hi, se = pct_ci(reps[:, k])
            close(c["score_ci95"], lo_hi, tol, "%s bootstrap interval of %s" % (util, c["label"]))
            close(c["score_std_error"], se, tol, "%s bootstrap std. error of %s" % (util, c["label"]))
        irep = np.zeros((B, len(players), len(players)))
        for r in range(B):
            vr = {m: reps[r, order.index(m)] - reps[r, order.index(0)] for m in range(ns)}
            irep[r] = interactions_ref(len(players), vr)
        for a, pa in enumerate(players):
            for b, pb in enumerate(players):
                lo_hi, se = pct_ci(irep[:, a, b])
                close(inter["ci95"][pa][pb], lo_hi, 8 * tol, "interaction interval %s-%s" % (pa, pb))
                close(inter["std_error"][pa][pb], se, 8 * tol, "interaction std. error %s-%s" % (pa, pb))
        # report.html's coalition table: as many cells in every row as header cells
        page = open(os.path.join(outdir, "report.html"), encoding="utf-8").read()
        table = page[page.index("<h2>Coalitions</h2>"):]
        table = table[:table.index("</table>")]
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        widths = {len(re.findall(r"<th", rows[0]))} | {len(re.findall(r"<td", r)) for r in rows[1:]}
        if len(widths) != 1 or len(rows) != ns + 1:
            fail("%s: coalition table rows of %s cells" % (util, sorted(widths)))
        # interactions.csv carries the same numbers
        with open(os.path.join(outdir, "interactions.csv")) as f:
            rows = [line.rstrip("\n").split(",") for line in f][1:]
        if len(rows) != len(players) * (len(players) + 1) // 2:
            fail("interactions.csv has %d rows" % len(rows))
        for row in rows:
            a, b = players.index(row[0]), players.index(row[1])
            close(float(row[2]), want[a, b], 8 * tol, "interactions.csv")
        print("%-9s scores, utilities, Shapley values, nearest pairs, interactions and %d bootstrap replicates equal "
              "numpy (tol %.0e); -j 1 and -j 2 give the same report.json" % (util, B, tol))
    # Lora complements Ctrl in copying: a positive interaction under copy-rate
    rep = audit_json(cli, manifest, ["-u", "copy-rate", "--copy-threshold", str(thr), "-o", os.path.join(work, "r3")])
    if not rep["interactions"]["values"]["Lora"]["Ctrl"] > 0:
        fail("copy-rate: Lora and Ctrl should interact positively")
    # option bounds: one line, exit 2
    r = run([cli, "audit", manifest, "-u", "nn-sim", "-o", os.path.join(work, "r4"), "--thumbnails", "99"], rc=2)
    if b"--thumbnails" not in r.stderr:
        fail("--thumbnails 99 should be refused: %s" % r.stderr)
    return 0


# ---- rendering in Chromium ------------------------------------------------------------------------
def chromium():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        p = shutil.which(name)
        if p:
            return p
    return None


def chrome_args(browser, profile):
    args = [browser, "--headless", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
            "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def render(browser, html_path, shot=None):
    """The DOM Chromium builds from the file, and its log (console messages go to stderr)."""
    with tempfile.TemporaryDirectory() as prof:
        url = "file://" + html_path
        r = subprocess.run(chrome_args(browser, prof) + ["--dump-dom", url], capture_output=True, timeout=120)
        if r.returncode != 0:
            fail("chromium --dump-dom -> %d: %s" % (r.returncode, r.stderr[-2000:]))
        dom, log = r.stdout.decode("utf-8"), r.stderr.decode("utf-8", errors="replace")
        if shot:
            r2 = subprocess.run(chrome_args(browser, prof) + ["--window-size=1280,2400", "--screenshot=" + shot, url],
                                capture_output=True, timeout=120)
            if r2.returncode != 0 or not os.path.exists(shot):
                fail("chromium --screenshot -> %d: %s" % (r2.returncode, r2.stderr[-2000:]))
            log += r2.stderr.decode("utf-8", errors="replace")
    return dom, log


def console_errors(log):
    bad = [ln for ln in log.splitlines() if "Uncaught" in ln or ("CONSOLE" in ln and "rror" in ln)
           or "Refused to" in ln or "net::ERR" in ln]
    return bad


class DomScan(html.parser.HTMLParser):
    """Elements and attributes of the DOM as Chromium serialised it."""

    def __init__(self):
        super().__init__()
        self.tags, self.handlers, self.imgs, self.uses, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k.lower().startswith("on"):
                self.handlers.append((tag, k, v))
            if (tag == "img" and k == "src") or (tag == "image" and k == "href"):
                self.imgs.append(v)
            if tag == "use" and k == "href":
                self.uses.append(v)
            if k in ("src", "href", "xlink:href", "action", "data") and v and re.match(r"(?i)\s*(https?:|//)", v):
                self.handlers.append((tag, k, v))

    def handle_data(self, data):
        self.text.append(data)


def scan(dom):
    p = DomScan()
    p.feed(dom)
    return p


def check_page(browser, html_path, shot):
    dom, log = render(browser, html_path, shot)
    bad = console_errors(log)
    if bad:
        fail("console errors in %s:\n%s" % (html_path, "\n".join(bad[:10])))
    from PIL import Image
    im = np.asarray(Image.open(shot).convert("RGB")).astype(np.int32)
    nonwhite = float(np.mean(np.any(im < 240, axis=2)))
    colours = len(np.unique(im.reshape(-1, 3) // 8, axis=0))
    if nonwhite < 0.03 or colours < 30:
        fail("the screenshot looks blank (%.1f%% non-white pixels, %d colours)" % (100 * nonwhite, colours))
    return dom, scan(dom), nonwhite, colours


def check_thumb(dom, path):
    """The thumbnail of path in the DOM equals PIL's: convert('RGB'), resize to fit 160 px with BICUBIC
    (never enlarged), JPEG quality 80."""
    from PIL import Image
    figs = dict(re.findall(r'<figure class="th" title="([^"]*)"><svg[^>]*><image[^>]*? href="(data:[^"]+)"', dom))
    if path not in figs:
        fail("no thumbnail of %s in the DOM" % path)
    got = base64.b64decode(figs[path].split(",", 1)[1])
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if max(w, h) > 160:
        tw, th = (160, max(1, int(h * 160 / w + 0.5))) if w >= h else (max(1, int(w * 160 / h + 0.5)), 160)
        im = im.resize((tw, th), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    if got != buf.getvalue():
        fail("the thumbnail of %s differs from PIL's (%d vs %d bytes)" % (path, len(got), len(buf.getvalue())))
    return im.size


def mode_html(cli, work, weights):
    browser = chromium()
    if not browser:
        print("SKIP: no chromium on PATH (Debian: apt-get install chromium)")
        return SKIP
    if not os.path.exists(weights):
        print("SKIP: test weights %s absent" % weights)
        return SKIP
    from PIL import Image
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "synthetic")
    if not os.path.exists(os.path.join(data, "manifest.json")):
        run([sys.executable, os.path.join(ROOT, "tools", "make_synthetic_audit.py"), "--out", data, "--per-set", "6",
             "--reference", "6", "--size", "64", "--seed", "7"])
    out = os.path.join(work, "report")
    # the demo's audit (tools/demo.sh) at a smaller size: FID utility, bootstrap, every coalition
    run([cli, "audit", os.path.join(data, "manifest.json"), "-w", weights, "--dims", "64", "-B", "100", "-s", "1",
         "-o", out, "-q", "--cache-dir", os.path.join(work, "cache"), "--pdf"])
    path = os.path.join(out, "report.html")
    raw = open(path, "rb").read()
    if len(raw) > 8 << 20:
        fail("report.html is %d bytes (> 8 MB)" % len(raw))
    if re.search(rb"(?i)https?://", raw):
        fail("report.html names an http(s) resource: %s" % re.search(rb"(?i).{40}https?://.{40}", raw).group(0))
    dom, s, nonwhite, colours = check_page(browser, path, os.path.join(work, "shot.png"))
    if "script" in s.tags or s.handlers:
        fail("unexpected script or handler in the report: %s" % s.handlers[:3])
    for h in ["Reference and generated images", "Nearest-reference pairs", "Coalition lattice",
              "Pairwise interactions", "Every estimator, side by side", "Coalition utilities"]:
        if h not in dom:
            fail("report.html lacks the section '%s'" % h)
    rep = json.load(open(os.path.join(out, "report.json")))
    ns = len(rep["coalitions"])
    # every image is embedded once (reference and strips: all 6 of each set), the nearest pairs
    # (generated | reference) point to those (<use href="#ti...">)
    figures = dom.count('<figure class="th"')
    if figures != 6 + ns * 6 + ns * 3 * 2:
        fail("%d thumbnails (want %d)" % (figures, 6 + ns * 6 + ns * 3 * 2))
    if len(s.imgs) != 6 + ns * 6 or not all(u.startswith("data:image/jpeg;base64,") for u in s.imgs):
        fail("%d embedded images (want %d data URIs)" % (len(s.imgs), 6 + ns * 6))
    ids = set(re.findall(r'<image id="(ti\d+)"', dom))
    if len(s.uses) != ns * 3 * 2 or not all(u[0] == "#" and u[1:] in ids for u in s.uses):
        fail("%d references to embedded images (want %d, each to an embedded one)" % (len(s.uses), ns * 6))
    if dom.count("6 of 6 images") != ns + 1:
        fail("every strip should say '6 of 6 images' (%d found)" % dom.count("6 of 6 images"))
    if rep["interactions"] is None or rep["interactions"]["ci95"] is None:
        fail("report.json lacks interaction indices with intervals")
    if rep["coalitions"][0]["nearest"] is None or len(rep["coalitions"][0]["nearest"]["pairs"]) != 3:
        fail("report.json lacks the nearest pairs")
    # a thumbnail is the engine's decode + PIL's bicubic resize + JPEG quality 80: byte for byte what
    # PIL writes from the same image (the same libjpeg with the same settings)
    first = os.path.join(data, "reference", sorted(os.listdir(os.path.join(data, "reference")))[0])
    check_thumb(dom, first)
    # --pdf
    pdf = open(os.path.join(out, "report.pdf"), "rb").read(5)
    if pdf[:4] != b"%PDF":
        fail("report.pdf is not a PDF")
    env = dict(os.environ, PATH="/nonexistent")
    r = run([cli, "audit", os.path.join(data, "manifest.json"), "-w", weights, "--dims", "64", "-o", out + "-nopdf",
             "-q", "--cache-dir", os.path.join(work, "cache"), "--pdf"], env=env)
    if b"no Chromium found" not in r.stderr or os.path.exists(os.path.join(out + "-nopdf", "report.pdf")):
        fail("--pdf without a browser: want a notice and exit 0, got %s" % r.stderr)
    print("demo report: %d bytes, %d thumbnails, renders without console errors (%.0f%% non-white, %d colours), "
          "report.pdf printed; a thumbnail equals PIL's byte for byte" % (len(raw), figures, 100 * nonwhite, colours))
    # size: 32 coalitions (5 players) of 256 px noise images (the worst case for JPEG), default caps
    big = os.path.join(work, "big")
    os.makedirs(os.path.join(big, "img"), exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for i in range(40):
        p = os.path.join(big, "img", "n%02d.png" % i)
        if not os.path.exists(p):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    players = ["A", "B", "C", "D", "E"]

    def feats(path, n, shift):
        import h5py
        write_features(path, np.abs(rng.normal(shift, 1, (n, 16))).astype(np.float32))
        with h5py.File(path, "a") as f:
            del f["paths"]
            f["paths"] = np.array([paths[(i * 7 + int(shift * 10)) % len(paths)] for i in range(n)],
                                  dtype=h5py.string_dtype())
    feats(os.path.join(big, "ref.h5"), 12, 0.0)
    sets = []
    for m in range(32):
        feats(os.path.join(big, "s%d.h5" % m), 12, 0.05 * m)
        sets.append({"coalition": [p for i, p in enumerate(players) if m >> i & 1], "path": os.path.join(big, "s%d.h5" % m)})
    with open(os.path.join(big, "manifest.json"), "w") as f:
        json.dump({"baseline": "Base", "players": players, "reference": os.path.join(big, "ref.h5"), "sets": sets}, f)
    run([cli, "audit", os.path.join(big, "manifest.json"), "-u", "nn-sim", "-B", "20", "-o", os.path.join(big, "rep"), "-q"])
    size = os.path.getsize(os.path.join(big, "rep", "report.html"))
    if size > 8 << 20:
        fail("32-coalition report.html is %d bytes (> 8 MB)" % size)
    dom2 = open(os.path.join(big, "rep", "report.html"), encoding="utf-8").read()
    shown = dom2.count('<figure class="th"') - dom2.count('class="ph"')
    left = re.search(r"(\d+) thumbnails were left out", dom2)
    if check_thumb(dom2, paths[0]) != (160, 160):
        fail("a 256 px image should give a 160 px thumbnail")
    print("32-coalition report of 256 px noise images: %d bytes (< 8 MB), %d thumbnails embedded, %s left out" % (
        size, shown, left.group(1) if left else "none"))
    return 0


# ---- hostile names --------------------------------------------------------------------------------
def mode_hostile(cli, work):
    browser = chromium()
    if not browser:
        print("SKIP: no chromium on PATH (Debian: apt-get install chromium)")
        return SKIP
    from PIL import Image
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(8)
    wb = os.fsencode(work)
    evil_player = "Q\"'><svg onload=alert(1)><img src=x onerror=alert(2)>&amp;"
    evil_files = [b"quote\"'.png", b"<script>alert(3)<.png", b"\xff\xfe bad utf8 \xc3(.png", b"<img src=x onerror=alert(4)>.png"]
    ref = os.path.join(wb, b"ref <script>alert(5)<")
    gen = os.path.join(wb, b"gen")
    os.makedirs(ref)
    for coal in ["Base", "Base+" + evil_player, "Base+Plain", "Base+Plain+" + evil_player]:
        os.makedirs(os.path.join(gen, os.fsencode(coal)))
        for j, name in enumerate(evil_files):
            im = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(im).save(os.path.join(gen, os.fsencode(coal), name), format="PNG")
    for j, name in enumerate(evil_files):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(os.path.join(ref, name), format="PNG")
    out = os.path.join(work, "rep")
    run([os.fsencode(cli), b"audit", b"--reference", ref, b"--generated", gen, b"--baseline", b"Base", b"-u", b"cosine",
         b"-B", b"10", b"-o", os.fsencode(out), b"-q"])
    rep = json.loads(open(os.path.join(out, "report.json"), "rb").read().decode("utf-8"))
    if evil_player not in rep["players"]:
        fail("players %s" % rep["players"])
    dom, log = render(browser, os.path.join(out, "report.html"))
    if console_errors(log):
        fail("console errors: %s" % console_errors(log)[:5])
    s = scan(dom)
    if "script" in s.tags or s.handlers:
        fail("injected element or handler in the DOM: tags %s, handlers %s" % (sorted(set(s.tags)), s.handlers[:5]))
    if s.tags.count("svg") != dom.count("<svg class=") + dom.count("<svg width="):
        fail("an svg element that the report did not write")
    text = "".join(s.text)
    for needle in [evil_player, "<script>alert(3)<.png", "quote\"'.png", "\ufffd\ufffd bad utf8 \ufffd(.png"]:
        if needle not in text:
            fail("the name %r is not shown as text" % needle)
    # a features file's /paths name anything: /etc/passwd, a FIFO, /dev/zero, a missing file, a directory
    import h5py
    import time
    fifo = os.path.join(work, "fifo")
    os.mkfifo(fifo)
    hostile_paths = ["/etc/passwd", fifo, "/dev/zero", os.path.join(work, "missing.png"), work, "<b>x</b>.png"]

    def feats(path, shift):
        write_features(path, np.abs(rng.normal(shift, 1, (len(hostile_paths), 8))).astype(np.float32))
        with h5py.File(path, "a") as f:
            del f["paths"]
            f["paths"] = np.array(hostile_paths, dtype=h5py.string_dtype())
    feats(os.path.join(work, "r.h5"), 0.0)
    sets = []
    for m in range(2):
        feats(os.path.join(work, "s%d.h5" % m), 0.3 * m)
        sets.append({"coalition": ["X"] if m else [], "path": os.path.join(work, "s%d.h5" % m)})
    with open(os.path.join(work, "feat.json"), "w") as f:
        json.dump({"baseline": "Base", "players": ["X"], "reference": os.path.join(work, "r.h5"), "sets": sets}, f)
    t0 = time.time()
    run([cli, "audit", os.path.join(work, "feat.json"), "-u", "nn-sim", "-o", os.path.join(work, "rep-paths"), "-q"],
        timeout=30)
    page = open(os.path.join(work, "rep-paths", "report.html"), encoding="utf-8").read()
    if "root:" in page or 'class="ph">not readable' not in page or "<b>x</b>" in page:
        fail("hostile image paths: the report must show placeholders, escaped names and no file contents")
    print("features-file paths naming /etc/passwd, a FIFO, /dev/zero, a directory: placeholders, %.1f s"
          % (time.time() - t0))
    # --pdf into a directory whose name needs percent-encoding in the file:// URL
    odd = os.path.join(wb, "out #1 ?%20 <b>\u00e9".encode())
    run([os.fsencode(cli), b"audit", b"--reference", ref, b"--generated", gen, b"--baseline", b"Base", b"-u", b"cosine",
         b"-o", odd, b"-q", b"--pdf"])
    with open(os.path.join(odd, b"report.pdf"), "rb") as f:
        if f.read(4) != b"%PDF":
            fail("--pdf into %r: not a PDF" % odd)
    print("hostile names: shown as text, no injected element or handler; %d elements in the DOM; --pdf into %r"
          % (len(s.tags), os.path.basename(odd)))
    return 0


def main():
    mode, cli, work = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "html":
        rc = mode_html(cli, work, sys.argv[4])
    else:
        rc = {"interactions": mode_interactions, "nearest": mode_nearest, "hostile": mode_hostile}[mode](cli, work)
    if rc == 0:
        print("PASS")
    sys.exit(rc)


if __name__ == "__main__":
    main()

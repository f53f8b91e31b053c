#!/usr/bin/env python3
"""host/attribution/coverage_table.h from coverage_study.py --jsonl files (the audit's validated
ranges and quoted coverages come from it).

    bench/coverage_table.py D:N:FILE.jsonl[:METHOD,METHOD] ... > host/attribution/coverage_table.h

A method list takes only those methods from that file (e.g. a run made for one method); an item
u=UTILITY (fid-gain or fid-inf) takes only that utility's rows.
"""
import json
import sys

M = {"percentile": "CS_INTERVAL_PERCENTILE", "basic": "CS_INTERVAL_BASIC", "debiased": "CS_INTERVAL_DEBIASED",
     "debiased-normal": "CS_INTERVAL_DEBIASED_NORMAL", "bc": "CS_INTERVAL_BC", "bca": "CS_INTERVAL_BCA",
     "studentized": "CS_INTERVAL_STUDENTIZED", "subsample": "CS_INTERVAL_SUBSAMPLE"}


def main():
    print("/* Rows of the coverage study (bench/results/coverage-cpu.txt, written by bench/coverage_study.py):")
    print(" * {d, n, fid_inf, method, coverage % of the population Shapley values, values behind it,")
    print(" *  coverage % of the population coalition FIDs}. Regenerate with bench/coverage_table.py. */")
    for spec in sys.argv[1:]:
        d, n, path = spec.split(":", 2)
        only = None
        if ":" in path:
            path, only = path.split(":", 1)
            only = only.split(",")
        with open(path) as f:
            lines = [json.loads(x) for x in f if "|" in x]
        uonly = [x[2:] for x in (only or []) if x.startswith("u=")]
        only = [x for x in (only or []) if not x.startswith("u=")] or None
        for u in ("fid-gain", "fid-inf"):
            if uonly and u not in uonly:
                continue
            for m, cname in M.items():
                if only and m not in only:
                    continue
                key = "%s|shapley|%s" % (u, m)
                s = [v[0] for ln in lines for v in ln.get(key, [])]
                fi = [v[0] for ln in lines for v in ln.get("%s|fid|%s" % (u, m), [])]
                if not s or not fi:
                    continue
                print("{%s, %s, %d, %s, %.1f, %d, %.1f}, /* %d replicates */" % (
                    d, n, u == "fid-inf", cname, 100 * sum(s) / len(s), len(s), 100 * sum(fi) / len(fi), len(lines)))


if __name__ == "__main__":
    main()

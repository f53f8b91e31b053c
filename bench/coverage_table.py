#!/usr/bin/env python3
"""host/attribution/coverage_table.h from coverage_study.py --jsonl files (the audit's validated
ranges and quoted coverages come from it).

    bench/coverage_table.py D:N:FILE.jsonl ... > host/attribution/coverage_table.h
"""
import json
import sys

M = {"percentile": "CS_INTERVAL_PERCENTILE", "basic": "CS_INTERVAL_BASIC", "debiased": "CS_INTERVAL_DEBIASED",
     "debiased-normal": "CS_INTERVAL_DEBIASED_NORMAL", "bc": "CS_INTERVAL_BC"}


def main():
    print("/* Rows of the coverage study (bench/results/coverage-cpu.txt, written by bench/coverage_study.py):")
    print(" * {d, n, fid_inf, method, coverage % of the population Shapley values, values behind it,")
    print(" *  coverage % of the population coalition FIDs}. Regenerate with bench/coverage_table.py. */")
    for spec in sys.argv[1:]:
        d, n, path = spec.split(":", 2)
        with open(path) as f:
            lines = [json.loads(x) for x in f if "|" in x]
        for u in ("fid-gain", "fid-inf"):
            for m, cname in M.items():
                key = "%s|shapley|%s" % (u, m)
                if not lines or key not in lines[0]:
                    continue
                s = [v[0] for ln in lines for v in ln[key]]
                fi = [v[0] for ln in lines for v in ln["%s|fid|%s" % (u, m)]]
                print("{%s, %s, %d, %s, %.1f, %d, %.1f}, /* %d replicates */" % (
                    d, n, u == "fid-inf", cname, 100 * sum(s) / len(s), len(s), 100 * sum(fi) / len(fi), len(lines)))


if __name__ == "__main__":
    main()

#!/bin/bash
# bench/results/coverage-cpu.txt and host/attribution/coverage_table.h from the coverage study's JSON
# lines in bench/results/coverage/ (each written by the bench/coverage_study.py command in its
# header line; README "Interval coverage" lists them). A file that is absent is left out.
set -e
cd "$(dirname "$0")/.."
R=bench/results/coverage
PY=/usr/bin/python3
out=bench/results/coverage-cpu.txt
cell() { # FILE then the study's world arguments
    local f=$1
    shift
    [ -s "$R/$f" ] && $PY bench/coverage_study.py "$@" --summarize "$R/$f" && echo
    return 0
}
{
cat <<'HEAD'
# Coverage of nominal 95% bootstrap intervals on simulated populations (issue 22)
# bench/coverage_study.py driving build/copyscope audit (features .h5, -j 1, nice 19), 2026-12-07,
# 2-core CPU machine shared with other jobs. Assembled by bench/coverage_assemble.sh.
# Estimand: Shapley (exact) and Banzhaf values of the POPULATION FID gain; coalition FIDs vs population FIDs.
# coverage = share of (replicate, value) pairs whose interval contains the truth, with its Wilson 95% CI
# (values of one replicate share the reference sample and are correlated: all-in-replicate counts replicates
# where every value was covered). 'point' rows: mean error of each point estimate (population truth subtracted).
# Methods: percentile, basic, debiased, debiased-normal, bc (bootstrap replicates); bca (jackknife
# acceleration, 20 groups); subsample (m = n/2 without replacement); studentized (bootstrap-t, its own run
# with --studentized 5 and B = 200; subsample at f = 1/4: its own run, B = 200). v1-* files: the first study (before bca/subsample/studentized existed;
# its replicates are the first ones of the same seeds, reproduced bit for bit by the later runs).
HEAD
cell d64-n300-p3.jsonl --d 64 --n 300 --players 3
cell d64-n300-p3-student.jsonl --d 64 --n 300 --players 3 --bootstrap 200 --seed 3033 --extra --studentized 5
cell d64-n300-p3-f025.jsonl --d 64 --n 300 --players 3 --bootstrap 200 --seed 4044 --extra --subsample-frac 0.25
cell d64-n300-p2null.jsonl --d 64 --n 300 --players 2 --null
cell d64-n300-p5null.jsonl --d 64 --n 300 --players 5 --null
cell d16-n250-p3.jsonl --d 16 --n 250 --players 3
cell d64-n100-p4null.jsonl --d 64 --n 100 --players 4 --null
cell d64-n50-p3null.jsonl --d 64 --n 50 --players 3 --null
cell v1-d64-n300-p3-fidinf.jsonl --d 64 --n 300 --players 3
cell v1-d64-n100-p4null.jsonl --d 64 --n 100 --players 4 --null
cell v1-d64-n50-p3null.jsonl --d 64 --n 50 --players 3 --null
cell v1-d2048-n300-p3.jsonl --d 2048 --n 300 --players 2 --bootstrap 200
} > $out
# the audit's table: every (d, n) cell, the key cell first; fid-inf rows from the first study
specs=()
add() { # D:N:FILE[:METHODS]
    local d n rest
    IFS=: read -r d n rest <<< "$1"
    [ -s "$R/${rest%%:*}" ] && specs+=("$d:$n:$R/$rest")
    return 0
}
add 64:300:d64-n300-p3.jsonl
add 64:300:d64-n300-p3-student.jsonl:studentized
add 64:300:d64-n300-p2null.jsonl
add 64:300:d64-n300-p5null.jsonl
add 16:250:d16-n250-p3.jsonl
add 64:100:d64-n100-p4null.jsonl
add 64:50:d64-n50-p3null.jsonl
add 64:300:v1-d64-n300-p3-fidinf.jsonl:u=fid-inf
add 64:100:v1-d64-n100-p4null.jsonl:u=fid-inf
add 64:50:v1-d64-n50-p3null.jsonl:u=fid-inf
add 2048:300:v1-d2048-n300-p3.jsonl
$PY bench/coverage_table.py "${specs[@]}" > host/attribution/coverage_table.h
echo "wrote $out and host/attribution/coverage_table.h (${#specs[@]} cells)"

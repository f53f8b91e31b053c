/* Rows of the coverage study (bench/results/coverage-cpu.txt): {d, n, fid_inf, method, coverage %,
 * values}. Coverage of the population Shapley values (exact) by nominal 95% intervals. */
{16, 80, 0, CS_INTERVAL_DEBIASED, 95.8, 400},
{16, 80, 0, CS_INTERVAL_PERCENTILE, 85.0, 400},

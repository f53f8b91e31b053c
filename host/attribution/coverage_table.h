/* Rows of the coverage study (bench/results/coverage-cpu.txt): {d, n, fid_inf, method, coverage %
 * of the population Shapley values, values behind it, coverage % of the population coalition FIDs}. */
{16, 80, 0, CS_INTERVAL_DEBIASED, 95.8, 400, NAN},
{16, 80, 0, CS_INTERVAL_PERCENTILE, 85.0, 400, NAN},

# Issue 22, intervals that mean what they say (tests/intervals_ref.py, numpy/scipy/h5py):
#  intervals_fidinf    --utility fid-inf against numpy on the same subsets and resamples: plain and
#                      FID-infinity FIDs, values, every interval method (percentile, basic,
#                      debiased, debiased-normal, bc) to 1e-11 of the FID scale; the mean-term
#                      correction's exactness (expectation enumerated over all resamples)
#  intervals_methods   bca (delete-group jackknife acceleration), studentized (bootstrap-t with every
#                      replicate's jackknife SE) and subsample (m-out-of-n without replacement,
#                      rescaled) against numpy on the same groups, resamples and subsets, 1e-12 of
#                      the FID scale; about 2 s
#  intervals_threads   report.json bit-identical for 1 and 2 threads (default, fid-inf, bc,
#                      bca + studentized + subsample)
#  intervals_coverage  200 seeded audits at d = 16, n = 80: the default intervals cover the
#                      population Shapley values at least as often as a true 90% coverage allows
#                      (binomial floor, 4 sd); about 25 s of CPU
set(CS_INTERVALS_TMP ${CS_TESTDATA}/intervals)
file(MAKE_DIRECTORY ${CS_INTERVALS_TMP})
foreach(mode fidinf methods threads coverage)
  add_test(NAME intervals_${mode}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/intervals_ref.py ${mode} ${CS_CLI}
                   ${CS_INTERVALS_TMP}/${mode})
  set_tests_properties(intervals_${mode} PROPERTIES TIMEOUT 300)
endforeach()

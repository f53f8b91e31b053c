# FID engine: statistics, Fréchet distance, stats files, and the fid/stats/merge CLI.
# C tests compare against long-double and Jacobi references (tolerances explained in the sources);
# fid_ref.py compares the CLI against numpy/scipy (pytorch-fid's formula) and mpmath.

cs_add_c_test(test_stats ${CMAKE_CURRENT_SOURCE_DIR}/test_stats.c)
add_test(NAME stats_merge COMMAND test_stats)

cs_add_c_test(test_frechet ${CMAKE_CURRENT_SOURCE_DIR}/test_frechet.c)
add_test(NAME frechet_methods COMMAND test_frechet)

set(CS_FID_REF ${CMAKE_CURRENT_SOURCE_DIR}/fid_ref.py)
set(CS_FID_WORK ${CS_TESTDATA}/fid)
# d = 256 and structured covariances; d = 2048 in fid_scipy_2048 (scipy's sqrtm takes ~30-60 s)
add_test(NAME fid_scipy COMMAND ${CS_PYTHON} ${CS_FID_REF} scipy ${CS_CLI} ${CS_FID_WORK}/scipy)
add_test(NAME fid_scipy_2048 COMMAND ${CS_PYTHON} ${CS_FID_REF} scipy ${CS_CLI} ${CS_FID_WORK}/scipy2048 --big)
add_test(NAME fid_singular_mpmath COMMAND ${CS_PYTHON} ${CS_FID_REF} singular ${CS_CLI} ${CS_FID_WORK}/singular)
add_test(NAME fid_npz_roundtrip COMMAND ${CS_PYTHON} ${CS_FID_REF} npz ${CS_CLI} ${CS_FID_WORK}/npz)
add_test(NAME fid_npz_hostile COMMAND ${CS_PYTHON} ${CS_FID_REF} hostile ${CS_CLI} ${CS_FID_WORK}/hostile)
add_test(NAME fid_cli COMMAND ${CS_PYTHON} ${CS_FID_REF} cli ${CS_CLI} ${CS_FID_WORK}/cli)
set_tests_properties(stats_merge frechet_methods fid_scipy fid_singular_mpmath fid_npz_roundtrip
                     fid_npz_hostile fid_cli PROPERTIES TIMEOUT 120)
set_tests_properties(fid_scipy_2048 PROPERTIES TIMEOUT 300)

# The one-sided low-rank method (factored reference vs a set's rows) against eig and Jacobi.
cs_add_c_test(test_frechet_rows test_frechet_rows.c)
add_test(NAME frechet_rows COMMAND test_frechet_rows)

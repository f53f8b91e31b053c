# Hostile statistics, feature and image files (issue 20): impossible covariances, HDF5 datasets
# whose data lies outside the file (external storage, links, virtual datasets, unknown filters),
# tiny files declaring huge datasets, non-finite values, FIFOs/devices/symlink loops named on the
# command line; audit manifests that are not strict JSON (trailing data, duplicate keys, \u0000,
# invalid UTF-8, lone surrogates, truncation, deep nesting: MANIFEST:LINE:COL). Each must exit 2
# with one line naming the file, within 10 s (tests/hostile_files.py); valid controls (float32
# storage, rounding-level asymmetry, singular covariances) must still pass.
add_test(NAME hostile_files
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hostile_files.py ${CS_CLI}
                 ${CS_TESTDATA}/hostile_files ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(hostile_files PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 300)

# Temporary files of a run ended by SIGINT/SIGTERM/SIGHUP are unlinked by the CLI's handler
# (host/core/tmpfile.h); SIGKILL's are swept by the next writer (hostile_files covers that).
cs_add_c_test(test_tmpfile ${CMAKE_CURRENT_SOURCE_DIR}/test_tmpfile.c)
add_test(NAME tmpfile_signals COMMAND test_tmpfile ${CS_TESTDATA}/tmpfile)
set_tests_properties(tmpfile_signals PROPERTIES TIMEOUT 30)

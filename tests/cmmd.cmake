# CMMD (include/copyscope/cmmd.h): google-research's cmmd/distance.py estimator in float64.
#  cmmd_unit    C: a hand-computed value, tiled vs the plain-loop reference, threads 1/2/3 bit for bit,
#               kernel-matrix bootstrap replicates vs explicitly gathered rows, invariances, errors
#  cmmd_cli     `copyscope cmmd A B` on features files vs a numpy reimplementation of distance.py (line
#               by line), several (n1, n2, d), --no-normalize, --threads 1 = 2, bad inputs
#  cmmd_audit   `copyscope audit --utility cmmd`: scores, utilities, exact Shapley values and bootstrap
#               replicates vs numpy; -j 1 = -j 2; neg-cmmd; a cmmd column in `copyscope shapley`
#  cmmd_images  image directories through the network (test weights) = their features files = numpy
# Tolerances are explained at the top of tests/cmmd_ref.py and tests/test_cmmd.c.
cs_add_c_test(test_cmmd ${CMAKE_CURRENT_SOURCE_DIR}/test_cmmd.c)
add_test(NAME cmmd_unit COMMAND test_cmmd)
set(CS_CMMD_WORK ${CS_TESTDATA}/cmmd)
foreach(mode cli audit)
  add_test(NAME cmmd_${mode}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cmmd_ref.py ${mode} ${CS_CLI} ${CS_CMMD_WORK}/${mode})
endforeach()
add_test(NAME cmmd_images
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cmmd_ref.py images ${CS_CLI} ${CS_CMMD_WORK}/images
                 ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(cmmd_images PROPERTIES FIXTURES_REQUIRED test_weights)
set_tests_properties(cmmd_unit cmmd_cli cmmd_audit cmmd_images PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)

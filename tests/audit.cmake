# copyscope audit: manifests, engine, bootstrap, reports.
#  audit_unit        C: random streams, percentiles, bootstrap FIDs vs explicitly gathered rows
#  audit_bootstrap   the CLI on features .h5 files vs a numpy/scipy reimplementation drawing the
#                    same resampled indices (FIDs, values, CIs, standard errors), thread
#                    independence, CSV/HTML consistency
#  audit_errors      bad manifests -> exit 2 with the expected message
#  audit_example_data data/example-audit (shipped images) with a pixel utility: null player exactly 0
#  audit_e2e         a synthetic audit from images with the generated test weights: known ranking,
#                    report files, CI contains the point estimate, determinism, FIDs equal
#                    `copyscope fid` on the same directories
cs_add_c_test(test_audit ${CMAKE_CURRENT_SOURCE_DIR}/test_audit.c)
add_test(NAME audit_unit COMMAND test_audit)

set(CS_AUDIT_TMP ${CS_TESTDATA}/audit)
file(MAKE_DIRECTORY ${CS_AUDIT_TMP})
add_test(NAME audit_bootstrap
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/audit_ref.py bootstrap ${CS_CLI} ${CS_AUDIT_TMP}/bootstrap)
add_test(NAME audit_errors
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/audit_ref.py errors ${CS_CLI} ${CS_AUDIT_TMP}/errors)
add_test(NAME audit_cli_help COMMAND ${CS_CLI} audit --help)
set_tests_properties(audit_cli_help PROPERTIES PASS_REGULAR_EXPRESSION "POSITIVE value")
add_test(NAME audit_example_data
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/audit_ref.py example ${CS_CLI} ${CS_AUDIT_TMP}/example
                 ${PROJECT_SOURCE_DIR}/data/example-audit)
set_tests_properties(audit_unit audit_bootstrap audit_errors audit_example_data PROPERTIES TIMEOUT 120)

# End to end from images. Size chosen so that the known ranking is resolved by the random test
# weights (see docs/audit.md, "Tests"); the feature cache under ${CS_AUDIT_TMP}/e2e makes reruns fast.
set(CS_AUDIT_E2E_PER_SET 24)
set(CS_AUDIT_E2E_DIMS 192)
add_test(NAME audit_e2e
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/audit_ref.py e2e ${CS_CLI} ${CS_AUDIT_TMP}/e2e
                 ${CS_TESTDATA}/test-weights-seed1.pth ${CS_AUDIT_E2E_PER_SET} ${CS_AUDIT_E2E_DIMS})
set_tests_properties(audit_e2e PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 600 SKIP_RETURN_CODE 77)

# Utilities other than FID (--utility kid / cosine / hist / dhash / ssim / rgb-ssim / fusion): scores,
# utilities, exact Shapley values and bootstrap replicates against PIL/OpenCV/scikit-image/numpy
# (tests/audit_utilities.py; pixel metrics skip without python3-opencv / python3-skimage).
foreach(mode pixel kid)
  add_test(NAME audit_utility_${mode}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/audit_utilities.py ${mode} ${CS_CLI}
                   ${CS_AUDIT_TMP}/utility-${mode})
  set_tests_properties(audit_utility_${mode} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()

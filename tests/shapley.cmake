# Attribution engine: estimators (C unit tests), the CLI against independent Python references,
# table errors and plans. All CPU-only and fast (< 10 s in all).
cs_add_c_test(test_shapley ${CMAKE_CURRENT_SOURCE_DIR}/test_shapley.c)
add_test(NAME shapley_unit COMMAND test_shapley)

set(CS_SHAPLEY_TMP ${CS_TESTDATA}/shapley)
file(MAKE_DIRECTORY ${CS_SHAPLEY_TMP})
add_test(NAME shapley_paper_ref
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/shapley_ref.py paper ${CS_CLI}
                 ${PROJECT_SOURCE_DIR}/data/paper_fids.csv)
add_test(NAME shapley_brute_ref
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/shapley_ref.py brute ${CS_CLI} ${CS_SHAPLEY_TMP})
add_test(NAME shapley_cli_errors
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/shapley_ref.py errors ${CS_CLI} ${CS_SHAPLEY_TMP})
add_test(NAME shapley_plan
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/shapley_ref.py plan ${CS_CLI} ${CS_SHAPLEY_TMP})
set_tests_properties(shapley_paper_ref shapley_brute_ref shapley_cli_errors shapley_plan
                     PROPERTIES TIMEOUT 120)
add_test(NAME shapley_cli_help COMMAND ${CS_CLI} shapley --help)
set_tests_properties(shapley_cli_help PROPERTIES PASS_REGULAR_EXPRESSION "positive value|POSITIVE value")
add_test(NAME shapley_plan_help COMMAND ${CS_CLI} plan --help)
set_tests_properties(shapley_plan_help PROPERTIES PASS_REGULAR_EXPRESSION "--budget")

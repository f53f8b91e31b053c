# Strict JSON (issue 20): the validator run before cJSON on audit manifests and job.json
# (host/io/json_strict.c). Unit test of what it accepts and where it says each defect lies; the
# CLI cases (exit 2 with MANIFEST:LINE:COL) are in tests/hostile_files.py.
cs_add_c_test(test_json_strict ${CMAKE_CURRENT_SOURCE_DIR}/test_json_strict.c)
add_test(NAME json_strict COMMAND test_json_strict)
set_tests_properties(json_strict PROPERTIES TIMEOUT 60)

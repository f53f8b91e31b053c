# End-to-end tests of `copyscope features` and of the feature cache (tests/features_e2e.py).
set(CS_W ${CS_TESTDATA}/test-weights-seed1.pth)
foreach(t torch badinput cache sigkill concurrent fid)
  add_test(NAME features_${t}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/features_e2e.py ${t} ${CS_CLI} ${CS_W}
                   ${CS_TESTDATA}/features-${t})
  set_tests_properties(features_${t} PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 900)
endforeach()
set_tests_properties(features_torch PROPERTIES LABELS "reference")

# The audit report people look at (issue 18) and the copy-similarity utilities (issue 19 item 4).
#  report_nearest_unit   C: tiled cosine vs the readable loops, nearest rows, bootstrap thread
#                        independence and explicit resamples, interaction indices by hand
#  report_interactions   `copyscope shapley --json` interaction indices vs a Harsanyi-dividend
#                        reference on the glove, weighted-majority and a random 6-player game (1e-12)
#  report_nearest        --utility nn-sim / copy-rate on features files vs numpy: scores, utilities,
#                        Shapley values, nearest pairs, interactions and bootstrap intervals; -j 1 = -j 2
#  report_html           the demo's audit (smaller) in headless Chromium: no console error, a
#                        non-blank screenshot, every section, thumbnails byte-equal to PIL's, no
#                        http(s), < 8 MB (also for 32 coalitions of noise images), --pdf
#  report_hostile        hostile file and player names: no injected element in Chromium's DOM
# Chromium tests skip (77) without chromium; report_html needs the test weights fixture.
cs_add_c_test(test_nearest ${CMAKE_CURRENT_SOURCE_DIR}/test_nearest.c)
add_test(NAME report_nearest_unit COMMAND test_nearest)
set(CS_REPORT_TMP ${CS_TESTDATA}/report)
foreach(mode interactions nearest hostile)
  add_test(NAME report_${mode}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/report_ref.py ${mode} ${CS_CLI} ${CS_REPORT_TMP}/${mode})
  set_tests_properties(report_${mode} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
add_test(NAME report_html
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/report_ref.py html ${CS_CLI} ${CS_REPORT_TMP}/html
                 ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(report_html PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 300 SKIP_RETURN_CODE 77)

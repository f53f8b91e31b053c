# Similarity metrics (cosine, hist, dhash, ssim, rgb-ssim, fusion, kid, fid) and PIL resampling.
# tests/metrics_ref.py compares against PIL (bit-exact resize), OpenCV compareHist, scikit-image
# structural_similarity and numpy (KID); tolerances are explained at the top of that file.
# Needs Debian python3-skimage and python3-opencv (the pixel/cli/figure1 tests skip without them).

cs_add_c_test(test_metrics_tool ${CMAKE_CURRENT_SOURCE_DIR}/test_metrics_tool.c)
cs_add_c_test(test_metrics ${CMAKE_CURRENT_SOURCE_DIR}/test_metrics.c)
add_test(NAME metrics_unit COMMAND test_metrics)

set(CS_METRICS_REF ${CMAKE_CURRENT_SOURCE_DIR}/metrics_ref.py)
set(CS_METRICS_WORK ${CS_TESTDATA}/metrics)
foreach(t resize pixel figure1 kid)
  add_test(NAME metrics_${t} COMMAND ${CS_PYTHON} ${CS_METRICS_REF} ${t} $<TARGET_FILE:test_metrics_tool>
                                     ${CS_METRICS_WORK}/${t})
endforeach()
add_test(NAME metrics_cli COMMAND ${CS_PYTHON} ${CS_METRICS_REF} cli ${CS_CLI} ${CS_METRICS_WORK}/cli)
add_test(NAME metrics_kid_fid_cli COMMAND ${CS_PYTHON} ${CS_METRICS_REF} setfeat ${CS_CLI}
                                          ${CS_METRICS_WORK}/setfeat ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(metrics_kid_fid_cli PROPERTIES FIXTURES_REQUIRED test_weights)
set_tests_properties(metrics_figure1 PROPERTIES ENVIRONMENT CS_SHARED=${CS_SHARED})
set_tests_properties(metrics_unit metrics_resize metrics_pixel metrics_figure1 metrics_kid metrics_cli
                     metrics_kid_fid_cli PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)

# FID engine: statistics, Fréchet distance, stats files, fid/stats/merge CLI.
cs_add_c_test(test_stats ${CMAKE_CURRENT_SOURCE_DIR}/test_stats.c)
add_test(NAME stats_merge COMMAND test_stats)
set_tests_properties(stats_merge PROPERTIES TIMEOUT 120)
cs_add_c_test(test_frechet ${CMAKE_CURRENT_SOURCE_DIR}/test_frechet.c)
add_test(NAME frechet_methods COMMAND test_frechet)
set_tests_properties(frechet_methods PROPERTIES TIMEOUT 120)

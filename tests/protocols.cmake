# FID protocols (pytorch-fid, clean-fid, torch-fidelity), Inception Score and torch-fidelity's KID,
# each against the peer library itself (tests/protocols_ref.py; the peers live in
# /opt/copyscope-tools/pypeers, installed by tools/install-deps.sh; absent: the tests skip).
cs_add_c_test(test_protocols ${CMAKE_CURRENT_SOURCE_DIR}/test_protocols.c)
set(CS_PEERS /opt/copyscope-tools/pypeers)
foreach(t rng iscmath resize preprocess features fid isc kid cli listing)
  add_test(NAME protocols_${t}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/protocols_ref.py ${t} $<TARGET_FILE:test_protocols>
                   ${CS_CLI} ${CS_TESTDATA}/test-weights-seed1.pth ${CS_TESTDATA}/protocols-${t})
  set_tests_properties(protocols_${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
                       ENVIRONMENT "CS_PEERS=${CS_PEERS}")
endforeach()
set_tests_properties(protocols_features protocols_fid protocols_isc protocols_kid protocols_cli protocols_listing
                     PROPERTIES FIXTURES_REQUIRED test_weights)

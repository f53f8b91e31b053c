# The Python package (python/, issue 17): pytest suites over the build's staged package
# (<build>/python: the extension beside links to the .py sources), a venv install, a leak check.
#   python_api       the API against the CLI bit for bit, errors, GIL, Ctrl-C (tests/pytest)
#   python_peers     the drop-ins against the real pytorch-fid (pypeers; 77 when absent)
#   python_venv      pip install into a fresh venv, then the must-show tests from there
#   python_leaks     a loop of calls under valgrind: nothing lost under copyscope
# Each skips (77) with a message when pytest or the extension is missing.
set(CS_PY_ENV "CS_CLI=$<TARGET_FILE:copyscope_cli>" "CS_WEIGHTS=${CS_TESTDATA}/test-weights-seed1.pth"
    "CS_WORK=${CS_TESTDATA}/python" "OMP_NUM_THREADS=2")
set(CS_PY_DIR ${CMAKE_CURRENT_SOURCE_DIR}/pytest)
set(CS_PEERS_DIR /opt/copyscope-tools/pypeers)
if(TARGET copyscope_python)
  set(CS_PY_PATH "PYTHONPATH=${CMAKE_BINARY_DIR}/python:${CS_PY_DIR}")
  set(CS_PY_CHECK "${CS_PYTHON} -c 'import pytest' 2>/dev/null || { echo 'SKIP: pytest missing (Debian: python3-pytest)'; exit 77; }")
  add_test(NAME python_api
           COMMAND sh -c "${CS_PY_CHECK}; exec \"$0\" -m pytest -q -p no:cacheprovider \"$1/test_api.py\" \"$1/test_interrupt.py\""
                   ${CS_PYTHON} ${CS_PY_DIR})
  add_test(NAME python_peers
           COMMAND sh -c "${CS_PY_CHECK}; [ -d \"$2/pytorch_fid\" ] || { echo \"SKIP: pytorch-fid not in $2 (tools/install-deps.sh)\"; exit 77; }; PYTHONPATH=$PYTHONPATH:$2 exec \"$0\" -m pytest -q -p no:cacheprovider \"$1/test_compat.py\""
                   ${CS_PYTHON} ${CS_PY_DIR} ${CS_PEERS_DIR})
  add_test(NAME python_venv
           COMMAND sh -c "${CS_PY_CHECK}; exec \"$1/venv_install.sh\" \"$2\" \"$3\" \"$0\""
                   ${CS_PYTHON} ${CS_PY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  find_program(CS_VALGRIND valgrind)
  if(CS_VALGRIND)
    add_test(NAME python_leaks
             COMMAND ${CS_PYTHON} ${CS_PY_DIR}/leak_check.py ${CS_VALGRIND} ${CMAKE_CURRENT_SOURCE_DIR}/valgrind.supp
                     ${CS_TESTDATA}/test-weights-seed1.pth ${CS_TESTDATA}/python-leaks)
    set_tests_properties(python_leaks PROPERTIES ENVIRONMENT "${CS_PY_PATH}" FIXTURES_REQUIRED test_weights
                         TIMEOUT 900 LABELS "valgrind")
  endif()
  set_tests_properties(python_api python_peers PROPERTIES ENVIRONMENT "${CS_PY_PATH};${CS_PY_ENV}")
  set_tests_properties(python_venv PROPERTIES ENVIRONMENT "${CS_PY_ENV}")
  set_tests_properties(python_api python_peers python_venv PROPERTIES FIXTURES_REQUIRED test_weights
                       SKIP_RETURN_CODE 77 TIMEOUT 900)
  set_tests_properties(python_peers PROPERTIES LABELS "reference")
else()
  add_test(NAME python_api COMMAND sh -c "echo 'SKIP: the Python extension is not built (python3-dev missing)'; exit 77")
  set_tests_properties(python_api PROPERTIES SKIP_RETURN_CODE 77)
endif()

# CLI basics: help, version, unknown commands and exit codes.
add_test(NAME cli_help COMMAND ${CS_CLI} --help)
set_tests_properties(cli_help PROPERTIES PASS_REGULAR_EXPRESSION "Commands:")
add_test(NAME cli_unknown_command COMMAND ${CS_CLI} no-such-command)
set_tests_properties(cli_unknown_command PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_no_args COMMAND ${CS_CLI})
set_tests_properties(cli_no_args PROPERTIES WILL_FAIL TRUE)

# The multi-device scheduler of the feature pipeline (host/features/scheduler.c, host/features/features.c).
#
#  scheduler_devices        --device lists: the grammar (net/device_spec.h, accepted and refused
#                           forms, also through cs_backend_create_ex), meaning on machines with
#                           0/1/4 GPUs, with and without a CUDA build, usage errors (exit 2), CPU
#                           stand-ins
#  scheduler_pipeline       2 or 3 CPU backends standing in for GPUs (cs_features_testing): features
#                           bit-identical to the single-CPU pipeline, in input order (cold cache,
#                           warm cache, --skip-bad); a failing batch (testing aid) stops the run
#                           (exit 1, device + image range named), completed batches are cached
#                           and a rerun computes only the rest
#  scheduler_cli_usage      `copyscope features --device cuda:0,0` and friends: exit 2, one line
#  scheduler_cli_failure    a failing worker through the CLI: exit 1, device and images named,
#                           no output file
#  scheduler_queue(_tsan)   threads and queues with a stub model: each batch back once with its
#                           own results, all devices busy, failure hook, a device that cannot
#                           start, inline mode, freeing with work queued; also under TSan
#
# By hand, the whole pipeline under TSan (see docs/gpu.md): a build with
# -DCMAKE_C_FLAGS=-fsanitize=thread -DCOPYSCOPE_CUDA=OFF, then
# test_scheduler_pipeline WEIGHTS WORKDIR --only-multi.
include(CheckCSourceCompiles)
cs_add_c_test(test_scheduler ${CMAKE_CURRENT_SOURCE_DIR}/test_scheduler.c)
add_test(NAME scheduler_devices COMMAND test_scheduler)
set_tests_properties(scheduler_devices PROPERTIES TIMEOUT 60)

cs_add_c_test(test_scheduler_pipeline ${CMAKE_CURRENT_SOURCE_DIR}/test_scheduler_pipeline.c)
add_test(NAME scheduler_pipeline
         COMMAND test_scheduler_pipeline ${CS_TESTDATA}/test-weights-seed1.pth ${CS_TESTDATA}/scheduler)
set_tests_properties(scheduler_pipeline PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 900)

# The device spec is checked before weights or images are read: any existing file will do.
add_test(NAME scheduler_cli_usage
         COMMAND sh -c "for d in cuda: cuda:-1 cuda:0,0 cuda:0, gpu; do \
                          out=$($0 features $1 --out $2 --no-cache --device $d 2>&1); rc=$?; \
                          echo \"--device $d -> exit $rc: $out\"; \
                          [ $rc -eq 2 ] || exit 1; [ $(printf '%s\\n' \"$out\" | wc -l) -eq 1 ] || exit 1; \
                          case \"$out\" in *\"device '$d'\"*) ;; *) exit 1;; esac; \
                        done; [ ! -e $2 ]"
                 ${CS_CLI} ${PROJECT_SOURCE_DIR}/data/paper_fids.csv ${CS_TESTDATA}/scheduler-cli-usage.h5)
set_tests_properties(scheduler_cli_usage PROPERTIES TIMEOUT 120)

add_test(NAME scheduler_cli_failure
         COMMAND sh -c "rm -rf $1 && mkdir -p $1/img && for i in 0 1 2 3 4 5 6 7 8 9; do \
                          { printf 'P6\\n40 40\\n255\\n'; head -c 4800 /dev/urandom; } > $1/img/im$i.ppm; done; \
                        out=$($0 features $1/img --out $1/x.h5 --weights $2 --no-cache --batch 4 --dims 64 \
                          --threads 2 --testing-cpu-devices 2 --testing-fail-batch 1 2>&1); rc=$?; \
                        echo \"exit $rc: $out\"; [ $rc -eq 1 ] || exit 1; \
                        case \"$out\" in *'device cpu#'*'failed on batch 1 (input images 4..7'*) ;; *) exit 1;; esac; \
                        [ ! -e $1/x.h5 ]"
                 ${CS_CLI} ${CS_TESTDATA}/scheduler-cli-failure ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(scheduler_cli_failure PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 300)

# The scheduler's threads and queues with a stub model (no network: fast), also under
# ThreadSanitizer (data races, lock order) when the compiler has it.
set(CS_SCHED_QUEUE_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_scheduler_queue.c
    ${PROJECT_SOURCE_DIR}/host/features/scheduler.c ${PROJECT_SOURCE_DIR}/host/net/device_spec.c
    ${PROJECT_SOURCE_DIR}/host/core/error.c ${PROJECT_SOURCE_DIR}/host/core/util.c)
add_executable(test_scheduler_queue ${CS_SCHED_QUEUE_SOURCES})
target_include_directories(test_scheduler_queue PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/host
                           ${PROJECT_SOURCE_DIR}/tests)
target_compile_definitions(test_scheduler_queue PRIVATE _GNU_SOURCE)
target_link_libraries(test_scheduler_queue PRIVATE Threads::Threads m)
add_test(NAME scheduler_queue COMMAND test_scheduler_queue)
set_tests_properties(scheduler_queue PROPERTIES TIMEOUT 120)

set(CMAKE_REQUIRED_FLAGS "-fsanitize=thread")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=thread")
check_c_source_compiles("int main(void){return 0;}" CS_SCHED_HAVE_TSAN)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(CS_SCHED_HAVE_TSAN AND NOT COPYSCOPE_SANITIZE)
  add_executable(test_scheduler_queue_tsan ${CS_SCHED_QUEUE_SOURCES})
  target_include_directories(test_scheduler_queue_tsan PRIVATE ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_SOURCE_DIR}/host ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(test_scheduler_queue_tsan PRIVATE _GNU_SOURCE)
  target_compile_options(test_scheduler_queue_tsan PRIVATE -fsanitize=thread -O1 -g)
  target_link_options(test_scheduler_queue_tsan PRIVATE -fsanitize=thread)
  target_link_libraries(test_scheduler_queue_tsan PRIVATE Threads::Threads m)
  add_test(NAME scheduler_queue_tsan COMMAND test_scheduler_queue_tsan)
  set_tests_properties(scheduler_queue_tsan PROPERTIES ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1 exitcode=66"
                       TIMEOUT 300)
endif()

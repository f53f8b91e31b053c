# Image decoding and the decode thread pool (host/io/image.c, host/core/threadpool.c).
#
#  image_corpus      fixture: tools/make_test_images.py writes the corpus + manifest
#  image_ref         every corpus image decoded (serially and on a 3-thread pool) and compared
#                    with PIL's Image.open().convert('RGB'): byte-exact; bad files give the
#                    manifest's status and a message naming the file; 1300 corrupted variants
#                    must decode identically to PIL wherever both decode them
#  image_hostile     truncations at many offsets + seeded random byte corruption: no crash,
#                    success or a clean error (also built with ASan+UBSan, and run under
#                    valgrind when it is installed, on fewer variants)
#  image_misc        API details: extensions, 1x1 decodes with known pixels, error messages
#  image_threadpool  parallel-for / async jobs: each index once, exact sums (also under TSan,
#                    with a parallel decode: image_threadpool_tsan, image_decode_tsan)
set(CS_IMAGE_CORPUS ${CS_TESTDATA}/images)

add_test(NAME image_corpus
         COMMAND ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/make_test_images.py --out ${CS_IMAGE_CORPUS})
set_tests_properties(image_corpus PROPERTIES FIXTURES_SETUP image_corpus TIMEOUT 120)

cs_add_c_test(test_image_decode ${CMAKE_CURRENT_SOURCE_DIR}/test_image_decode.c)
add_test(NAME image_ref
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/image_ref.py
                 --bin $<TARGET_FILE:test_image_decode> --corpus ${CS_IMAGE_CORPUS}
                 --work ${CMAKE_CURRENT_BINARY_DIR}/image_ref_out --corrupt 100 --seed 1)
set_tests_properties(image_ref PROPERTIES FIXTURES_REQUIRED image_corpus TIMEOUT 120)

# Seeds for the hostile test: one file per decoder path (small, so that every header
# offset is cut and each variant decodes in microseconds).
set(CS_IMAGE_HOSTILE_FILES
    ${CS_IMAGE_CORPUS}/png_rgb8.png ${CS_IMAGE_CORPUS}/png_pal4_trns.png
    ${CS_IMAGE_CORPUS}/png_rgba16_adam7.png ${CS_IMAGE_CORPUS}/png_gray2.png
    ${CS_IMAGE_CORPUS}/jpg_rgb420.jpg ${CS_IMAGE_CORPUS}/jpg_progressive.jpg
    ${CS_IMAGE_CORPUS}/jpg_cmyk.jpg ${CS_IMAGE_CORPUS}/jpg_gray.jpg
    ${CS_IMAGE_CORPUS}/ppm_p6_max15_comments.ppm ${CS_IMAGE_CORPUS}/pgm_p5_16bit.pgm)
cs_add_c_test(test_image_hostile ${CMAKE_CURRENT_SOURCE_DIR}/test_image_hostile.c)
add_test(NAME image_hostile COMMAND test_image_hostile 1 3000 600 ${CS_IMAGE_HOSTILE_FILES})
set_tests_properties(image_hostile PROPERTIES FIXTURES_REQUIRED image_corpus TIMEOUT 300)

# The same test with the decoder compiled with ASan + UBSan (independent of COPYSCOPE_SANITIZE).
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=address,undefined")
check_c_source_compiles("int main(void){return 0;}" CS_HAVE_ASAN)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
set(CS_IMAGE_DECODER_SOURCES ${PROJECT_SOURCE_DIR}/host/io/image.c ${PROJECT_SOURCE_DIR}/host/io/image_bmp.c
    ${PROJECT_SOURCE_DIR}/host/io/image_tiff.c ${PROJECT_SOURCE_DIR}/host/io/image_webp.c
    ${PROJECT_SOURCE_DIR}/host/core/threadpool.c
    ${PROJECT_SOURCE_DIR}/host/core/util.c ${PROJECT_SOURCE_DIR}/host/core/error.c)
if(CS_HAVE_ASAN AND NOT COPYSCOPE_SANITIZE)
  add_executable(test_image_hostile_asan ${CMAKE_CURRENT_SOURCE_DIR}/test_image_hostile.c
                 ${CS_IMAGE_DECODER_SOURCES})
  target_include_directories(test_image_hostile_asan PRIVATE ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_SOURCE_DIR}/host)
  target_compile_definitions(test_image_hostile_asan PRIVATE _GNU_SOURCE)
  target_compile_options(test_image_hostile_asan PRIVATE -fsanitize=address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g)
  target_link_options(test_image_hostile_asan PRIVATE -fsanitize=address,undefined)
  target_link_libraries(test_image_hostile_asan PRIVATE PNG::PNG JPEG::JPEG ZLIB::ZLIB PkgConfig::WEBP PkgConfig::TIFF Threads::Threads m)
  add_test(NAME image_hostile_asan COMMAND test_image_hostile_asan 2 1500 300 ${CS_IMAGE_HOSTILE_FILES})
  set_tests_properties(image_hostile_asan PROPERTIES FIXTURES_REQUIRED image_corpus TIMEOUT 300)
endif()

find_program(CS_VALGRIND valgrind)
if(CS_VALGRIND)
  add_test(NAME image_hostile_valgrind
           COMMAND ${CS_VALGRIND} --error-exitcode=3 --quiet --leak-check=full
                   --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind.supp
                   --errors-for-leak-kinds=definite $<TARGET_FILE:test_image_hostile> 3 150 80
                   ${CS_IMAGE_CORPUS}/png_rgb8.png ${CS_IMAGE_CORPUS}/png_rgba16_adam7.png
                   ${CS_IMAGE_CORPUS}/jpg_rgb420.jpg ${CS_IMAGE_CORPUS}/jpg_progressive.jpg
                   ${CS_IMAGE_CORPUS}/jpg_cmyk.jpg)
  set_tests_properties(image_hostile_valgrind PROPERTIES FIXTURES_REQUIRED image_corpus TIMEOUT 300)
endif()

cs_add_c_test(test_image_misc ${CMAKE_CURRENT_SOURCE_DIR}/test_image_misc.c)
add_test(NAME image_misc COMMAND test_image_misc)
set_tests_properties(image_misc PROPERTIES TIMEOUT 60)

cs_add_c_test(test_threadpool ${CMAKE_CURRENT_SOURCE_DIR}/test_threadpool.c)
add_test(NAME image_threadpool COMMAND test_threadpool)
set_tests_properties(image_threadpool PROPERTIES TIMEOUT 120)

# The pool and the parallel decode under ThreadSanitizer (data races, lock order).
set(CMAKE_REQUIRED_FLAGS "-fsanitize=thread")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=thread")
check_c_source_compiles("int main(void){return 0;}" CS_HAVE_TSAN)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(CS_HAVE_TSAN AND NOT COPYSCOPE_SANITIZE)
  foreach(prog test_threadpool test_image_decode)
    add_executable(${prog}_tsan ${CMAKE_CURRENT_SOURCE_DIR}/${prog}.c ${CS_IMAGE_DECODER_SOURCES})
    target_include_directories(${prog}_tsan PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/host)
    target_compile_definitions(${prog}_tsan PRIVATE _GNU_SOURCE)
    target_compile_options(${prog}_tsan PRIVATE -fsanitize=thread -O1 -g)
    target_link_options(${prog}_tsan PRIVATE -fsanitize=thread)
    target_link_libraries(${prog}_tsan PRIVATE PNG::PNG JPEG::JPEG ZLIB::ZLIB PkgConfig::WEBP PkgConfig::TIFF Threads::Threads m)
  endforeach()
  add_test(NAME image_threadpool_tsan COMMAND test_threadpool_tsan)
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/image_tsan_out)
  add_test(NAME image_decode_tsan
           COMMAND test_image_decode_tsan ${CMAKE_CURRENT_BINARY_DIR}/image_tsan_out
                   ${CS_IMAGE_HOSTILE_FILES} ${CS_IMAGE_CORPUS}/bad_truncated.jpg
                   ${CS_IMAGE_CORPUS}/bad_text.png ${CS_IMAGE_CORPUS}/png_1411x1411.png)
  set_tests_properties(image_threadpool_tsan image_decode_tsan PROPERTIES
                       ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1 exitcode=66" TIMEOUT 300)
  set_tests_properties(image_decode_tsan PROPERTIES FIXTURES_REQUIRED image_corpus)
endif()

# libFuzzer target: cmake -DCOPYSCOPE_FUZZ=ON -DCMAKE_C_COMPILER=clang ...
#   fuzz_image -rss_limit_mb=4096 -max_total_time=600 <dir seeded from the corpus>
if(COPYSCOPE_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_image ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_image.c ${CS_IMAGE_DECODER_SOURCES})
    target_include_directories(fuzz_image PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/host)
    target_compile_definitions(fuzz_image PRIVATE _GNU_SOURCE)
    target_compile_options(fuzz_image PRIVATE -fsanitize=fuzzer,address,undefined -g -O1)
    target_link_options(fuzz_image PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_image PRIVATE PNG::PNG JPEG::JPEG ZLIB::ZLIB PkgConfig::WEBP PkgConfig::TIFF Threads::Threads m)
    # A short smoke run over the corpus (the long runs are done by hand).
    # New units go to the first directory, so the generated corpus stays as written.
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz_image_units)
    add_test(NAME image_fuzz_smoke
             COMMAND fuzz_image -rss_limit_mb=4096 -max_total_time=30 -timeout=10
                     ${CMAKE_CURRENT_BINARY_DIR}/fuzz_image_units ${CS_IMAGE_CORPUS} ${CS_TESTDATA}/image_formats)
    set_tests_properties(image_fuzz_smoke PROPERTIES FIXTURES_REQUIRED "image_corpus;image_formats_corpus" TIMEOUT 120)
  else()
    message(WARNING "COPYSCOPE_FUZZ=ON needs clang (CMAKE_C_COMPILER_ID is ${CMAKE_C_COMPILER_ID}); fuzz_image not built")
  endif()
endif()

# WebP, TIFF and BMP decoding (host/io/image_webp.c, image_tiff.c, image_bmp.c; issue 21 item 4).
#
#  image_formats_corpus    fixture: tools/make_format_images.py writes ~200 variants + manifest
#  image_formats_ref       every variant vs PIL 9.4's Image.open().convert('RGB'): byte-exact
#                          (max abs difference 0, lossy WebP included: same libwebp calls as PIL);
#                          refused variants give the manifest's status and a message naming the
#                          file; 60 corrupted variants of 12 files must decode identically to
#                          PIL wherever both decode them, and agree with PIL on success
#  image_formats_hostile   truncations + random byte corruption of 17 files: no crash, success or
#                          a clean error (again with ASan+UBSan: image_formats_hostile_asan, and
#                          under valgrind on fewer variants: image_formats_hostile_valgrind)
#  image_formats_listing   directory listing under each peer's rule (pytorch-fid, clean-fid,
#                          torch-fidelity: case, extensions, recursion, dotfiles) vs their code
#  image_formats_features  a folder of these files: same file list as pytorch-fid's, and
#                          copyscope's 2048-d features vs pytorch-fid 0.3.0 (PIL decoding, its
#                          InceptionV3 on the same weights) to 1e-4 of the feature scale
set(CS_FORMATS_CORPUS ${CS_TESTDATA}/image_formats)

add_test(NAME image_formats_corpus
         COMMAND ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/make_format_images.py --out ${CS_FORMATS_CORPUS})
set_tests_properties(image_formats_corpus PROPERTIES FIXTURES_SETUP image_formats_corpus TIMEOUT 120)

# Corrupted TIFF headers: PIL parses the IFD in Python and decodes through libtiff, we use
# libtiff for both; on a few corrupted headers (a tag with a wrong type) one refuses what the
# other reads (observed 2 of 240): tolerated up to 2%. Where both decode, bytes must be equal.
# Corrupted seeds: no CCITT G4 file: where libtiff's fax decoder reports a bad code word but
# returns rows, PIL keeps rows from an uninitialised buffer and we refuse the file (by design,
# documented in image_tiff.c), so success would differ there and only there.
set(CS_FORMATS_CORRUPT_SEEDS
    webp_lossy.webp,webp_lossless_alpha.webp,webp_anim.webp,tif_pil_RGB_tiff_lzw.tif,tif_pil_P_packbits.tif,tif_rgb16_be_deflate_pred.tif,tif_pal4_tiled_deflate.tif,bmp_pal4_h40.bmp,bmp_rle8.bmp,bmp_rle4.bmp,bmp_rgb32_bf_XBGR.bmp,bmp_rgb16_565_h40.bmp)
add_test(NAME image_formats_ref
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/image_ref.py
                 --bin $<TARGET_FILE:test_image_decode> --corpus ${CS_FORMATS_CORPUS}
                 --work ${CMAKE_CURRENT_BINARY_DIR}/image_formats_ref_out --corrupt 60 --seed 2
                 --corrupt-seeds ${CS_FORMATS_CORRUPT_SEEDS} --corrupt-tolerance tif:0.02)
set_tests_properties(image_formats_ref PROPERTIES FIXTURES_REQUIRED image_formats_corpus TIMEOUT 180)

set(CS_FORMATS_HOSTILE_FILES
    ${CS_FORMATS_CORPUS}/webp_lossy.webp ${CS_FORMATS_CORPUS}/webp_lossless_alpha.webp
    ${CS_FORMATS_CORPUS}/webp_anim_mixed.webp ${CS_FORMATS_CORPUS}/tif_pil_RGB_tiff_lzw.tif
    ${CS_FORMATS_CORPUS}/tif_pil_P_packbits.tif ${CS_FORMATS_CORPUS}/tif_rgb16_be_deflate_pred.tif
    ${CS_FORMATS_CORPUS}/tif_pal4_tiled_deflate.tif ${CS_FORMATS_CORPUS}/tif_pil_I16_tiff_adobe_deflate.tif
    ${CS_FORMATS_CORPUS}/tif_pil_RGB_jpeg.tif ${CS_FORMATS_CORPUS}/tif_pil_1_g4.tif
    ${CS_FORMATS_CORPUS}/tif_rgb8_planar_deflate_rps7.tif
    ${CS_FORMATS_CORPUS}/bmp_pal4_h40.bmp ${CS_FORMATS_CORPUS}/bmp_rle8.bmp ${CS_FORMATS_CORPUS}/bmp_rle4.bmp
    ${CS_FORMATS_CORPUS}/bmp_rgb32_bf_XBGR.bmp ${CS_FORMATS_CORPUS}/bmp_rgb16_565_h40.bmp
    ${CS_FORMATS_CORPUS}/bmp_pal1_h12.bmp)
add_test(NAME image_formats_hostile COMMAND test_image_hostile 3 3000 600 ${CS_FORMATS_HOSTILE_FILES})
set_tests_properties(image_formats_hostile PROPERTIES FIXTURES_REQUIRED image_formats_corpus TIMEOUT 300)
if(TARGET test_image_hostile_asan)
  add_test(NAME image_formats_hostile_asan COMMAND test_image_hostile_asan 4 1500 300 ${CS_FORMATS_HOSTILE_FILES})
  set_tests_properties(image_formats_hostile_asan PROPERTIES FIXTURES_REQUIRED image_formats_corpus TIMEOUT 300)
endif()

add_test(NAME image_formats_features
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/image_formats_features.py ${CS_CLI}
                 ${CS_TESTDATA}/test-weights-seed1.pth ${CS_FORMATS_CORPUS}
                 ${CMAKE_CURRENT_BINARY_DIR}/image_formats_features_out)
set_tests_properties(image_formats_features PROPERTIES FIXTURES_REQUIRED "image_formats_corpus;test_weights"
                     SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS reference)

# Directory listing under each peer's rule (cs_pathlist_expand_listing) vs the peers' own code.
cs_add_c_test(test_image_listing ${CMAKE_CURRENT_SOURCE_DIR}/test_image_listing.c)
add_test(NAME image_formats_listing
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/image_listing_ref.py $<TARGET_FILE:test_image_listing>
                 ${CMAKE_CURRENT_BINARY_DIR}/image_listing_out)
set_tests_properties(image_formats_listing PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

# Uninitialised reads and leaks in the new decoders and the libraries under them (every output
# byte is touched): a few variants under valgrind, when it is installed.
if(CS_VALGRIND)
  add_test(NAME image_formats_hostile_valgrind
           COMMAND ${CS_VALGRIND} --error-exitcode=3 --quiet --leak-check=full
                   --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind.supp
                   --errors-for-leak-kinds=definite $<TARGET_FILE:test_image_hostile> 3 60 40
                   ${CS_FORMATS_CORPUS}/webp_lossy_alpha.webp ${CS_FORMATS_CORPUS}/webp_anim_mixed.webp
                   ${CS_FORMATS_CORPUS}/tif_pil_RGB_tiff_lzw.tif ${CS_FORMATS_CORPUS}/tif_pal4_tiled_deflate.tif
                   ${CS_FORMATS_CORPUS}/tif_pil_RGB_jpeg.tif ${CS_FORMATS_CORPUS}/tif_rgb8_planar_deflate_rps7.tif
                   ${CS_FORMATS_CORPUS}/bmp_rle4.bmp ${CS_FORMATS_CORPUS}/bmp_rgb16_565_h40.bmp)
  set_tests_properties(image_formats_hostile_valgrind PROPERTIES FIXTURES_REQUIRED image_formats_corpus TIMEOUT 300)
endif()

# The parallel decode of the new formats under ThreadSanitizer (libtiff's handlers are per file,
# its global ones silenced once; libwebp keeps no global state).
if(TARGET test_image_decode_tsan)
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/image_formats_tsan_out)
  add_test(NAME image_formats_decode_tsan
           COMMAND test_image_decode_tsan ${CMAKE_CURRENT_BINARY_DIR}/image_formats_tsan_out ${CS_FORMATS_HOSTILE_FILES}
                   ${CS_FORMATS_CORPUS}/bad_truncated.tif ${CS_FORMATS_CORPUS}/bad_corrupt.webp
                   ${CS_FORMATS_CORPUS}/bmp_rle8_delta.bmp)
  set_tests_properties(image_formats_decode_tsan PROPERTIES FIXTURES_REQUIRED image_formats_corpus
                       ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1 exitcode=66" TIMEOUT 300)
endif()

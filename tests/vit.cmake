# Vision Transformer feature spaces (--model dinov2-*, clip-vitl14-336): ops, preprocessing and the
# whole pipeline against PyTorch / PIL / torchvision (tools/vit_torch.py, checked against
# facebookresearch/dinov2's own code: docs/feature-spaces.md).
#
#  fixture_vit_weights   seeded ViT-S/14 weights in the torch-hub dinov2_vits14 layout (22M params)
#  fixture_vit_depth     reduced-depth (2 blocks) ViT-L/14 and ViT-g/14 (SwiGLU) files
#  vit_ops_golden        tests/vit_ops_ref.py: torch/PIL/torchvision goldens of every op
#  vit_ops               every fast op vs its reference and vs the goldens; PIL resize byte for byte
#  vit_features          copyscope features --model dinov2-vits14 vs the reference (1e-4 of scale),
#                        cache, thread-count determinism
#  vit_fid               copyscope fid --model dinov2-vits14 vs FD_DINOv2 from the reference (1e-4)
#  vit_depth             the ViT-L and ViT-g code paths (2 blocks) vs the reference
#  vit_hostile           bad weights / options refused with exit 2 and one line
#  fixture_vit_clip      reduced-depth (2 layers) CLIP ViT-L/14-336 safetensors, F32 and BF16
#  vit_clip              copyscope features --model clip-vitl14-336 vs the reference; hostile
#                        safetensors files refused
set(CS_VIT_W ${CS_TESTDATA}/dinov2-vits14-seed3.pth)
add_test(NAME fixture_vit_weights
         COMMAND ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_vit_weights.py --arch dinov2-vits14 --seed 3
                 --out ${CS_VIT_W})
set_tests_properties(fixture_vit_weights PROPERTIES FIXTURES_SETUP vit_weights TIMEOUT 300)

set(CS_VIT_DEPTH_DIR ${CS_TESTDATA}/vit-depth)
file(MAKE_DIRECTORY ${CS_VIT_DEPTH_DIR})
add_test(NAME fixture_vit_depth
         COMMAND sh -c "${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_vit_weights.py --arch dinov2-vitl14 --seed 4 --depth 2 --out ${CS_VIT_DEPTH_DIR}/dinov2-vitl14-depth2.pth && ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_vit_weights.py --arch dinov2-vitg14 --seed 5 --depth 2 --out ${CS_VIT_DEPTH_DIR}/dinov2-vitg14-depth2.pth")
set_tests_properties(fixture_vit_depth PROPERTIES FIXTURES_SETUP vit_depth TIMEOUT 300)

add_test(NAME vit_ops_golden
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vit_ops_ref.py --out ${CS_TESTDATA}/vit-ops.bin)
set_tests_properties(vit_ops_golden PROPERTIES FIXTURES_SETUP vit_ops_golden TIMEOUT 300)
cs_add_c_test(test_vit_ops ${CMAKE_CURRENT_SOURCE_DIR}/test_vit_ops.c)
add_test(NAME vit_ops COMMAND test_vit_ops ${CS_TESTDATA}/vit-ops.bin)
set_tests_properties(vit_ops PROPERTIES FIXTURES_REQUIRED vit_ops_golden TIMEOUT 120)

foreach(mode features fid hostile)
  add_test(NAME vit_${mode}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vit_ref.py ${mode} ${CS_CLI} ${CS_VIT_W}
                   ${CS_TESTDATA}/vit-${mode})
  set_tests_properties(vit_${mode} PROPERTIES FIXTURES_REQUIRED vit_weights TIMEOUT 600)
endforeach()
add_test(NAME vit_depth
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vit_ref.py depth ${CS_CLI} ${CS_VIT_DEPTH_DIR}
                 ${CS_TESTDATA}/vit-depth-run)
set_tests_properties(vit_depth PROPERTIES FIXTURES_REQUIRED vit_depth TIMEOUT 600)

set(CS_VIT_CLIP_DIR ${CS_TESTDATA}/vit-clip-weights)
file(MAKE_DIRECTORY ${CS_VIT_CLIP_DIR})
add_test(NAME fixture_vit_clip
         COMMAND sh -c "${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_vit_weights.py --arch clip-vitl14-336 --seed 6 --depth 2 --out ${CS_VIT_CLIP_DIR}/clip-vitl14-336-depth2-F32.safetensors && ${CS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_vit_weights.py --arch clip-vitl14-336 --seed 7 --depth 2 --dtype BF16 --out ${CS_VIT_CLIP_DIR}/clip-vitl14-336-depth2-BF16.safetensors")
set_tests_properties(fixture_vit_clip PROPERTIES FIXTURES_SETUP vit_clip TIMEOUT 300)
add_test(NAME vit_clip
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vit_ref.py clip ${CS_CLI} ${CS_VIT_CLIP_DIR}
                 ${CS_TESTDATA}/vit-clip-run)
set_tests_properties(vit_clip PROPERTIES FIXTURES_REQUIRED vit_clip TIMEOUT 600)

# The GPU kernels of the ViT ops (kernels/cuda_vit.cu) against their CPU references, then timed
# (bench/kernels/lab_vit_cuda.cu); label gpu, exit 77 without a device.
if(TARGET bench_vit_kernels_cuda)
  add_test(NAME gpu_vit_kernel_lab COMMAND bench_vit_kernels_cuda)
  set_tests_properties(gpu_vit_kernel_lab PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# The Vision Transformers on a GPU (--device cuda): features vs the reference and vs the CPU for
# ViT-S/14, ViT-g/14 (2 blocks) and CLIP (2 layers); label gpu, exit 77 without a device.
add_test(NAME vit_gpu
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vit_ref.py gpu ${CS_CLI} ${CS_VIT_W} ${CS_TESTDATA}/vit-gpu)
set_tests_properties(vit_gpu PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 600
                     FIXTURES_REQUIRED "vit_weights;vit_depth;vit_clip")

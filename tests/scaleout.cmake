# Scale-out: sharded extraction and audits, real Slurm job arrays (docs/cluster.md).
#  scaleout_shard  `features|stats --shard I/N` for N = 1, 2, 3, 5, 17 (> 12 files: empty shards)
#                  merged with `copyscope merge` vs the unsharded run (mean, covariance, rows and
#                  their order to 1e-12 relative); `audit --shard I/N --partials DIR` for N = 1, 3,
#                  7, 40 (> 35 images) then `audit --from-partials DIR`: every FID and value equal
#                  to the unsharded audit to 1e-12 relative; missing/mixed/foreign parts refused
#  scaleout_slurm  a REAL single-node Slurm (slurmctld + slurmd + munge, started under a temporary
#                  directory, stopped by PID at the end): `copyscope slurm submit` of a sharded
#                  audit, report equal to the unsharded run, `slurm status`, and a resubmission
#                  after deleting one part reruns only that shard. Skips (77) when not root or
#                  when the Slurm binaries are absent (tools/install-deps.sh installs them).
#  shard_unit      C: shard specs (I/N, auto, auto/N with Slurm's variables), bad specs, block ranges
#                  equal to floor(i n / N) in 128-bit integers and tiling [0, n)
cs_add_c_test(test_shard ${CMAKE_CURRENT_SOURCE_DIR}/test_shard.c)
add_test(NAME shard_unit COMMAND test_shard)
set_tests_properties(shard_unit PROPERTIES TIMEOUT 60)
set(CS_SCALEOUT_TMP ${CS_TESTDATA}/scaleout)
add_test(NAME scaleout_shard
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/scaleout_test.py shard ${CS_CLI}
                 ${CS_SCALEOUT_TMP}/shard ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(scaleout_shard PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 300)
add_test(NAME scaleout_slurm
         COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/scaleout_test.py slurm ${CS_CLI}
                 ${CS_SCALEOUT_TMP}/slurm ${CS_TESTDATA}/test-weights-seed1.pth)
set_tests_properties(scaleout_slurm PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 600
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

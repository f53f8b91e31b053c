# MPI mode (`--mpi`, host/cli/mpi_mode.c, docs/cluster.md "MPI"); tests/scaleout_mpi.py.
#  scaleout_mpi_cli     without a launcher: a build without MPI answers --mpi with exit 2 naming
#                       COPYSCOPE_MPI; a build with it runs a singleton as one rank (bit-identical
#                       rows) and refuses --mpi with --shard/--from-partials
#  scaleout_mpi         mpirun --allow-run-as-root --oversubscribe -np 2/3: audit reports (also with
#                       --bootstrap) equal to the single process to 1e-12 relative, features rows
#                       bit-identical (an empty rank included), stats merged exactly (also with
#                       --skip-bad: every rank's skipped list on rank 0); GPUs taken by
#                       local rank; a bad image in rank 0's or the last rank's slice, an unknown
#                       option, a missing input: every rank exits 2 and the message appears once
#  scaleout_mpi_srun    a REAL single-node Slurm (tests/slurm_local.py; daemons stopped by PID, pass or
#                       fail): srun --mpi=pmix -n 2 audit equal to the single process; a bad image:
#                       both ranks exit 2, one message
# The last two skip (77) without the MPI build, mpirun/srun, Slurm, or (srun) root.
set(CS_MPI_TMP ${CS_TESTDATA}/scaleout-mpi)
foreach(mode cli mpirun srun)
  if(mode STREQUAL "cli")
    set(name scaleout_mpi_cli)
  elseif(mode STREQUAL "mpirun")
    set(name scaleout_mpi)
  else()
    set(name scaleout_mpi_srun)
  endif()
  add_test(NAME ${name}
           COMMAND ${CS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/scaleout_mpi.py ${mode} ${CS_CLI}
                   ${CS_MPI_TMP}/${mode} ${CS_TESTDATA}/test-weights-seed1.pth ${COPYSCOPE_HAVE_MPI})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED test_weights TIMEOUT 600 SKIP_RETURN_CODE 77)
endforeach()
set_tests_properties(scaleout_mpi scaleout_mpi_srun PROPERTIES RUN_SERIAL TRUE)

/* MPI mode of `copyscope features|stats|audit ... --mpi` (docs/cluster.md, "MPI").
 *
 * Launched as `mpirun -np K copyscope audit ... --mpi` or `srun --mpi=pmix -n K copyscope ...`,
 * rank r of K processes shard r/K of the work (the contiguous slices of copyscope/shard.h, so the
 * split is the one `--shard r/K` would make) and the results meet on rank 0:
 *   features  the rows are gathered (MPI_Gatherv, in rank = shard order); rank 0 writes the file;
 *   stats     per-rank statistics (n, mean, co-moment, float64) are reduced with a custom MPI_Op
 *             doing Chan's exact pairwise merge (cs_stats_merge), non-commutative so that the
 *             result is deterministic; rank 0 writes the file;
 *   audit     the rows are gathered like `--from-partials` reads them (the audit needs rows: the
 *             low-rank FID of small sets and the bootstrap resample images), then rank 0 runs the
 *             audit from them and writes the report. The result equals the single-process run.
 * The other ranks print nothing (their stdout goes to /dev/null, their stderr to a temporary
 * file) and exit 0. A failure on any rank is agreed on by every rank (MPI_Iallreduce of the
 * status): all ranks exit with the failing rank's exit code and rank 0 prints its one-line
 * message once (the lowest failing rank's).
 *
 * Only the CLI links MPI (the library has no MPI dependency): this file's functions are real
 * when the build has COPYSCOPE_HAVE_MPI (CMake option COPYSCOPE_MPI), and otherwise `--mpi` is a
 * usage error (exit 2). Ranks sharing a node split its GPUs by local rank (CUDA_VISIBLE_DEVICES,
 * see cs_mpi_main) and, without --threads, its cores. */
#ifndef CS_MPI_MODE_H
#define CS_MPI_MODE_H

#include "copyscope/audit.h"
#include "copyscope/features.h"

#include "fid_input.h"

typedef int (*cs_mpi_cmd_fn)(int argc, char **argv);

/* getopt_long id of --mpi in every command's option table (above the commands' own ids). */
#define CS_OPT_MPI 5000
#define CS_MPI_LONGOPT {"mpi", no_argument, 0, CS_OPT_MPI}

/* 1 when argv asks for --mpi (any unambiguous abbreviation, before a "--") and the MPI mode is
 * not running yet: the command then returns cs_mpi_main(...). */
int cs_mpi_requested(int argc, char **argv);

/* Initialize MPI, silence the ranks other than 0, run fn(argc, argv) on every rank, agree on the
 * exit code, finalize. Without MPI in the build: a usage error (exit 2). */
int cs_mpi_main(const char *cmd, cs_mpi_cmd_fn fn, int argc, char **argv);

/* 1 inside cs_mpi_main. */
int cs_mpi_active(void);

/* The hooks below are collective (every rank calls them at the same point). They return -1 on
 * rank 0 when the caller goes on with *out (then owned by the caller), else the exit code to
 * return at once: 0 on the other ranks, or the agreed failure on every rank (message printed). */

/* features: extract this rank's slice of files, gather all rows on rank 0 in list order. */
int cs_mpi_features(const char *cmd, const cs_pathlist *files, const cs_features_opts *o, int quiet,
                    cs_features *out);

/* audit: rows of cs_audit_image_list(m) (usable as cs_audit_options.precomputed) on rank 0.
 * out->n == 0 when there is nothing to extract: no image sets, or a pixel-metric utility (it
 * decodes images, no features: rank 0 then runs the audit alone). */
int cs_mpi_audit_rows(const char *cmd, const cs_audit_manifest *m, const cs_audit_options *o, int quiet,
                      cs_features *out);

/* stats: the whole command (image inputs only): slices, exact reduction, rank 0 writes out_path.
 * Returns the exit code. */
int cs_mpi_stats(const char *cmd, int n, char **paths, const char *out_path, const cs_fid_cli_opts *o);

#endif

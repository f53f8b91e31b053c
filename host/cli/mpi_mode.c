/* MPI mode of features/stats/audit (--mpi). See mpi_mode.h and docs/cluster.md. */
#include "mpi_mode.h"

#include "cli.h"

#include <string.h>

int cs_mpi_requested(int argc, char **argv) {
    if (cs_mpi_active()) return 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        size_t l = strlen(a);
        if (l >= 3 && l <= 5 && strncmp(a, "--mpi", l) == 0) return 1; /* getopt_long abbreviations */
    }
    return 0;
}

#ifndef COPYSCOPE_HAVE_MPI

int cs_mpi_main(const char *cmd, cs_mpi_cmd_fn fn, int argc, char **argv) {
    (void)fn, (void)argc, (void)argv;
    return cs_cli_usage_error(cmd, "--mpi: this copyscope was built without MPI (install Open MPI's "
                              "libopenmpi-dev and configure with -DCOPYSCOPE_MPI=ON), or use --shard I/N");
}

int cs_mpi_active(void) { return 0; }

int cs_mpi_features(const char *cmd, const cs_pathlist *files, const cs_features_opts *o, int quiet,
                    cs_features *out) {
    (void)files, (void)o, (void)quiet, (void)out;
    return cs_cli_usage_error(cmd, "--mpi: not built with MPI");
}

int cs_mpi_audit_rows(const char *cmd, const cs_audit_manifest *m, const cs_audit_options *o, int quiet,
                      cs_features *out) {
    (void)m, (void)o, (void)quiet, (void)out;
    return cs_cli_usage_error(cmd, "--mpi: not built with MPI");
}

int cs_mpi_stats(const char *cmd, int n, char **paths, const char *out_path, const cs_fid_cli_opts *o) {
    (void)n, (void)paths, (void)out_path, (void)o;
    return cs_cli_usage_error(cmd, "--mpi: not built with MPI");
}

#else /* COPYSCOPE_HAVE_MPI */

#include "copyscope/protocol.h"
#include "copyscope/metrics.h"
#include "copyscope/shard.h"
#include "copyscope/stats.h"
#include "copyscope/statsfile.h"

#include "core/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CS_MPI_MSG 1024  /* bytes of a forwarded error message */
#define CS_MPI_STR_UNIT 64 /* strings travel in blocks of this many bytes (int counts reach 128 GiB) */

static struct {
    int active;
    int rank, size;
    int local_rank, local_size; /* among the ranks of this node (MPI_COMM_TYPE_SHARED) */
    int nodes;
    MPI_Comm comm;              /* a duplicate of MPI_COMM_WORLD */
    int agreed, agreed_rc;      /* a failure was agreed on: no further collectives */
    FILE *captured;             /* ranks > 0: their stderr */
    char gpu[96];               /* CUDA_VISIBLE_DEVICES this rank set ("" = untouched; GPU UUIDs are long) */
    char host[64];
} g;

int cs_mpi_active(void) { return g.active; }

/* Wait for a nonblocking operation without spinning a core: the ranks that wait (for the slowest
 * extraction, or for rank 0's FIDs and bootstrap) must leave the CPU to the ranks that work. */
static void cs_mpi_wait(MPI_Request *req) {
    int done = 0;
    for (unsigned spins = 0;; spins++) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        if (spins < 200) continue;
        struct timespec ts = {0, spins < 2000 ? 200000 : 2000000}; /* 0.2 ms, then 2 ms */
        nanosleep(&ts, NULL);
    }
}

/* Last line of this rank's captured stderr that starts with "copyscope" (its error message). */
static void cs_mpi_captured_message(char *buf, size_t cap) {
    buf[0] = 0;
    if (!g.captured) return;
    fflush(stderr);
    int fd = fileno(g.captured);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size <= 0) return;
    char tail[4096];
    off_t off = sb.st_size > (off_t)sizeof tail - 1 ? sb.st_size - (off_t)(sizeof tail - 1) : 0;
    ssize_t len = pread(fd, tail, (size_t)(sb.st_size - off), off);
    if (len <= 0) return;
    tail[len] = 0;
    char *best = NULL;
    for (char *line = tail; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (strncmp(line, "copyscope", 9) == 0) best = line;
        line = nl ? nl + 1 : NULL;
    }
    if (best) snprintf(buf, cap, "%.*s", (int)(cap - 1), best);
}

/* Every rank passes its exit code (0 = fine) and, when failing, its message (NULL: already printed
 * on this rank's stderr). Returns 0 when every rank is fine, else the exit code of the lowest
 * failing rank, whose message rank 0 prints once. After a failure no further collective runs. */
static int cs_mpi_agree(int rc, const char *msg) {
    if (g.agreed) return g.agreed_rc;
    int in[2] = {rc != 0 ? 0 : 1, g.rank}, out[2];
    MPI_Request req;
    MPI_Iallreduce(in, out, 1, MPI_2INT, MPI_MINLOC, g.comm, &req);
    cs_mpi_wait(&req);
    if (out[0] == 1) return 0;
    const int who = out[1];
    struct {
        int rc;
        char msg[CS_MPI_MSG];
    } b;
    memset(&b, 0, sizeof b);
    if (g.rank == who) {
        b.rc = rc;
        if (msg) snprintf(b.msg, sizeof b.msg, "%s", msg);
        else if (g.rank != 0) cs_mpi_captured_message(b.msg, sizeof b.msg);
    }
    MPI_Ibcast(&b, (int)sizeof b, MPI_BYTE, who, g.comm, &req);
    cs_mpi_wait(&req);
    if (g.rank == 0 && b.msg[0] && (who != 0 || msg)) {
        if (who != 0) fprintf(stderr, "%s (MPI rank %d of %d)\n", b.msg, who, g.size);
        else fprintf(stderr, "%s\n", b.msg);
    }
    g.agreed = 1;
    g.agreed_rc = b.rc > 0 ? b.rc : CS_EXIT_RUNTIME;
    return g.agreed_rc;
}

static int cs_mpi_agree_status(const char *cmd, cs_status st) {
    if (st == CS_OK) return cs_mpi_agree(0, NULL);
    char msg[CS_MPI_MSG];
    const char *e = cs_last_error();
    snprintf(msg, sizeof msg, "copyscope %s: %s", cmd, e[0] ? e : cs_status_name(st));
    return cs_mpi_agree(cs_status_exit_code(st), msg);
}

/* Several ranks on a node with several GPUs: rank takes GPU local_rank mod count. The list is
 * CUDA_VISIBLE_DEVICES when it names several devices (e.g. Slurm's --gres=gpu:4 for the node),
 * else the node's NVIDIA GPUs; one visible device (Slurm's --gpus-per-task=1) is left alone. Set
 * before anything touches CUDA (MPI does not: Debian's Open MPI is not CUDA-aware). */
static void cs_mpi_pick_gpu(void) {
    g.gpu[0] = 0;
    if (g.local_size < 2) return;
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    char pick[sizeof g.gpu];
    if (cvd) {
        int count = 1;
        for (const char *p = cvd; *p; p++) count += *p == ',';
        if (!cvd[0] || count < 2) return;
        int want = g.local_rank % count;
        const char *p = cvd;
        for (int i = 0; i < want; i++) p = strchr(p, ',') + 1;
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof pick) return;
        memcpy(pick, p, len);
        pick[len] = 0;
    } else {
        int count = 0;
        DIR *d = opendir("/proc/driver/nvidia/gpus");
        if (!d) return;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') count++;
        closedir(d);
        if (count < 2) return;
        snprintf(pick, sizeof pick, "%d", g.local_rank % count);
    }
    setenv("CUDA_VISIBLE_DEVICES", pick, 1);
    snprintf(g.gpu, sizeof g.gpu, "%s", pick);
}

/* The command line names the device itself (--device cpu, cuda:N or cuda:N,M; -d is --device only
 * in audit): then the ranks keep the GPUs as they are. */
static int cs_mpi_device_given(const char *cmd, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--") == 0) break;
        if ((strcmp(a, "--device") == 0 || (strcmp(a, "-d") == 0 && strcmp(cmd, "audit") == 0)) && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(a, "--device=", 9) == 0)
            v = a + 9;
        else if (strncmp(a, "-d", 2) == 0 && a[2] && a[1] != '-' && strcmp(cmd, "audit") == 0)
            v = a + 2;
        if (v && (strncmp(v, "cuda:", 5) == 0 || strcmp(v, "cpu") == 0)) return 1;
    }
    return 0;
}

/* --threads not given: the launcher's binding (mpirun binds each of 2 ranks to a core), else this
 * node's cores shared among its ranks. */
static int cs_mpi_threads(int threads) {
    if (threads > 0) return threads;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    long aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : online;
    if (aff >= 1 && aff < online) return (int)aff;
    long t = online / (g.local_size > 0 ? g.local_size : 1);
    return t < 1 ? 1 : (int)t;
}

int cs_mpi_main(const char *cmd, cs_mpi_cmd_fn fn, int argc, char **argv) {
    int provided = 0, inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided); /* MPI from the main thread only */
    memset(&g, 0, sizeof g);
    MPI_Comm_dup(MPI_COMM_WORLD, &g.comm);
    MPI_Comm_rank(g.comm, &g.rank);
    MPI_Comm_size(g.comm, &g.size);
    MPI_Comm local;
    MPI_Comm_split_type(g.comm, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &g.local_rank);
    MPI_Comm_size(local, &g.local_size);
    MPI_Comm_free(&local);
    int first = g.local_rank == 0;
    MPI_Allreduce(&first, &g.nodes, 1, MPI_INT, MPI_SUM, g.comm);
    if (gethostname(g.host, sizeof g.host - 1) != 0) snprintf(g.host, sizeof g.host, "?");
    if (!cs_mpi_device_given(cmd, argc, argv)) cs_mpi_pick_gpu();
    if (g.rank != 0) { /* silent: stdout to /dev/null, stderr kept for the error message */
        fflush(stdout);
        fflush(stderr);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            close(null);
        }
        if (!getenv("COPYSCOPE_MPI_ALL_STDERR")) {
            g.captured = tmpfile();
            if (g.captured) dup2(fileno(g.captured), 2);
        }
    }
    g.active = 1;
    int rc = fn(argc, argv);
    rc = cs_mpi_agree(rc, NULL);
    fflush(stdout);
    fflush(stderr);
    g.active = 0;
    MPI_Comm_free(&g.comm);
    MPI_Finalize();
    if (g.captured) fclose(g.captured);
    return rc;
}

/* ---- gathering features on rank 0 ------------------------------------------------------------ */

typedef struct cs_mpi_meta {
    int64_t n, n_skipped, n_from_cache, n_computed, str_bytes;
    int32_t dims, local_rank;
    double seconds;
    char weights_sha256[65];
    char gpu[96];
    char host[64];
} cs_mpi_meta;

/* This rank's strings: per row "path\0sha\0", per skipped file "path\0why\0", padded. */
static cs_status cs_mpi_pack_strings(const cs_features *f, char **buf, size_t *bytes) {
    size_t len = 0;
    for (size_t i = 0; i < f->n; i++) len += strlen(f->paths.paths[i]) + 1 + (f->sha256 ? strlen(f->sha256[i]) : 0) + 1;
    for (size_t i = 0; i < f->skipped.n; i++) len += strlen(f->skipped.paths[i]) + 1 + strlen(f->skipped_why[i]) + 1;
    size_t padded = (len + CS_MPI_STR_UNIT - 1) / CS_MPI_STR_UNIT * CS_MPI_STR_UNIT;
    char *b = cs_calloc(padded ? padded : CS_MPI_STR_UNIT, 1, "MPI strings");
    if (!b) return CS_E_NOMEM;
    char *p = b;
    for (size_t i = 0; i < f->n; i++) {
        p = stpcpy(p, f->paths.paths[i]) + 1;
        p = stpcpy(p, f->sha256 ? f->sha256[i] : "") + 1;
    }
    for (size_t i = 0; i < f->skipped.n; i++) {
        p = stpcpy(p, f->skipped.paths[i]) + 1;
        p = stpcpy(p, f->skipped_why[i]) + 1;
    }
    *buf = b;
    *bytes = len;
    return CS_OK;
}

/* One string of a packed block, advancing *p; NULL when the block ends early. */
static const char *cs_mpi_next(const char **p, const char *end) {
    const char *s = *p;
    const char *z = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
    if (!z) return NULL;
    *p = z + 1;
    return s;
}

/* Collective: every rank's features (its slice, list order within) concatenated in rank order on
 * rank 0 (*all; untouched elsewhere). Packing happens before the status agreement, so every rank
 * either takes part in the transfers or the agreement stops them all. metas (size) on rank 0. */
static int cs_mpi_gather(const char *cmd, cs_status st, const cs_features *f, int dims, cs_features *all,
                         cs_mpi_meta **metas_out) {
    char *sbuf = NULL;
    size_t sbytes = 0;
    if (st == CS_OK) st = cs_mpi_pack_strings(f, &sbuf, &sbytes);
    if (st == CS_OK && (f->dims != dims || sbytes / CS_MPI_STR_UNIT >= (size_t)INT_MAX || f->n >= (size_t)INT_MAX))
        st = CS_FAIL(CS_E_INTERNAL, "MPI gather: %zu rows of %d dims (expected %d)", f->n, f->dims, dims);
    int rc = cs_mpi_agree_status(cmd, st);
    if (rc) {
        free(sbuf);
        return rc;
    }
    cs_mpi_meta me;
    memset(&me, 0, sizeof me);
    me.n = (int64_t)f->n;
    me.n_skipped = (int64_t)f->skipped.n;
    me.n_from_cache = (int64_t)f->n_from_cache;
    me.n_computed = (int64_t)f->n_computed;
    me.str_bytes = (int64_t)sbytes;
    me.dims = dims;
    me.local_rank = g.local_rank;
    me.seconds = f->seconds;
    snprintf(me.weights_sha256, sizeof me.weights_sha256, "%s", f->weights_sha256);
    snprintf(me.gpu, sizeof me.gpu, "%s", g.gpu);
    snprintf(me.host, sizeof me.host, "%s", g.host);
    const int root = g.rank == 0;
    cs_mpi_meta *metas = NULL;
    int *rcount = NULL, *rdisp = NULL, *scount = NULL, *sdisp = NULL;
    float *rows = NULL;
    char *strs = NULL;
    /* rank 0 allocates; a failure there is its own (the others finish the transfers into nothing:
     * rank 0 then receives with zero counts) */
    cs_status rst = CS_OK;
    int64_t total_rows = 0, total_units = 0;
    if (root) {
        metas = cs_calloc((size_t)g.size, sizeof *metas, "MPI metadata");
        rcount = cs_calloc((size_t)g.size * 4, sizeof *rcount, "MPI counts");
        if (!metas || !rcount) { /* a few bytes per rank: nothing sensible is left to do */
            fprintf(stderr, "copyscope %s: out of memory (MPI metadata)\n", cmd);
            MPI_Abort(g.comm, CS_EXIT_RUNTIME);
        }
    }
    MPI_Gather(&me, (int)sizeof me, MPI_BYTE, metas, (int)sizeof me, MPI_BYTE, 0, g.comm);
    if (root && rst == CS_OK) {
        rdisp = rcount + g.size;
        scount = rcount + 2 * g.size;
        sdisp = rcount + 3 * g.size;
        for (int r = 0; r < g.size; r++) {
            int64_t units = (metas[r].str_bytes + CS_MPI_STR_UNIT - 1) / CS_MPI_STR_UNIT;
            if (total_rows + metas[r].n > INT_MAX || total_units + units > INT_MAX) {
                rst = CS_FAIL(CS_E_UNSUPPORTED, "--mpi: too many images for one gather (%lld rows); "
                              "use --shard", (long long)(total_rows + metas[r].n));
                break;
            }
            rcount[r] = (int)metas[r].n;
            rdisp[r] = (int)total_rows;
            scount[r] = (int)units;
            sdisp[r] = (int)total_units;
            total_rows += metas[r].n;
            total_units += units;
        }
        size_t nb = 0;
        if (rst == CS_OK && !cs_mul_size((size_t)total_rows, (size_t)dims * sizeof(float), &nb))
            rst = CS_FAIL(CS_E_NOMEM, "--mpi: %lld rows do not fit in memory", (long long)total_rows);
        if (rst == CS_OK) {
            rows = cs_malloc(nb ? nb : 1, "features"); /* (total_rows, dims) float32 */
            strs = cs_malloc(total_units ? (size_t)total_units * CS_MPI_STR_UNIT : 1, "MPI strings");
            if (!rows || !strs) rst = CS_E_NOMEM;
        }
        if (rst != CS_OK) memset(rcount, 0, (size_t)g.size * 4 * sizeof *rcount); /* receive nothing */
    }
    /* rank 0 cannot refuse a transfer the others start; with zero receive counts it needs them
     * to send nothing either: tell them */
    int go = rst == CS_OK;
    MPI_Bcast(&go, 1, MPI_INT, 0, g.comm);
    if (go) {
        MPI_Datatype row, unit;
        MPI_Type_contiguous(dims, MPI_FLOAT, &row);
        MPI_Type_commit(&row);
        MPI_Type_contiguous(CS_MPI_STR_UNIT, MPI_BYTE, &unit);
        MPI_Type_commit(&unit);
        MPI_Gatherv(f->data, (int)f->n, row, rows, rcount, rdisp, row, 0, g.comm);
        MPI_Gatherv(sbuf, (int)((sbytes + CS_MPI_STR_UNIT - 1) / CS_MPI_STR_UNIT), unit, strs, scount, sdisp,
                    unit, 0, g.comm);
        MPI_Type_free(&row);
        MPI_Type_free(&unit);
    }
    free(sbuf);
    if (!root) return 0;
    /* rank 0: assemble */
    memset(all, 0, sizeof *all);
    all->dims = dims;
    if (rst == CS_OK) {
        all->data = rows;
        rows = NULL;
        all->n = (size_t)total_rows;
        all->sha256 = cs_calloc(total_rows ? (size_t)total_rows : 1, sizeof *all->sha256, "digests");
        if (!all->sha256) rst = CS_E_NOMEM;
    }
    for (int r = 0; r < g.size && rst == CS_OK; r++) {
        const cs_mpi_meta *mr = &metas[r];
        const char *p = strs + (size_t)sdisp[r] * CS_MPI_STR_UNIT, *end = p + mr->str_bytes;
        for (int64_t i = 0; i < mr->n && rst == CS_OK; i++) {
            const char *path = cs_mpi_next(&p, end), *sha = cs_mpi_next(&p, end);
            if (!path || !sha) {
                rst = CS_FAIL(CS_E_INTERNAL, "--mpi: rank %d sent truncated paths", r);
                break;
            }
            snprintf(all->sha256[all->paths.n], sizeof all->sha256[0], "%s", sha);
            rst = cs_pathlist_push(&all->paths, path);
        }
        for (int64_t i = 0; i < mr->n_skipped && rst == CS_OK; i++) {
            const char *path = cs_mpi_next(&p, end), *why = cs_mpi_next(&p, end);
            if (!path || !why) {
                rst = CS_FAIL(CS_E_INTERNAL, "--mpi: rank %d sent truncated paths", r);
                break;
            }
            char **w = realloc(all->skipped_why, (all->skipped.n + 1) * sizeof *w);
            if (!w) {
                rst = CS_FAIL(CS_E_NOMEM, "out of memory (skipped list)");
                break;
            }
            all->skipped_why = w;
            w[all->skipped.n] = strdup(why);
            if (!w[all->skipped.n]) {
                rst = CS_FAIL(CS_E_NOMEM, "out of memory (skipped list)");
                break;
            }
            rst = cs_pathlist_push(&all->skipped, path);
            if (rst != CS_OK) free(w[all->skipped.n]);
        }
        if (rst != CS_OK) break;
        if (mr->dims != dims) {
            rst = CS_FAIL(CS_E_MISMATCH, "--mpi: rank %d extracted %d-dimensional features, rank 0 %d", r,
                          mr->dims, dims);
            break;
        }
        if (mr->n > 0 && mr->weights_sha256[0]) {
            if (!all->weights_sha256[0])
                snprintf(all->weights_sha256, sizeof all->weights_sha256, "%s", mr->weights_sha256);
            else if (strcmp(all->weights_sha256, mr->weights_sha256) != 0)
                rst = CS_FAIL(CS_E_MISMATCH, "--mpi: rank %d read other weights (SHA-256 %.12s..., rank 0's "
                              "slice %.12s...): give every rank the same --weights", r, mr->weights_sha256,
                              all->weights_sha256);
        }
        all->n_from_cache += (size_t)mr->n_from_cache;
        all->n_computed += (size_t)mr->n_computed;
        if (mr->seconds > all->seconds) all->seconds = mr->seconds;
    }
    free(rows);
    free(strs);
    free(rcount);
    if (rst != CS_OK) {
        free(metas);
        cs_features_free(all);
        return cs_cli_fail(cmd, rst); /* rank 0 only: the final agreement tells the others */
    }
    if (metas_out) *metas_out = metas;
    else free(metas);
    return -1;
}

/* Bounded append: *len never passes cap - 1 (output cut there). */
static void cs_mpi_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void cs_mpi_append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len = *len + (size_t)k < cap - 1 ? *len + (size_t)k : cap - 1;
}

/* "MPI: 4 ranks on 2 nodes; images per rank: 9 9 8 9; CUDA_VISIBLE_DEVICES by rank: 0:0 1:1 2:0 3:1"
 * (lists cut with "..." after about 1.5 kB). */
static void cs_mpi_print_layout(const char *cmd, const cs_mpi_meta *metas, const char *what) {
    char line[2048];
    const size_t cap = sizeof line, room = 1536;
    size_t len = 0;
    cs_mpi_append(line, cap, &len, "copyscope %s: MPI: %d rank%s on %d node%s; %s per rank:", cmd, g.size,
                  g.size == 1 ? "" : "s", g.nodes, g.nodes == 1 ? "" : "s", what);
    int r = 0;
    for (; r < g.size && len < room / 2; r++) cs_mpi_append(line, cap, &len, " %lld", (long long)metas[r].n);
    if (r < g.size) cs_mpi_append(line, cap, &len, " ...");
    int gpus = 0;
    for (r = 0; r < g.size; r++) gpus |= metas[r].gpu[0] != 0;
    if (gpus) {
        cs_mpi_append(line, cap, &len, "; CUDA_VISIBLE_DEVICES by rank:");
        for (r = 0; r < g.size && len < room; r++)
            cs_mpi_append(line, cap, &len, " %d:%s", r, metas[r].gpu[0] ? metas[r].gpu : "-");
        if (r < g.size) cs_mpi_append(line, cap, &len, " ...");
    }
    fprintf(stderr, "%s\n", line);
}

/* Extract this rank's slice (shard rank/size) of files. */
static cs_status cs_mpi_extract_slice(const cs_pathlist *files, const cs_features_opts *o, int exact_rows,
                                      cs_features *f) {
    cs_features_init_empty(f, o->dims);
    cs_shard s = {g.rank, g.size};
    cs_pathlist mine;
    CS_TRY(cs_pathlist_shard(files, s, &mine));
    cs_status st = CS_OK;
    if (mine.n > 0) {
        cs_features_opts fo = *o;
        fo.threads = cs_mpi_threads(o->threads);
        if (g.rank != 0) fo.progress = 0;
        if (exact_rows) fo.skip_bad = 0;
        st = cs_features_extract(&mine, &fo, f);
        if (st != CS_OK) cs_features_init_empty(f, o->dims);
        if (st == CS_OK && exact_rows && f->n != mine.n)
            st = CS_FAIL(CS_E_INTERNAL, "extraction returned %zu rows for %zu images", f->n, mine.n);
    }
    cs_pathlist_free(&mine);
    return st;
}

int cs_mpi_features(const char *cmd, const cs_pathlist *files, const cs_features_opts *o, int quiet,
                    cs_features *out) {
    memset(out, 0, sizeof *out);
    cs_features f;
    cs_status st = cs_mpi_extract_slice(files, o, 0, &f);
    cs_mpi_meta *metas = NULL;
    int rc = cs_mpi_gather(cmd, st, &f, o->dims, out, &metas);
    cs_features_free(&f);
    if (rc == -1) out->protocol = o->protocol; /* every rank ran the same command line */
    if (rc == -1 && !quiet) cs_mpi_print_layout(cmd, metas, "images");
    free(metas);
    return rc;
}

int cs_mpi_audit_rows(const char *cmd, const cs_audit_manifest *m, const cs_audit_options *ao, int quiet,
                      cs_features *out) {
    const cs_features_opts *o = &ao->features;
    memset(out, 0, sizeof *out);
    cs_pathlist list = {0};
    cs_features f;
    cs_features_init_empty(&f, o->dims);
    cs_metric metric;
    const int pixel = cs_metric_name_valid(ao->utility.metric, &metric) && cs_metric_is_pixel(metric);
    cs_status st = pixel ? CS_OK : cs_audit_image_list(m, &list);
    if (st == CS_OK && list.n == 0) { /* only features files, or a pixel metric: nothing to extract */
        cs_pathlist_free(&list);
        int rc = cs_mpi_agree_status(cmd, st);
        return rc ? rc : g.rank == 0 ? -1 : 0;
    }
    if (st == CS_OK) st = cs_mpi_extract_slice(&list, o, 1, &f);
    cs_mpi_meta *metas = NULL;
    int rc = cs_mpi_gather(cmd, st, &f, o->dims, out, &metas);
    cs_features_free(&f);
    if (rc == -1) { /* rank 0: the rows are the manifest's images in order (as --from-partials checks) */
        out->protocol = o->protocol;
        if (out->n != list.n) st = CS_FAIL(CS_E_INTERNAL, "--mpi: %zu rows for %zu images", out->n, list.n);
        for (size_t i = 0; i < list.n && st == CS_OK; i++)
            if (strcmp(out->paths.paths[i], list.paths[i]) != 0)
                st = CS_FAIL(CS_E_INTERNAL, "--mpi: row %zu is %s, expected %s", i, out->paths.paths[i], list.paths[i]);
        if (st != CS_OK) {
            cs_features_free(out);
            rc = cs_cli_fail(cmd, st);
        } else if (!quiet) {
            cs_mpi_print_layout(cmd, metas, "images");
        }
    }
    free(metas);
    cs_pathlist_free(&list);
    return rc;
}

/* ---- stats: an exact reduction ----------------------------------------------------------------- */

/* One rank's statistics in a flat float64 buffer: [n, d, mean (d), co-moment (d, d)]. */
static int cs_mpi_op_d;        /* d of the reduction in progress */
static int cs_mpi_op_failed;   /* a merge failed (out of memory) on this rank */

static void cs_mpi_stats_wrap(double *buf, int d, cs_stats *s) {
    memset(s, 0, sizeof *s);
    s->n = (int64_t)buf[0];
    s->d = d;
    s->mean = buf + 2;
    s->m2 = buf + 2 + d;
}

/* inout <- in (+) inout with Chan's pairwise update (cs_stats_merge: the merge of `copyscope
 * merge`). Registered non-commutative: MPI combines the ranks in rank order. */
static void cs_mpi_stats_op(void *in, void *inout, int *len, MPI_Datatype *type) {
    (void)type;
    const int d = cs_mpi_op_d;
    const size_t stride = 2 + (size_t)d + (size_t)d * d;
    for (int e = 0; e < *len; e++) {
        double *a = (double *)inout + (size_t)e * stride, *b = (double *)in + (size_t)e * stride;
        cs_stats sa, sb;
        cs_mpi_stats_wrap(a, d, &sa);
        cs_mpi_stats_wrap(b, d, &sb);
        if (cs_stats_merge(&sa, &sb) != CS_OK) cs_mpi_op_failed = 1;
        a[0] = (double)sa.n;
    }
}

int cs_mpi_stats(const char *cmd, int n, char **paths, const char *out_path, const cs_fid_cli_opts *o) {
    for (int i = 0; i < n; i++) {
        struct stat sb;
        cs_file_kind kind;
        if (stat(paths[i], &sb) == 0 && !S_ISDIR(sb.st_mode) && cs_file_kind_detect(paths[i], &kind) == CS_OK &&
            (kind == CS_FILE_NPZ || kind == CS_FILE_H5_STATS || kind == CS_FILE_H5_FEATURES))
            return cs_cli_usage_error(cmd, "--mpi: %s is a statistics/features file; --mpi splits image "
                                      "inputs (merge files with 'copyscope merge')", paths[i]);
    }
    const int d = o->feat.dims;
    cs_pathlist all = {0};
    cs_features f;
    cs_features_init_empty(&f, d);
    cs_stats *s = NULL;
    cs_status st = cs_pathlist_expand_listing((const char *const *)paths, (size_t)n, cs_protocol_listing((cs_protocol)o->feat.protocol), &all);
    if (st == CS_OK) st = cs_mpi_extract_slice(&all, &o->feat, 0, &f);
    cs_pathlist_free(&all);
    if (st == CS_OK) st = cs_features_to_stats(&f, &s); /* f's --skip-bad list is printed at the end */
    if (st == CS_OK && s->d != d) st = CS_FAIL(CS_E_INTERNAL, "--mpi: %d-dimensional statistics, expected %d", s->d, d);
    /* the flat buffer, before agreeing, so that an allocation failure stops every rank */
    const size_t stride = 2 + (size_t)d + (size_t)d * d;
    double *buf = NULL, *res = NULL;
    if (st == CS_OK) {
        buf = cs_malloc(stride * sizeof(double), "statistics buffer");
        if (g.rank == 0) res = cs_malloc(stride * sizeof(double), "statistics buffer");
        if (!buf || (g.rank == 0 && !res)) st = CS_E_NOMEM;
    }
    int rc = cs_mpi_agree_status(cmd, st);
    if (rc) {
        free(buf);
        free(res);
        cs_stats_free(s);
        cs_features_free(&f);
        return rc;
    }
    buf[0] = (double)s->n;
    buf[1] = d;
    memcpy(buf + 2, s->mean, (size_t)d * sizeof(double));
    memcpy(buf + 2 + d, s->m2, (size_t)d * d * sizeof(double));
    /* extractor identities: rank 0 checks that every non-empty slice has the same */
    struct {
        int64_t n;
        cs_extractor_id id;
    } me = {s->n, s->id}, *ids = NULL;
    if (g.rank == 0) ids = cs_calloc((size_t)g.size, sizeof *ids, "identities");
    int gather_ok = g.rank != 0 || ids != NULL;
    MPI_Bcast(&gather_ok, 1, MPI_INT, 0, g.comm);
    if (gather_ok) MPI_Gather(&me, (int)sizeof me, MPI_BYTE, ids, (int)sizeof me, MPI_BYTE, 0, g.comm);
    /* the exact reduction */
    MPI_Datatype type;
    MPI_Op op;
    MPI_Type_contiguous((int)stride, MPI_DOUBLE, &type);
    MPI_Type_commit(&type);
    MPI_Op_create(cs_mpi_stats_op, 0 /* not commutative: rank order */, &op);
    cs_mpi_op_d = d;
    cs_mpi_op_failed = 0;
    MPI_Reduce(buf, res, 1, type, op, 0, g.comm);
    MPI_Op_free(&op);
    MPI_Type_free(&type);
    free(buf);
    rc = cs_mpi_agree_status(cmd, cs_mpi_op_failed ? CS_FAIL(CS_E_NOMEM, "out of memory merging statistics")
                                                   : CS_OK);
    /* every rank's --skip-bad list to rank 0 (the last collective: the other ranks return) */
    cs_features sk, skall;
    cs_features_init_empty(&sk, d);
    sk.skipped = f.skipped;
    sk.skipped_why = f.skipped_why;
    if (rc == 0) rc = cs_mpi_gather(cmd, CS_OK, &sk, d, &skall, NULL);
    cs_features_free(&f);
    if (rc != -1) {
        free(res);
        free(ids);
        cs_stats_free(s);
        return rc;
    }
    for (size_t i = 0; i < skall.skipped.n; i++) fprintf(stderr, "copyscope %s: skipped %s\n", cmd, skall.skipped_why[i]);
    cs_features_free(&skall);
    /* rank 0: the merged statistics with the common identity */
    st = gather_ok ? CS_OK : CS_E_NOMEM;
    cs_extractor_id id = s->id;
    int have = 0;
    for (int r = 0; r < g.size && st == CS_OK; r++) {
        if (ids[r].n == 0) continue;
        if (!have) id = ids[r].id, have = 1;
        else if (!cs_extractor_id_equal(&id, &ids[r].id))
            st = CS_FAIL(CS_E_MISMATCH, "--mpi: rank %d extracted with other weights (SHA-256 %.12s..., "
                         "others %.12s...): give every rank the same --weights", r, ids[r].id.weights_sha256,
                         id.weights_sha256);
    }
    if (st == CS_OK) {
        s->n = (int64_t)res[0];
        s->id = id;
        memcpy(s->mean, res + 2, (size_t)d * sizeof(double));
        memcpy(s->m2, res + 2 + d, (size_t)d * d * sizeof(double));
    }
    if (st == CS_OK) st = cs_stats_file_write(out_path, s);
    if (st == CS_OK && !o->feat.quiet)
        fprintf(stderr, "copyscope %s: MPI: %d rank%s on %d node%s; %lld images -> %s\n", cmd, g.size,
                g.size == 1 ? "" : "s", g.nodes, g.nodes == 1 ? "" : "s", (long long)s->n, out_path);
    free(res);
    free(ids);
    cs_stats_free(s);
    return st == CS_OK ? CS_EXIT_OK : cs_cli_fail(cmd, st);
}

#endif /* COPYSCOPE_HAVE_MPI */

/* copyscope slurm: run a sharded audit as a Slurm job array plus a dependent merge-and-report job;
 * report and resume it. See docs/cluster.md. */
#include "cli.h"

#include "copyscope/shard.h"
#include "io/json_strict.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CS_SLURM_MAX_EXTRA 64
#define CS_SLURM_MAX_AUDIT_OPTS 64

static void usage(FILE *out) {
    fprintf(out,
            "Usage: copyscope slurm submit MANIFEST.json --shards N [options] [-- SBATCH-OPTION...]\n"
            "       copyscope slurm status DIR\n\n"
            "submit writes DIR/shards.sbatch (a job array, one task per shard, each running\n"
            "'copyscope audit MANIFEST --shard auto/N --partials DIR/partials') and DIR/merge.sbatch\n"
            "('copyscope audit MANIFEST --from-partials DIR/partials --out DIR/report'), submits the\n"
            "array with 'sbatch --parsable' and the merge job with --dependency=afterok:<array id>,\n"
            "and prints both job ids (also saved in DIR/job.json). Shards whose part file already\n"
            "exists are not resubmitted: after a preemption or failure, run the same command again\n"
            "and only the missing shards run (then the merge). Task logs: DIR/logs/shard-I.out.\n\n"
            "status reads DIR/job.json and DIR/partials and lists every missing shard with its index,\n"
            "state (queued/running from squeue, failed when its log exists, not started) and log path.\n"
            "Exit 0 when all parts and the report exist, 1 when something is missing.\n\n"
            "Options (submit):\n"
            "  -n, --shards N         number of shards (array tasks), required\n"
            "  -o, --out DIR          job directory (default ./copyscope-slurm; keep it on shared storage)\n"
            "  -p, --partition P      sbatch --partition\n"
            "      --gpus-per-task G  sbatch --gpus-per-task for the shard tasks\n"
            "  -t, --time T           sbatch --time for each task (e.g. 01:00:00)\n"
            "      --cpus-per-task C  sbatch --cpus-per-task for the shard tasks\n"
            "      --dims D           passed to copyscope audit\n"
            "  -w, --weights FILE     passed to copyscope audit (use an absolute path on shared storage)\n"
            "      --cache-dir DIR    feature cache for the shards (shared storage recommended)\n"
            "  -a, --audit-opt OPT    one more option word for both 'copyscope audit' runs (repeatable),\n"
            "                         e.g. -a --bootstrap -a 1000\n"
            "      --dry-run          write the scripts and print the sbatch commands, submit nothing\n"
            "  -h, --help             this help\n"
            "Words after '--' are passed to both sbatch calls (e.g. -- --account=proj --qos=long).\n"
            "sbatch is $COPYSCOPE_SBATCH if set, else 'sbatch' on PATH; squeue likewise\n"
            "($COPYSCOPE_SQUEUE).\n\n" CS_HELP_EXIT_CODES);
}

/* Single-quote s for a POSIX shell. */
static void shq(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* Run argv, capture stdout (up to cap - 1 bytes). Returns the exit status, -1 if it could not run. */
static int run_capture(char *const argv[], char *out, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "copyscope slurm: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t k;
    char sink[256];
    while ((k = read(fd[0], len + 1 < cap ? out + len : sink, len + 1 < cap ? cap - 1 - len : sizeof sink)) > 0)
        if (len + 1 < cap) len += (size_t)k;
    close(fd[0]);
    out[len] = 0;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int mkdir_p(const char *dir) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

/* Absolute form of an existing path (realpath) or of a path to create (cwd + path). */
static int abs_path(const char *p, char *out) {
    if (realpath(p, out)) return 0;
    if (p[0] == '/') {
        snprintf(out, PATH_MAX, "%s", p);
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    int len = snprintf(out, PATH_MAX, "%s/%s", cwd, p);
    return len > 0 && len < PATH_MAX ? 0 : -1;
}

typedef struct {
    const char *manifest, *dir, *weights, *cache_dir, *partition, *gpus, *time, *cpus;
    int dims;
    const char *audit_opts[CS_SLURM_MAX_AUDIT_OPTS];
    int n_audit_opts;
} slurm_job;

/* The copyscope audit options common to both jobs. */
static void write_audit_opts(FILE *f, const slurm_job *j) {
    if (j->dims) fprintf(f, " --dims %d", j->dims);
    if (j->weights) fputs(" --weights ", f), shq(f, j->weights);
    for (int i = 0; i < j->n_audit_opts; i++) fputc(' ', f), shq(f, j->audit_opts[i]);
}

static int write_scripts(const char *cmd, const slurm_job *j, const char *exe, long n) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/shards.sbatch", j->dir);
    FILE *f = fopen(path, "w");
    if (!f) return cs_cli_usage_error(cmd, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "#!/bin/bash\n# Written by copyscope slurm submit: one array task per shard (0..%ld).\n", n - 1);
    fprintf(f, "#SBATCH --job-name=copyscope-shards\n#SBATCH --ntasks=1\n");
    fprintf(f, "#SBATCH --output=%s/logs/shard-%%a.out\n", j->dir);
    if (j->partition) fprintf(f, "#SBATCH --partition=%s\n", j->partition);
    if (j->gpus) fprintf(f, "#SBATCH --gpus-per-task=%s\n", j->gpus);
    if (j->cpus) fprintf(f, "#SBATCH --cpus-per-task=%s\n", j->cpus);
    if (j->time) fprintf(f, "#SBATCH --time=%s\n", j->time);
    fprintf(f, "set -eu\necho \"copyscope shard ${SLURM_ARRAY_TASK_ID} of %ld on $(hostname)\"\nexec ", n);
    shq(f, exe);
    fputs(" audit ", f);
    shq(f, j->manifest);
    fprintf(f, " --shard auto/%ld --partials ", n);
    fprintf(f, "'%s/partials'", j->dir);
    if (j->cache_dir) fputs(" --cache-dir ", f), shq(f, j->cache_dir);
    write_audit_opts(f, j);
    fputs("\n", f);
    if (fclose(f) != 0) return cs_cli_usage_error(cmd, "%s: write failed", path);
    snprintf(path, sizeof path, "%s/merge.sbatch", j->dir);
    f = fopen(path, "w");
    if (!f) return cs_cli_usage_error(cmd, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "#!/bin/bash\n# Written by copyscope slurm submit: merge the %ld parts and write the report.\n", n);
    fprintf(f, "#SBATCH --job-name=copyscope-merge\n#SBATCH --ntasks=1\n");
    fprintf(f, "#SBATCH --output=%s/logs/merge.out\n", j->dir);
    if (j->partition) fprintf(f, "#SBATCH --partition=%s\n", j->partition);
    if (j->time) fprintf(f, "#SBATCH --time=%s\n", j->time);
    fputs("set -eu\nexec ", f);
    shq(f, exe);
    fputs(" audit ", f);
    shq(f, j->manifest);
    fprintf(f, " --from-partials '%s/partials' --out '%s/report'", j->dir, j->dir);
    write_audit_opts(f, j);
    fputs("\n", f);
    if (fclose(f) != 0) return cs_cli_usage_error(cmd, "%s: write failed", path);
    return 0;
}

/* Job id from `sbatch --parsable` ("123" or "123;cluster"). */
static int parse_job_id(const char *out, long *id) {
    char *end = NULL;
    errno = 0;
    long v = strtol(out, &end, 10);
    if (errno || end == out || v <= 0 || (*end && *end != ';' && *end != '\n')) return 0;
    *id = v;
    return 1;
}

static int save_job(const char *cmd, const slurm_job *j, long n, long array_id, const char *array, long merge_id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "manifest", j->manifest);
    cJSON_AddNumberToObject(o, "shards", (double)n);
    cJSON_AddNumberToObject(o, "array_job_id", (double)array_id);
    cJSON_AddStringToObject(o, "array", array);
    cJSON_AddNumberToObject(o, "merge_job_id", (double)merge_id);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/job.json", j->dir);
    snprintf(tmp, sizeof tmp, "%s/.job.json.tmp", j->dir);
    FILE *f = txt ? fopen(tmp, "w") : NULL;
    int ok = f && fputs(txt, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    free(txt);
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "copyscope %s: %s: cannot write\n", cmd, path);
        return 1;
    }
    return 0;
}

/* What `slurm submit` was asked for. */
typedef struct slurm_submit {
    slurm_job j;
    long n;        /* shards */
    int dry;       /* --dry-run: print the sbatch commands only */
    int n_extra;   /* sbatch's own options (after '--') */
    char *extra[CS_SLURM_MAX_EXTRA + 1];
} slurm_submit;

#define CS_SLURM_GO_ON (-1) /* a step went well: go on (else the step returns an exit code) */

/* The command line into s. */
static int submit_parse_args(const char *cmd, int argc, char **argv, slurm_submit *s) {
    slurm_job *j = &s->j;
    long v;
    enum { OPT_GPUS = 300, OPT_DIMS, OPT_CACHE, OPT_DRY, OPT_CPUS };
    static const struct option longopts[] = {
        {"shards", required_argument, 0, 'n'},    {"out", required_argument, 0, 'o'},
        {"partition", required_argument, 0, 'p'}, {"gpus-per-task", required_argument, 0, OPT_GPUS},
        {"time", required_argument, 0, 't'},      {"cpus-per-task", required_argument, 0, OPT_CPUS},
        {"dims", required_argument, 0, OPT_DIMS}, {"weights", required_argument, 0, 'w'},
        {"cache-dir", required_argument, 0, OPT_CACHE}, {"audit-opt", required_argument, 0, 'a'},
        {"dry-run", no_argument, 0, OPT_DRY},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    /* words after '--' are sbatch's: cut them off before option parsing */
    int dd = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dd = i;
            break;
        }
    s->n_extra = dd < argc ? argc - dd - 1 : 0;
    if (s->n_extra > CS_SLURM_MAX_EXTRA) return cs_cli_usage_error(cmd, "too many sbatch options");
    for (int i = 0; i < s->n_extra; i++) s->extra[i] = argv[dd + 1 + i];
    int c;
    optind = 1;
    while ((c = getopt_long(dd, argv, "n:o:p:t:w:a:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!cs_cli_parse_int(cmd, "--shards", optarg, 1, CS_SHARD_MAX, &s->n)) return CS_EXIT_USAGE;
            break;
        case 'o': j->dir = optarg; break;
        case 'p': j->partition = optarg; break;
        case OPT_GPUS: j->gpus = optarg; break;
        case OPT_CPUS: j->cpus = optarg; break;
        case 't': j->time = optarg; break;
        case OPT_DIMS:
            if (!cs_cli_parse_int(cmd, "--dims", optarg, 1, 16384, &v)) return CS_EXIT_USAGE;
            j->dims = (int)v;
            break;
        case 'w': j->weights = optarg; break;
        case OPT_CACHE: j->cache_dir = optarg; break;
        case 'a':
            if (j->n_audit_opts == CS_SLURM_MAX_AUDIT_OPTS) return cs_cli_usage_error(cmd, "too many --audit-opt");
            j->audit_opts[j->n_audit_opts++] = optarg;
            break;
        case OPT_DRY: s->dry = 1; break;
        case 'h': usage(stdout); return CS_EXIT_OK;
        default: return cs_cli_usage_error(cmd, "bad option");
        }
    }
    if (dd - optind > 1) return cs_cli_usage_error(cmd, "expected one MANIFEST.json (sbatch options go after '--')");
    if (optind < dd) j->manifest = argv[optind];
    if (!j->manifest) return cs_cli_usage_error(cmd, "no MANIFEST.json given");
    if (s->n < 1) return cs_cli_usage_error(cmd, "--shards N is required");
    return CS_SLURM_GO_ON;
}

/* The manifest validated now (not in 100 tasks); every path of the job absolute (the jobs run
 * elsewhere; static storage), the executable's into exe (PATH_MAX bytes). */
static int submit_absolute_paths(const char *cmd, slurm_job *j, char *exe) {
    static char manifest[PATH_MAX], dir[PATH_MAX], weights[PATH_MAX], cache[PATH_MAX];
    if (!realpath(j->manifest, manifest)) return cs_cli_usage_error(cmd, "%s: %s", j->manifest, strerror(errno));
    cs_audit_manifest *m = NULL;
    cs_status st = cs_audit_manifest_read(manifest, &m);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    cs_audit_manifest_free(m);
    j->manifest = manifest;
    if (abs_path(j->dir, dir) != 0) return cs_cli_usage_error(cmd, "%s: bad directory", j->dir);
    j->dir = dir;
    if (strchr(dir, '\'') || strchr(dir, '\n'))
        return cs_cli_usage_error(cmd, "%s: the job directory may not contain quotes or newlines", dir);
    if (j->weights) {
        if (abs_path(j->weights, weights) != 0) return cs_cli_usage_error(cmd, "%s: bad path", j->weights);
        j->weights = weights;
    }
    if (j->cache_dir) {
        if (abs_path(j->cache_dir, cache) != 0) return cs_cli_usage_error(cmd, "%s: bad path", j->cache_dir);
        j->cache_dir = cache;
    }
    ssize_t el = readlink("/proc/self/exe", exe, PATH_MAX - 1);
    if (el <= 0) return cs_cli_usage_error(cmd, "cannot find the copyscope executable");
    exe[el] = 0;
    return CS_SLURM_GO_ON;
}

/* The job directory's logs/ and partials/ (its path into partials, PATH_MAX + 32 bytes). */
static int submit_make_dirs(const char *cmd, const char *dir, char *partials) {
    const size_t cap = PATH_MAX + 32;
    snprintf(partials, cap, "%s/logs", dir);
    if (mkdir_p(partials) != 0) return cs_cli_usage_error(cmd, "%s: cannot create: %s", partials, strerror(errno));
    snprintf(partials, cap, "%s/partials", dir);
    if (mkdir_p(partials) != 0) return cs_cli_usage_error(cmd, "%s: cannot create: %s", partials, strerror(errno));
    return CS_SLURM_GO_ON;
}

/* The shards whose parts are still missing in partials as an --array value ("0-3" when all are,
 * else "1,5,7"; malloc'd into *array), their count in *n_missing. */
static int submit_missing_shards(const char *cmd, const char *partials, long n, char **array, long *n_missing) {
    long found = 0;
    int *present = NULL;
    *array = NULL;
    cs_status st = cs_shard_parts_scan(partials, &found, &present);
    if (st == CS_OK && found != n) {
        free(present);
        fprintf(stderr, "copyscope %s: %s holds parts of a %ld-shard run, not %ld: use --shards %ld to "
                "resume it, or another --out\n", cmd, partials, found, n, found);
        return CS_EXIT_USAGE;
    }
    if (st != CS_OK && st != CS_E_NOTFOUND) return cs_cli_fail(cmd, st);
    if (st != CS_OK) present = NULL;
    size_t cap = (size_t)n * 8 + 16;
    char *a = malloc(cap);
    if (!a) {
        free(present);
        return cs_cli_fail(cmd, CS_E_NOMEM);
    }
    size_t alen = 0;
    *n_missing = 0;
    for (long i = 0; i < n; i++)
        if (!present || !present[i]) {
            alen += (size_t)snprintf(a + alen, cap - alen, "%s%ld", *n_missing ? "," : "", i);
            (*n_missing)++;
        }
    free(present);
    if (*n_missing == n) snprintf(a, cap, "0-%ld", n - 1);
    *array = a;
    return CS_SLURM_GO_ON;
}

/* sbatch --parsable [opt] EXTRA... DIR/script: printed with --dry-run (*id = dry_id), else run
 * with the job id into *id. 1 if so; 0 when sbatch failed or printed no job id (its exit status
 * in *status, -1 if it could not run; its output in out). */
static int submit_sbatch(const slurm_submit *s, const char *opt, const char *script, long dry_id, long *id,
                         int *status, char *out, size_t out_cap) {
    const char *sbatch = getenv("COPYSCOPE_SBATCH");
    if (!sbatch || !sbatch[0]) sbatch = "sbatch";
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", s->j.dir, script);
    char *args[CS_SLURM_MAX_EXTRA + 8];
    int k = 0;
    args[k++] = (char *)sbatch;
    args[k++] = "--parsable";
    if (opt) args[k++] = (char *)opt;
    for (int i = 0; i < s->n_extra; i++) args[k++] = s->extra[i];
    args[k++] = path;
    args[k] = NULL;
    if (s->dry) {
        for (int i = 0; i < k; i++) printf("%s%s", i ? " " : "", args[i]);
        printf("\n");
        *id = dry_id;
        return 1;
    }
    *status = run_capture(args, out, out_cap);
    return *status == 0 && parse_job_id(out, id);
}

/* The shard array (when shards are missing; its id into *array_id) and the merge job depending
 * on it (*merge_id). */
static int submit_jobs(const char *cmd, const slurm_submit *s, const char *array, long n_missing, long *array_id,
                       long *merge_id) {
    char out[4096] = "", dep_opt[64];
    int r = 0;
    *array_id = *merge_id = 0;
    if (n_missing > 0) {
        char *array_opt = malloc(strlen(array) + 16);
        if (!array_opt) return cs_cli_fail(cmd, CS_E_NOMEM);
        sprintf(array_opt, "--array=%s", array);
        int ok = submit_sbatch(s, array_opt, "shards.sbatch", 1, array_id, &r, out, sizeof out);
        free(array_opt);
        if (!ok) {
            fprintf(stderr, "copyscope %s: sbatch of the shard array failed (exit %d): %s\n", cmd, r, out);
            return CS_EXIT_RUNTIME;
        }
        snprintf(dep_opt, sizeof dep_opt, "--dependency=afterok:%ld", *array_id);
    }
    if (!submit_sbatch(s, n_missing > 0 ? dep_opt : NULL, "merge.sbatch", 0, merge_id, &r, out, sizeof out)) {
        fprintf(stderr, "copyscope %s: sbatch of the merge job failed (exit %d): %s\n", cmd, r, out);
        if (*array_id) fprintf(stderr, "copyscope %s: the shard array %ld was submitted\n", cmd, *array_id);
        return CS_EXIT_RUNTIME;
    }
    return CS_SLURM_GO_ON;
}

static int cmd_submit(int argc, char **argv) {
    const char *cmd = "slurm submit";
    slurm_submit s;
    memset(&s, 0, sizeof s);
    s.j.dir = "copyscope-slurm";
    static char exe[PATH_MAX];
    char partials[PATH_MAX + 32];
    int rc = submit_parse_args(cmd, argc, argv, &s);
    if (rc == CS_SLURM_GO_ON) rc = submit_absolute_paths(cmd, &s.j, exe);
    if (rc == CS_SLURM_GO_ON) rc = submit_make_dirs(cmd, s.j.dir, partials);
    if (rc != CS_SLURM_GO_ON) return rc;
    char *array = NULL;
    long n_missing = 0, array_id = 0, merge_id = 0;
    rc = submit_missing_shards(cmd, partials, s.n, &array, &n_missing);
    if (rc == CS_SLURM_GO_ON) {
        int w = write_scripts(cmd, &s.j, exe, s.n);
        if (w) rc = w;
    }
    if (rc == CS_SLURM_GO_ON) rc = submit_jobs(cmd, &s, array, n_missing, &array_id, &merge_id);
    if (rc == CS_SLURM_GO_ON && s.dry) rc = CS_EXIT_OK;
    if (rc != CS_SLURM_GO_ON) {
        free(array);
        return rc;
    }
    rc = save_job(cmd, &s.j, s.n, n_missing ? array_id : 0, n_missing ? array : "", merge_id);
    if (n_missing)
        printf("array_job_id %ld (shards %s of %ld)\nmerge_job_id %ld\n", array_id, array, s.n, merge_id);
    else
        printf("array_job_id none (all %ld parts present)\nmerge_job_id %ld\n", s.n, merge_id);
    printf("report: %s/report/\n", s.j.dir);
    free(array);
    return rc ? CS_EXIT_RUNTIME : CS_EXIT_OK;
}

/* Array tasks of job id still known to squeue: state[i] = 'Q' queued, 'R' running. */
static void squeue_states(long job, long n, char *state) {
    const char *squeue = getenv("COPYSCOPE_SQUEUE");
    if (!squeue || !squeue[0]) squeue = "squeue";
    char jid[32];
    snprintf(jid, sizeof jid, "%ld", job);
    char *args[] = {(char *)squeue, "-h", "-r", "-j", jid, "-o", "%K %t", NULL};
    static char out[1 << 16];
    if (run_capture(args, out, sizeof out) != 0) return;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        long i;
        char st[16];
        if (sscanf(line, "%ld %15s", &i, st) == 2 && i >= 0 && i < n) state[i] = strcmp(st, "R") == 0 ? 'R' : 'Q';
    }
}

static int cmd_status(int argc, char **argv) {
    const char *cmd = "slurm status";
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return CS_EXIT_OK;
    }
    if (argc != 2) return cs_cli_usage_error(cmd, "expected one job DIR");
    const char *dir = argv[1];
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/job.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "copyscope %s: %s: %s (not a 'copyscope slurm submit' directory?)\n", cmd, path, strerror(errno));
        return CS_EXIT_USAGE;
    }
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    /* Strict JSON first (io/json_strict.h); a full buffer means a longer file, refused as too large. */
    cs_status jst = cs_json_strict_check(path, buf, len, sizeof buf - 2, CS_JSON_DEFAULT_MAX_DEPTH);
    if (jst != CS_OK) return cs_cli_fail(cmd, jst);
    cJSON *o = cJSON_Parse(buf);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(o, "shards");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(o, "array_job_id");
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(o, "merge_job_id");
    if (!o || !cJSON_IsNumber(js) || js->valuedouble < 1 || js->valuedouble > CS_SHARD_MAX) {
        cJSON_Delete(o);
        fprintf(stderr, "copyscope %s: %s: invalid\n", cmd, path);
        return CS_EXIT_USAGE;
    }
    long n = (long)js->valuedouble;
    long array_id = cJSON_IsNumber(ja) ? (long)ja->valuedouble : 0;
    long merge_id = cJSON_IsNumber(jm) ? (long)jm->valuedouble : 0;
    cJSON_Delete(o);
    snprintf(path, sizeof path, "%s/partials", dir);
    long found = n;
    int *present = NULL;
    cs_status st = cs_shard_parts_scan(path, &found, &present);
    if (st != CS_OK) return cs_cli_fail(cmd, st);
    char *state = calloc((size_t)n, 1);
    if (!state) {
        free(present);
        return cs_cli_fail(cmd, CS_E_NOMEM);
    }
    if (array_id) squeue_states(array_id, n, state);
    long missing = 0;
    for (long i = 0; i < n; i++) {
        if (present[i]) continue;
        missing++;
        char log[PATH_MAX + 64];
        snprintf(log, sizeof log, "%s/logs/shard-%ld.out", dir, i);
        struct stat sb;
        const char *what = state[i] == 'R' ? "running"
                           : state[i] == 'Q' ? "queued"
                           : stat(log, &sb) == 0 ? "failed (no part file; see the log)"
                                                 : "not started";
        printf("shard %ld: missing, %s, log %s\n", i, what, log);
    }
    free(state);
    free(present);
    snprintf(path, sizeof path, "%s/report/report.json", dir);
    struct stat sb;
    int have_report = stat(path, &sb) == 0;
    printf("%ld of %ld parts present; array job %ld, merge job %ld; report %s\n", n - missing, n, array_id,
           merge_id, have_report ? path : "missing");
    if (missing) printf("resume: run the same 'copyscope slurm submit' again (only missing shards run)\n");
    else if (!have_report) printf("merge log: %s/logs/merge.out\n", dir);
    return missing || !have_report ? CS_EXIT_RUNTIME : CS_EXIT_OK;
}

int cs_cmd_slurm(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CS_EXIT_USAGE : CS_EXIT_OK;
    }
    if (strcmp(argv[1], "submit") == 0) return cmd_submit(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0) return cmd_status(argc - 1, argv + 1);
    return cs_cli_usage_error("slurm", "unknown subcommand '%s' (submit or status)", argv[1]);
}

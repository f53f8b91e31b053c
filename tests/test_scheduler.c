/* The --device grammar (host/net/device_spec.c: accepted and refused forms, the same through the
 * single-backend constructor) and device lists (host/features/scheduler.c): their meaning on
 * machines with 0, 1 and 4 GPUs, with and without a CUDA build, and CPU stand-ins (a testing
 * aid). Pure functions of (spec, machine): no GPU needed. */
#include "check.h"
#include "copyscope/status.h"
#include "features/scheduler.h"
#include "net/backend.h"
#include "net/device_spec.h"

#include <stdlib.h>
#include <string.h>

/* Resolve spec (stand_in > 0: that many CPU stand-ins instead) on a machine; returns the
 * status, the list in *l. */
static cs_status on_machine(const char *spec, int stand_in, int have_cuda, int ngpu, int threads,
                            cs_device_list *l) {
    cs_device_spec s;
    memset(l, 0, sizeof *l);
    cs_status st = stand_in > 0 ? cs_device_spec_stand_in(stand_in, &s) : cs_device_spec_parse(spec, &s);
    if (st != CS_OK) return st;
    return cs_device_list_resolve(&s, have_cuda, ngpu, threads, 8, l);
}

/* An accepted form: its kind and GPU list ("" for none, else "0 2"). */
static void expect_spec(const char *text, cs_devspec_kind kind, const char *gpus) {
    cs_device_spec s;
    cs_status st = cs_device_spec_parse(text, &s);
    CHECK(st == CS_OK, "'%s' refused: %s", text ? text : "(null)", cs_last_error());
    if (st != CS_OK) return;
    char got[256] = "";
    for (int i = 0; i < s.n_gpu; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? " " : "", s.gpu[i]);
    CHECK(s.kind == kind && !strcmp(got, gpus), "'%s': kind %d gpus '%s', want kind %d gpus '%s'",
          text ? text : "(null)", (int)s.kind, got, (int)kind, gpus);
}

/* A refused form: CS_E_USAGE, one line quoting the spec and containing part, from the parser
 * and from the single-backend constructor alike (one grammar). */
static void expect_refused(const char *text, const char *part) {
    char quoted[160];
    snprintf(quoted, sizeof quoted, "device '%.40s", text); /* long specs are quoted truncated */
    cs_device_spec s;
    cs_error_clear();
    cs_status st = cs_device_spec_parse(text, &s);
    CHECK(st == CS_E_USAGE && strstr(cs_last_error(), part) && strstr(cs_last_error(), quoted) &&
              !strchr(cs_last_error(), '\n'),
          "parse '%s': %s '%s', want usage with '%s'", text, cs_status_name(st), cs_last_error(), part);
    cs_backend *be = NULL;
    cs_error_clear();
    st = cs_backend_create_ex(text, NULL, 1, &be, NULL, 0);
    CHECK(st == CS_E_USAGE && be == NULL && strstr(cs_last_error(), part) && strstr(cs_last_error(), quoted),
          "backend '%s': %s '%s', want usage with '%s'", text, cs_status_name(st), cs_last_error(), part);
    cs_backend_free(be);
}

static void test_grammar(void) {
    expect_spec(NULL, CS_DEVSPEC_AUTO, "");
    expect_spec("", CS_DEVSPEC_AUTO, "");
    expect_spec("auto", CS_DEVSPEC_AUTO, "");
    expect_spec("cpu", CS_DEVSPEC_CPU, "");
    expect_spec("cuda", CS_DEVSPEC_CUDA_ALL, "");
    expect_spec("cuda:0", CS_DEVSPEC_CUDA_LIST, "0");
    expect_spec("cuda:1023", CS_DEVSPEC_CUDA_LIST, "1023");
    expect_spec("cuda:007", CS_DEVSPEC_CUDA_LIST, "7");
    expect_spec("cuda:2,0", CS_DEVSPEC_CUDA_LIST, "2 0");
    expect_spec("cuda:1,2,3,0", CS_DEVSPEC_CUDA_LIST, "1 2 3 0");
    expect_refused("cuda:0,0", "GPU 0 is listed twice");
    expect_refused("cuda:1,2,1", "GPU 1 is listed twice");
    expect_refused("cuda:", "expected GPU numbers after 'cuda:'");
    expect_refused("cuda:-1", "'-1' is not a GPU number");
    expect_refused("cuda:+1", "is not a GPU number");
    expect_refused("cuda:0,", "empty GPU number");
    expect_refused("cuda:,0", "empty GPU number");
    expect_refused("cuda:0,,1", "empty GPU number");
    expect_refused("cuda:1x", "'1x' is not a GPU number");
    expect_refused("cuda:0 ", "is not a GPU number");
    expect_refused("cuda:1024", "out of range");
    expect_refused("cuda:99999999999999999999", "out of range");
    expect_refused("gpu", "unknown device");
    expect_refused("CPU", "unknown device");
    expect_refused("cuda0", "unknown device");
    expect_refused("cpu,cpu", "unknown device");
    expect_refused(" cpu", "unknown device");
    {
        char many[400] = "cuda:0";
        for (int i = 1; i < 65; i++) snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
        expect_refused(many, "too many devices");
    }
}

/* The list as "cuda:0 cuda:2" (labels joined by spaces). */
static const char *labels(const cs_device_list *l) {
    static char buf[512];
    buf[0] = '\0';
    for (int i = 0; i < l->n; i++) {
        if (i) strcat(buf, " ");
        strcat(buf, l->dev[i].label);
    }
    return buf;
}

static void expect_list(const char *spec, int have_cuda, int ngpu, const char *want, int want_notice) {
    cs_device_list l;
    cs_status st = on_machine(spec, 0, have_cuda, ngpu, 4, &l);
    CHECK(st == CS_OK, "'%s' on %d GPU(s): %s", spec ? spec : "(null)", ngpu, cs_last_error());
    if (st != CS_OK) return;
    CHECK(!strcmp(labels(&l), want), "'%s' on %d GPU(s): got '%s', want '%s'", spec ? spec : "(null)", ngpu,
          labels(&l), want);
    CHECK(!!l.notice[0] == want_notice, "'%s': notice '%s'", spec ? spec : "(null)", l.notice);
    for (int i = 0; i < l.n; i++) {
        int gpu = -1;
        if (!strncmp(l.dev[i].label, "cuda:", 5)) gpu = atoi(l.dev[i].label + 5);
        CHECK(l.dev[i].gpu == gpu, "'%s': device %d has gpu %d, label %s", spec, i, l.dev[i].gpu, l.dev[i].label);
    }
}

/* A bad spec or one the machine cannot run: status, exit code 2, one line containing `part`. */
static void expect_error(const char *spec, int stand_in, int have_cuda, int ngpu, cs_status want, const char *part) {
    cs_device_list l;
    cs_error_clear();
    cs_status st = on_machine(spec, stand_in, have_cuda, ngpu, 4, &l);
    CHECK(st == want, "'%s' on %d GPU(s): status %s, want %s (%s)", spec, ngpu, cs_status_name(st),
          cs_status_name(want), cs_last_error());
    CHECK(cs_status_exit_code(st) == 2, "'%s': exit code %d, want 2", spec, cs_status_exit_code(st));
    CHECK(strstr(cs_last_error(), part) != NULL, "'%s': message '%s' lacks '%s'", spec, cs_last_error(), part);
    CHECK(strchr(cs_last_error(), '\n') == NULL, "'%s': message has a newline", spec);
    CHECK(l.n == 0, "'%s': %d devices left in the list after an error", spec, l.n);
}

int main(void) {
    test_grammar();

    /* auto: every GPU, else the CPU with a one-line notice */
    expect_list("auto", 1, 4, "cuda:0 cuda:1 cuda:2 cuda:3", 0);
    expect_list(NULL, 1, 1, "cuda:0", 0);
    expect_list("", 1, 2, "cuda:0 cuda:1", 0);
    expect_list("auto", 1, 0, "cpu", 1);
    expect_list("auto", 0, 0, "cpu", 1);
    {
        cs_device_list l;
        on_machine("auto", 0, 0, 0, 4, &l);
        CHECK(strstr(l.notice, "no CUDA backend") && strstr(l.notice, "CPU"), "auto, no CUDA build: '%s'", l.notice);
        on_machine("auto", 0, 1, 0, 4, &l);
        CHECK(strstr(l.notice, "no CUDA GPU") && strstr(l.notice, "CPU"), "auto, no GPU: '%s'", l.notice);
        CHECK(l.threads_each == 4, "auto on the CPU keeps --threads (got %d)", l.threads_each);
    }
    /* cpu: one CPU backend whatever the machine */
    expect_list("cpu", 1, 4, "cpu", 0);
    expect_list("cpu", 0, 0, "cpu", 0);
    /* cuda: all GPUs; cuda:N,M: those, in that order */
    expect_list("cuda", 1, 4, "cuda:0 cuda:1 cuda:2 cuda:3", 0);
    expect_list("cuda", 1, 1, "cuda:0", 0);
    expect_list("cuda:0", 1, 4, "cuda:0", 0);
    expect_list("cuda:3", 1, 4, "cuda:3", 0);
    expect_list("cuda:0,2", 1, 4, "cuda:0 cuda:2", 0);
    expect_list("cuda:2,0", 1, 4, "cuda:2 cuda:0", 0);
    expect_list("cuda:1,2,3,0", 1, 4, "cuda:1 cuda:2 cuda:3 cuda:0", 0);

    /* syntax errors: usage, on any machine */
    for (int ngpu = 0; ngpu <= 4; ngpu += 4) {
        expect_error("cuda:", 0, 1, ngpu, CS_E_USAGE, "expected GPU numbers after 'cuda:'");
        expect_error("cuda:-1", 0, 1, ngpu, CS_E_USAGE, "'-1' is not a GPU number");
        expect_error("cuda:+1", 0, 1, ngpu, CS_E_USAGE, "is not a GPU number");
        expect_error("cuda:0,0", 0, 1, ngpu, CS_E_USAGE, "GPU 0 is listed twice");
        expect_error("cuda:1,2,1", 0, 1, ngpu, CS_E_USAGE, "GPU 1 is listed twice");
        expect_error("cuda:0,", 0, 1, ngpu, CS_E_USAGE, "empty GPU number");
        expect_error("cuda:,0", 0, 1, ngpu, CS_E_USAGE, "empty GPU number");
        expect_error("cuda:0,,1", 0, 1, ngpu, CS_E_USAGE, "empty GPU number");
        expect_error("cuda:1x", 0, 1, ngpu, CS_E_USAGE, "'1x' is not a GPU number");
        expect_error("cuda:0 ", 0, 1, ngpu, CS_E_USAGE, "is not a GPU number");
        expect_error("cuda:99999999999999999999", 0, 1, ngpu, CS_E_USAGE, "out of range");
        expect_error("gpu", 0, 1, ngpu, CS_E_USAGE, "unknown device");
        expect_error("CPU", 0, 1, ngpu, CS_E_USAGE, "unknown device");
        expect_error("cuda0", 0, 1, ngpu, CS_E_USAGE, "unknown device");
        expect_error("cpu,cpu", 0, 1, ngpu, CS_E_USAGE, "unknown device"); /* stand-ins are no --device */
    }
    /* well-formed, but not on this machine */
    expect_error("cuda:99", 0, 1, 4, CS_E_USAGE, "there is no GPU 99 (this machine has 4: cuda:0..cuda:3)");
    expect_error("cuda:0,4", 0, 1, 4, CS_E_USAGE, "there is no GPU 4");
    expect_error("cuda:1", 0, 1, 1, CS_E_USAGE, "there is no GPU 1 (this machine has 1: cuda:0)");
    expect_error("cuda:0", 0, 1, 0, CS_E_UNSUPPORTED, "no CUDA GPU found");
    expect_error("cuda:99", 0, 1, 0, CS_E_UNSUPPORTED, "no CUDA GPU found");
    expect_error("cuda", 0, 1, 0, CS_E_UNSUPPORTED, "no CUDA GPU found");
    expect_error("cuda", 0, 0, 0, CS_E_UNSUPPORTED, "this build has no CUDA backend");
    expect_error("cuda:0,1", 0, 0, 0, CS_E_UNSUPPORTED, "this build has no CUDA backend");

    /* CPU stand-ins (a testing aid): CPU backends only, whatever the machine, threads split
     * evenly (at least one each) */
    {
        cs_device_list l;
        cs_status st = on_machine(NULL, 2, 1, 4, 4, &l);
        CHECK(st == CS_OK && l.n == 2 && !strcmp(labels(&l), "cpu#0 cpu#1"), "2 stand-ins: %s", labels(&l));
        CHECK(l.dev[0].gpu == -1 && l.dev[1].gpu == -1, "stand-ins are CPUs");
        CHECK(l.threads_each == 2, "4 threads over 2 CPU backends: %d each", l.threads_each);
        CHECK(strstr(l.notice, "testing aid") != NULL, "stand-in notice: '%s'", l.notice);
        st = on_machine(NULL, 3, 0, 0, 2, &l);
        CHECK(st == CS_OK && l.n == 3 && l.threads_each == 1, "3 CPU backends on 2 threads: n %d, %d each", l.n,
              l.threads_each);
        st = on_machine(NULL, 1, 0, 0, 2, &l);
        CHECK(st == CS_OK && l.n == 1 && !strcmp(labels(&l), "cpu") && l.threads_each == 2,
              "one stand-in is the plain cpu device");
        st = on_machine(NULL, 2, 0, 0, 0, &l); /* threads 0: all 8 cores of on_machine */
        CHECK(st == CS_OK && l.threads_each == 4, "8 cores over 2 CPU backends: %d each", l.threads_each);
        st = on_machine(NULL, 64, 0, 0, 0, &l);
        CHECK(st == CS_OK && l.n == 64, "64 stand-ins: %d", l.n);
    }
    expect_error("65 stand-ins", 65, 1, 4, CS_E_USAGE, "65 CPU devices standing in for GPUs (a testing aid): expected 1..64");

    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("scheduler device lists: all checks passed\n");
    return failures ? 1 : 0;
}

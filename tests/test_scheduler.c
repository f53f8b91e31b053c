/* Device lists (host/features/scheduler.c): --device syntax and its meaning on machines with 0, 1 and 4
 * GPUs, with and without a CUDA build, and the COPYSCOPE_TEST_DEVICES testing list. Pure
 * functions of (spec, machine): no GPU needed. */
#include "check.h"
#include "copyscope/status.h"
#include "features/scheduler.h"

#include <stdlib.h>
#include <string.h>

/* Resolve spec on a machine; returns the status, the list in *l. */
static cs_status on_machine(const char *spec, int testing, int have_cuda, int ngpu, int threads,
                            cs_device_list *l) {
    cs_device_spec s;
    memset(l, 0, sizeof *l);
    cs_status st = cs_device_spec_parse(spec, testing, &s);
    if (st != CS_OK) return st;
    return cs_device_list_resolve(&s, have_cuda, ngpu, threads, 8, l);
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
static void expect_error(const char *spec, int testing, int have_cuda, int ngpu, cs_status want, const char *part) {
    cs_device_list l;
    cs_error_clear();
    cs_status st = on_machine(spec, testing, have_cuda, ngpu, 4, &l);
    CHECK(st == want, "'%s' on %d GPU(s): status %s, want %s (%s)", spec, ngpu, cs_status_name(st),
          cs_status_name(want), cs_last_error());
    CHECK(cs_status_exit_code(st) == 2, "'%s': exit code %d, want 2", spec, cs_status_exit_code(st));
    CHECK(strstr(cs_last_error(), part) != NULL, "'%s': message '%s' lacks '%s'", spec, cs_last_error(), part);
    CHECK(strchr(cs_last_error(), '\n') == NULL, "'%s': message has a newline", spec);
    CHECK(l.n == 0, "'%s': %d devices left in the list after an error", spec, l.n);
}

int main(void) {
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
        expect_error("cpu,cpu", 0, 1, ngpu, CS_E_USAGE, "unknown device"); /* only as a testing list */
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

    /* the testing list: CPU backends only, threads split evenly (at least one each) */
    {
        cs_device_list l;
        cs_status st = on_machine("cpu,cpu", 1, 1, 4, 4, &l);
        CHECK(st == CS_OK && l.n == 2 && !strcmp(labels(&l), "cpu#0 cpu#1"), "testing cpu,cpu: %s", labels(&l));
        CHECK(l.dev[0].gpu == -1 && l.dev[1].gpu == -1, "testing devices are CPUs");
        CHECK(l.threads_each == 2, "4 threads over 2 CPU backends: %d each", l.threads_each);
        CHECK(strstr(l.notice, "testing aid") != NULL, "testing list notice: '%s'", l.notice);
        st = on_machine("cpu,cpu,cpu", 1, 0, 0, 2, &l);
        CHECK(st == CS_OK && l.n == 3 && l.threads_each == 1, "3 CPU backends on 2 threads: n %d, %d each", l.n,
              l.threads_each);
        st = on_machine("cpu", 1, 0, 0, 2, &l);
        CHECK(st == CS_OK && l.n == 1 && !strcmp(labels(&l), "cpu") && l.threads_each == 2,
              "testing list of one CPU is the plain cpu device");
        st = on_machine("cpu,cpu", 1, 0, 0, 0, &l); /* threads 0: all 8 cores of on_machine */
        CHECK(st == CS_OK && l.threads_each == 4, "8 cores over 2 CPU backends: %d each", l.threads_each);
    }
    expect_error("cpu,gpu", 1, 1, 4, CS_E_USAGE, "COPYSCOPE_TEST_DEVICES=cpu,gpu: expected cpu,cpu");
    expect_error("cuda:0", 1, 1, 4, CS_E_USAGE, "expected cpu,cpu");
    expect_error("cpu,", 1, 1, 4, CS_E_USAGE, "expected cpu,cpu");
    expect_error("", 1, 1, 4, CS_E_USAGE, "expected cpu,cpu");
    {
        char many[400] = "cpu";
        for (int i = 1; i < 65; i++) strcat(many, ",cpu");
        expect_error(many, 1, 1, 4, CS_E_USAGE, "too many devices");
    }

    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("scheduler device lists: all checks passed\n");
    return failures ? 1 : 0;
}

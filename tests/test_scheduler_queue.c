/* The scheduler's threads and queues alone (host/features/scheduler.c), with a stub model instead of the
 * network: fast enough to run under ThreadSanitizer in every build (scheduler_queue_tsan).
 *
 * The stub "forward" writes out[j][k] = input[j][0] * (k + 1) + device, after a short pseudo-
 * random pause so that batches finish out of order; its first call on each device waits until
 * every device has entered it (a barrier, no timing), which proves the devices run concurrently.
 *
 * Checks: every submitted batch comes back exactly once with its own results, through slots
 * reused as in host/features/features.c; all devices took part; the failure hook fails exactly its batch
 * with a one-line message naming the device and images, batches before it come back done and
 * queued ones cancelled; a device that cannot create its model fails cs_sched_create (naming it)
 * with every thread joined; a single CPU runs inline; freeing with batches queued does not hang. */
#include "check.h"
#include "copyscope/model.h"
#include "features/scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ELEMS ((size_t)3 * 299 * 299)
#define DIMS 4

/* ---- the stub model ------------------------------------------------------------------------ */

struct cs_model {
    int id;
    int calls;
    int async;        /* g_async at creation: batches stay "in flight" until collect */
    struct {          /* what submit was given, computed by collect (async) */
        const float *x;
        const uint8_t *rgb;
        const cs_rgb_item *items;
        int n, dims, pending;
        float *out;
    } pipe[2];
    int in_flight, max_in_flight;
};

static atomic_int g_async = 1, g_max_in_flight;

static atomic_int g_models_created, g_models_live, g_fail_create_at = -1, g_host_live;
static pthread_mutex_t g_bar_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_bar_cv = PTHREAD_COND_INITIALIZER;
static int g_bar_need, g_bar_in; /* barrier of the first forward of each device */
static atomic_int g_calls_by_model[CS_DEVICES_MAX];

cs_status cs_model_create_testing(const cs_weights *w, const char *device, const char *precision, int threads,
                                  const cs_model_testing *t, cs_model **out) {
    (void)w, (void)precision, (void)threads, (void)t;
    *out = NULL;
    int id = atomic_fetch_add(&g_models_created, 1);
    if (id == atomic_load(&g_fail_create_at))
        return CS_FAIL(CS_E_DEVICE, "stub: cannot create model %d on %s", id, device);
    cs_model *m = calloc(1, sizeof *m);
    if (!m) return CS_E_NOMEM;
    m->id = id;
    m->async = atomic_load(&g_async);
    atomic_fetch_add(&g_models_live, 1);
    *out = m;
    return CS_OK;
}

void cs_model_free(cs_model *m) {
    if (!m) return;
    CHECK(!m->pipe[0].pending && !m->pipe[1].pending, "model %d freed with a batch in flight", m->id);
    if (m->max_in_flight > atomic_load(&g_max_in_flight)) atomic_store(&g_max_in_flight, m->max_in_flight);
    atomic_fetch_sub(&g_models_live, 1);
    free(m);
}

const char *cs_model_device_name(const cs_model *m) {
    (void)m;
    return "stub device";
}

cs_status cs_model_host_alloc(cs_model *m, size_t bytes, void **out) {
    (void)m;
    *out = malloc(bytes);
    if (!*out) return CS_E_NOMEM;
    atomic_fetch_add(&g_host_live, 1);
    return CS_OK;
}

void cs_model_host_free(cs_model *m, void *p) {
    (void)m;
    if (!p) return;
    atomic_fetch_sub(&g_host_live, 1);
    free(p);
}

/* The barrier: g_bar_need parties (every device's first submit, and the producer once every
 * slot is queued), so that all devices run at once and each finds a second batch queued. */
static void bar_enter(void) {
    if (g_bar_need <= 0) return;
    pthread_mutex_lock(&g_bar_mu);
    g_bar_in++;
    pthread_cond_broadcast(&g_bar_cv);
    while (g_bar_in < g_bar_need) pthread_cond_wait(&g_bar_cv, &g_bar_mu);
    pthread_mutex_unlock(&g_bar_mu);
}

int cs_model_async(const cs_model *m) { return m->async; }
int cs_model_preprocesses(const cs_model *m) { (void)m; return 0; }

/* The batch's values: out[j][k] = (first input value of image j) * (k + 1). */
static void stub_compute(cs_model *m, int slot) {
    atomic_fetch_add(&g_calls_by_model[m->id % CS_DEVICES_MAX], 1);
    const float v0 = m->pipe[slot].x ? m->pipe[slot].x[0] : (float)m->pipe[slot].rgb[m->pipe[slot].items[0].offset];
    unsigned r = (unsigned)(v0 * 7919.0f) % 5; /* 0..4 x 100 us: shuffle completion order */
    struct timespec ts = {0, (long)r * 100000L};
    nanosleep(&ts, NULL);
    for (int j = 0; j < m->pipe[slot].n; j++) {
        float v = m->pipe[slot].x ? m->pipe[slot].x[(size_t)j * ELEMS]
                                  : (float)m->pipe[slot].rgb[m->pipe[slot].items[j].offset];
        for (int k = 0; k < m->pipe[slot].dims; k++) m->pipe[slot].out[(size_t)j * m->pipe[slot].dims + k] = v * (float)(k + 1);
    }
}

static cs_status stub_submit(cs_model *m, int slot, const float *x, const uint8_t *rgb, const cs_rgb_item *items,
                             int n, int dims, float *out) {
    CHECK(slot == 0 || slot == 1, "slot %d", slot);
    CHECK(!m->pipe[slot].pending, "model %d: submit into slot %d, which is in flight", m->id, slot);
    if (m->calls++ == 0) bar_enter(); /* every device's first batch meets the others */
    m->pipe[slot].x = x;
    m->pipe[slot].rgb = rgb;
    m->pipe[slot].items = items;
    m->pipe[slot].n = n;
    m->pipe[slot].dims = dims;
    m->pipe[slot].out = out;
    m->pipe[slot].pending = 1;
    if (++m->in_flight > m->max_in_flight) m->max_in_flight = m->in_flight;
    CHECK(m->in_flight <= (m->async ? 2 : 1), "model %d: %d batches in flight", m->id, m->in_flight);
    if (!m->async) stub_compute(m, slot); /* a synchronous device: done at submit */
    return CS_OK;
}

cs_status cs_model_submit(cs_model *m, int slot, const float *x, int n, int dims, float *out) {
    return stub_submit(m, slot, x, NULL, NULL, n, dims, out);
}

cs_status cs_model_submit_rgb(cs_model *m, int slot, const uint8_t *rgb, size_t rgb_bytes,
                              const cs_rgb_item *items, int n, int dims, float *out) {
    (void)rgb_bytes;
    return stub_submit(m, slot, NULL, rgb, items, n, dims, out);
}

cs_status cs_model_collect(cs_model *m, int slot) {
    CHECK(slot == 0 || slot == 1, "slot %d", slot);
    CHECK(m->pipe[slot].pending, "model %d: collect of slot %d, which has nothing in flight", m->id, slot);
    if (m->async) stub_compute(m, slot); /* inputs must still be intact now */
    m->pipe[slot].pending = 0;
    m->in_flight--;
    return CS_OK;
}

const char *cs_backend_cuda_why(void) { return "stub: no CUDA"; }

void cs_backend_cuda_probe(int *have_backend, int *ngpu) {
    *have_backend = 0;
    *ngpu = 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const cs_sched_opts g_opts = {.dims = DIMS};

static cs_device_list cpu_list(int n) {
    cs_device_spec spec;
    cs_device_list l;
    CHECK(cs_device_spec_stand_in(n, &spec) == CS_OK, "%d CPU stand-ins", n);
    CHECK(cs_device_list_resolve(&spec, 0, 0, n, n, &l) == CS_OK && l.n == n, "resolve %d CPU stand-ins", n);
    return l;
}

typedef struct slot {
    cs_sched_batch b;
    float *input; /* (m, ELEMS) */
    float feat[8 * DIMS];
    int busy;
} slot;

/* Push n_batches batches of up to 8 images through nslots slots; value of image j of batch t:
 * t * 8 + j + 1. Returns the number that came back done; seen[t] counts returns of batch t. */
static int run_batches(cs_sched *s, slot *slots, int nslots, int n_batches, int *seen, int *first_fail) {
    int done = 0, next = 0, outstanding = 0, filled = 0;
    *first_fail = -1;
    for (;;) {
        slot *free_slot = NULL;
        for (int i = 0; i < nslots && !free_slot; i++)
            if (!slots[i].busy) free_slot = &slots[i];
        if (next < n_batches && free_slot && *first_fail < 0) {
            int m = 1 + next % 8;
            for (int j = 0; j < m; j++) free_slot->input[(size_t)j * ELEMS] = (float)(next * 8 + j + 1);
            free_slot->b.id = (size_t)next;
            free_slot->b.first = (size_t)next * 8;
            free_slot->b.count = 8;
            free_slot->b.input = free_slot->input;
            free_slot->b.m = m;
            free_slot->b.feat = free_slot->feat;
            free_slot->b.user = free_slot;
            free_slot->busy = 1;
            cs_sched_submit(s, &free_slot->b);
            next++;
            outstanding++;
            continue;
        }
        if (!filled++) bar_enter(); /* every slot queued: the producer's turn at the barrier */
        if (!outstanding) break;
        cs_sched_batch *b = cs_sched_next_done(s, 1);
        CHECK(b != NULL, "next_done returned NULL with %d outstanding", outstanding);
        if (!b) break;
        outstanding--;
        slot *sl = b->user;
        sl->busy = 0;
        seen[b->id]++;
        if (b->st == CS_OK) {
            CHECK(b->device >= 0 && b->device < cs_sched_devices(s), "batch %zu: device %d", b->id, b->device);
            for (int j = 0; j < b->m; j++)
                for (int k = 0; k < DIMS; k++)
                    CHECK(b->feat[j * DIMS + k] == (float)((b->id * 8 + (size_t)j + 1) * (size_t)(k + 1)),
                          "batch %zu image %d dim %d: %g", b->id, j, k, b->feat[j * DIMS + k]);
            done++;
        } else if (b->device >= 0) { /* a device failure: stop submitting, cancel the queue */
            if (*first_fail < 0) *first_fail = (int)b->id;
            CHECK(b->st == CS_E_DEVICE, "batch %zu: status %s", b->id, cs_status_name(b->st));
            char want[96];
            snprintf(want, sizeof want, "failed on batch %zu (input images %zu..%zu, %d to compute)", b->id,
                     b->id * 8, b->id * 8 + 7, b->m);
            CHECK(strstr(b->msg, "device cpu#") && strstr(b->msg, "[stub device]") && strstr(b->msg, want) &&
                      strstr(b->msg, "injected failure") && !strchr(b->msg, '\n'),
                  "failure message '%s'", b->msg);
            cs_sched_cancel(s);
        } else {
            CHECK(b->st == CS_E_INTERRUPTED, "cancelled batch %zu: status %s", b->id, cs_status_name(b->st));
        }
    }
    return done;
}

static slot *make_slots(cs_sched *s, int n) {
    slot *sl = calloc((size_t)n, sizeof *sl);
    for (int i = 0; sl && i < n; i++)
        if (cs_sched_host_alloc(s, 8 * ELEMS * sizeof(float), (void **)&sl[i].input) != CS_OK) return NULL;
    return sl;
}

int main(void) {
    const int D = 3, NB = 300;
    int seen[NB];

    /* 1. three devices, nine slots, 300 batches: each back once, correct, all devices busy;
     * asynchronous devices keep two batches in flight (never more), synchronous ones one */
    for (int async = 1; async >= 0; async--) {
        cs_device_list l = cpu_list(D);
        cs_sched *s = NULL;
        atomic_store(&g_async, async);
        atomic_store(&g_max_in_flight, 0);
        for (int i = 0; i < CS_DEVICES_MAX; i++) atomic_store(&g_calls_by_model[i], 0);
        atomic_store(&g_models_created, 0);
        g_bar_in = 0;
        g_bar_need = D + 1;
        CHECK(cs_sched_create(&l, NULL, &g_opts, &s) == CS_OK, "create: %s", cs_last_error());
        CHECK(s && !cs_sched_inline(s) && cs_sched_devices(s) == D, "3 worker threads");
        CHECK(atomic_load(&g_models_live) == D, "%d models", atomic_load(&g_models_live));
        slot *slots = s ? make_slots(s, 3 * D) : NULL;
        if (slots) {
            memset(seen, 0, sizeof seen);
            int fail;
            int done = run_batches(s, slots, 3 * D, NB, seen, &fail);
            CHECK(done == NB && fail < 0, "%d of %d batches done", done, NB);
            for (int t = 0; t < NB; t++) CHECK(seen[t] == 1, "batch %d came back %d times", t, seen[t]);
            for (int i = 0; i < D; i++)
                CHECK(atomic_load(&g_calls_by_model[i]) > 0, "device %d ran no batch", i);
            printf("3 %s devices, 300 batches: %d / %d / %d\n", async ? "asynchronous" : "synchronous",
                   atomic_load(&g_calls_by_model[0]), atomic_load(&g_calls_by_model[1]),
                   atomic_load(&g_calls_by_model[2]));
            CHECK(cs_sched_next_done(s, 1) == NULL, "nothing outstanding at the end");
        }
        cs_sched_free(s);
        free(slots);
        CHECK(atomic_load(&g_max_in_flight) == (async ? 2 : 1), "%s devices: at most %d batches in flight, want %d",
              async ? "asynchronous" : "synchronous", atomic_load(&g_max_in_flight), async ? 2 : 1);
        CHECK(atomic_load(&g_models_live) == 0 && atomic_load(&g_host_live) == 0, "models %d, host buffers %d left",
              atomic_load(&g_models_live), atomic_load(&g_host_live));
        g_bar_need = 0;
    }
    atomic_store(&g_async, 1);

    /* 2. the failure hook: batch 40 fails; all before it done, none after it done twice */
    {
        cs_device_list l = cpu_list(2);
        cs_sched *s = NULL;
        const cs_sched_opts fo = {.dims = DIMS, .fail = 1, .fail_batch = 40};
        CHECK(cs_sched_create(&l, NULL, &fo, &s) == CS_OK, "create: %s", cs_last_error());
        slot *slots = s ? make_slots(s, 4) : NULL;
        if (slots) {
            memset(seen, 0, sizeof seen);
            int fail;
            run_batches(s, slots, 4, 100, seen, &fail);
            CHECK(fail == 40, "failed batch %d, want 40", fail);
            for (int t = 0; t < 100; t++) CHECK(seen[t] <= 1, "batch %d came back %d times", t, seen[t]);
            for (int t = 0; t <= 40; t++) CHECK(seen[t] == 1, "batch %d (before the failure) came back %d times", t, seen[t]);
        }
        cs_sched_free(s);
        free(slots);
    }

    /* 3. a device that cannot create its model: create fails naming it, nothing left running */
    {
        cs_device_list l = cpu_list(4);
        cs_sched *s = NULL;
        atomic_store(&g_models_created, 0);
        atomic_store(&g_fail_create_at, 2);
        cs_status st = cs_sched_create(&l, NULL, &g_opts, &s);
        atomic_store(&g_fail_create_at, -1);
        CHECK(st == CS_E_DEVICE && s == NULL, "create with a failing device: %s", cs_status_name(st));
        CHECK(strstr(cs_last_error(), "device cpu#") && strstr(cs_last_error(), "stub: cannot create model 2"),
              "message '%s'", cs_last_error());
        CHECK(atomic_load(&g_models_live) == 0, "%d models left after a failed create", atomic_load(&g_models_live));
    }

    /* 4. one CPU: inline, the batch is done when submit returns */
    {
        cs_device_list l = cpu_list(1);
        cs_sched *s = NULL;
        CHECK(cs_sched_create(&l, NULL, &g_opts, &s) == CS_OK && s && cs_sched_inline(s), "inline create");
        slot *slots = s ? make_slots(s, 1) : NULL;
        if (slots) {
            slots[0].input[0] = 5.0f;
            slots[0].b = (cs_sched_batch){.id = 0, .first = 0, .count = 1, .input = slots[0].input, .m = 1,
                                          .feat = slots[0].feat, .user = &slots[0]};
            cs_sched_submit(s, &slots[0].b);
            cs_sched_batch *b = cs_sched_next_done(s, 0);
            CHECK(b == &slots[0].b && b->st == CS_OK && b->device == 0 && b->feat[3] == 20.0f,
                  "inline batch not done at once");
            CHECK(cs_sched_next_done(s, 0) == NULL, "inline: one batch only");
        }
        cs_sched_free(s);
        free(slots);
    }

    /* 5. free with batches still queued: returns (queued ones dropped), nothing leaks */
    {
        cs_device_list l = cpu_list(2);
        cs_sched *s = NULL;
        CHECK(cs_sched_create(&l, NULL, &g_opts, &s) == CS_OK, "create");
        slot *slots = s ? make_slots(s, 6) : NULL;
        for (int i = 0; slots && i < 6; i++) {
            slots[i].input[0] = (float)i;
            slots[i].b = (cs_sched_batch){.id = (size_t)i, .count = 1, .input = slots[i].input, .m = 1,
                                          .feat = slots[i].feat, .user = &slots[i]};
            cs_sched_submit(s, &slots[i].b);
        }
        cs_sched_free(s);
        free(slots);
        CHECK(atomic_load(&g_models_live) == 0 && atomic_load(&g_host_live) == 0, "models %d, host buffers %d left",
              atomic_load(&g_models_live), atomic_load(&g_host_live));
    }

    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("scheduler queue: all checks passed\n");
    return failures ? 1 : 0;
}

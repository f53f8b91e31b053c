/* Device lists and the multi-device batch scheduler. See scheduler.h. */
#include "features/scheduler.h"

#include "net/backend.h"
#include "core/common.h"
#include "copyscope/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- device lists ------------------------------------------------------------------------- */

static void add_device(cs_device_list *l, int gpu, const char *label) {
    cs_device *d = &l->dev[l->n++];
    d->gpu = gpu;
    snprintf(d->label, sizeof d->label, "%s", label);
}

cs_status cs_device_list_resolve(const cs_device_spec *spec, int have_cuda, int ngpu, int threads,
                                 int ncores, cs_device_list *out) {
    memset(out, 0, sizeof *out);
    out->threads_each = threads > 0 ? threads : 0;
    char label[24];
    switch (spec->kind) {
    case CS_DEVSPEC_AUTO:
        if (have_cuda && ngpu > 0) {
            for (int i = 0; i < ngpu && i < CS_DEVICES_MAX; i++) {
                snprintf(label, sizeof label, "cuda:%d", i);
                add_device(out, i, label);
            }
            return CS_OK;
        }
        snprintf(out->notice, sizeof out->notice, "device auto: %s; using the CPU",
                 have_cuda ? "no CUDA GPU found" : "this build has no CUDA backend");
        add_device(out, -1, "cpu");
        return CS_OK;
    case CS_DEVSPEC_CPU:
        if (spec->n_cpu <= 1) {
            add_device(out, -1, "cpu");
            return CS_OK;
        }
        {
            int total = threads > 0 ? threads : (ncores > 0 ? ncores : 1);
            out->threads_each = total / spec->n_cpu > 1 ? total / spec->n_cpu : 1;
        }
        for (int i = 0; i < spec->n_cpu; i++) {
            snprintf(label, sizeof label, "cpu#%d", i);
            add_device(out, -1, label);
        }
        snprintf(out->notice, sizeof out->notice,
                 "testing aid: %d CPU backends with %d thread%s each stand in for the --device list",
                 spec->n_cpu, out->threads_each, out->threads_each == 1 ? "" : "s");
        return CS_OK;
    case CS_DEVSPEC_CUDA_ALL:
    case CS_DEVSPEC_CUDA_LIST:
        if (!have_cuda)
            return CS_FAIL(CS_E_UNSUPPORTED,
                           "device %s: this build has no CUDA backend (rebuild with nvcc and cuDNN "
                           "present and -DCOPYSCOPE_CUDA=ON), use --device cpu", spec->text);
        if (ngpu <= 0) return CS_FAIL(CS_E_UNSUPPORTED, "device %s: no CUDA GPU found on this machine", spec->text);
        if (spec->kind == CS_DEVSPEC_CUDA_ALL) {
            for (int i = 0; i < ngpu && i < CS_DEVICES_MAX; i++) {
                snprintf(label, sizeof label, "cuda:%d", i);
                add_device(out, i, label);
            }
            return CS_OK;
        }
        for (int i = 0; i < spec->n_gpu; i++) {
            if (spec->gpu[i] >= ngpu) {
                memset(out, 0, sizeof *out);
                if (ngpu == 1)
                    return CS_FAIL(CS_E_USAGE, "device '%s': there is no GPU %d (this machine has 1: cuda:0)",
                                   spec->text, spec->gpu[i]);
                return CS_FAIL(CS_E_USAGE, "device '%s': there is no GPU %d (this machine has %d: cuda:0..cuda:%d)",
                               spec->text, spec->gpu[i], ngpu, ngpu - 1);
            }
            snprintf(label, sizeof label, "cuda:%d", spec->gpu[i]);
            add_device(out, spec->gpu[i], label);
        }
        return CS_OK;
    }
    return CS_FAIL(CS_E_INTERNAL, "device spec kind %d", (int)spec->kind);
}

cs_status cs_device_list_get(const char *text, int stand_in, int threads, cs_device_list *out) {
    memset(out, 0, sizeof *out);
    cs_device_spec spec;
    if (stand_in > 0) CS_TRY(cs_device_spec_stand_in(stand_in, &spec));
    else CS_TRY(cs_device_spec_parse(text, &spec));
    int have_cuda = 0, ngpu = 0;
    if (spec.kind != CS_DEVSPEC_CPU) cs_backend_cuda_probe(&have_cuda, &ngpu);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    cs_status st = cs_device_list_resolve(&spec, have_cuda, ngpu, threads, nc > 0 ? (int)nc : 1, out);
    if (!have_cuda && spec.kind != CS_DEVSPEC_CPU) { /* say why there is no cuda here */
        const char *why = cs_backend_cuda_why();
        if (st == CS_E_UNSUPPORTED && why[0])
            return CS_FAIL(st, "device %s: %s; use --device cpu", spec.text, why);
        if (st == CS_OK && out->notice[0] && why[0])
            snprintf(out->notice, sizeof out->notice, "device auto: %s; using the CPU", why);
    }
    return st;
}

/* ---- the scheduler ------------------------------------------------------------------------ */

typedef struct cs_worker {
    struct cs_sched *s;
    int index;
    cs_model *model;
    pthread_t thread;
    int started;         /* the thread exists (join it) */
    int ready;           /* model creation finished, ok or not (under s->mu) */
    cs_status create_st;
    char create_msg[1024];
    char desc[640];      /* "cuda:1 [NVIDIA H100 ...]" */
} cs_worker;

struct cs_sched {
    cs_device_list devs;
    const cs_weights *w;
    cs_sched_opts o;        /* o.precision: the caller's, outlives the scheduler */
    int inline_run;
    int nw;
    cs_worker *wk;          /* (nw) */

    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t cv_work; /* a batch was queued, or shutdown */
    pthread_cond_t cv_done; /* a batch finished, or a worker became ready */
    cs_sched_batch *q_head, *q_tail; /* queued, FIFO */
    cs_sched_batch *d_head, *d_tail; /* finished, in completion order */
    size_t outstanding;     /* submitted and not yet returned by cs_sched_next_done */
    int cancel, shutdown;

    void **host;            /* buffers of cs_sched_host_alloc (producer thread only) */
    size_t n_host, cap_host;
};

static void push(cs_sched_batch **head, cs_sched_batch **tail, cs_sched_batch *b) {
    b->next = NULL;
    if (*tail) (*tail)->next = b;
    else *head = b;
    *tail = b;
}

static cs_sched_batch *pop(cs_sched_batch **head, cs_sched_batch **tail) {
    cs_sched_batch *b = *head;
    if (b) {
        *head = b->next;
        if (!*head) *tail = NULL;
        b->next = NULL;
    }
    return b;
}

static cs_status create_model(cs_sched *s, cs_worker *wk) {
    const cs_device *d = &s->devs.dev[wk->index];
    char dev[32];
    if (d->gpu < 0) snprintf(dev, sizeof dev, "cpu");
    else snprintf(dev, sizeof dev, "cuda:%d", d->gpu);
    cs_status st = cs_model_create_testing(s->w, dev, s->o.precision, s->devs.threads_each, &s->o.model, &wk->model);
    if (st != CS_OK) {
        snprintf(wk->create_msg, sizeof wk->create_msg, "%s", cs_last_error());
        return st;
    }
    snprintf(wk->desc, sizeof wk->desc, "%s [%s]", d->label, cs_model_device_name(wk->model));
    return CS_OK;
}

static void batch_message(cs_worker *wk, cs_sched_batch *b) {
    snprintf(b->msg, sizeof b->msg, "device %s failed on batch %zu (input images %zu..%zu, %d to compute): %s",
             wk->desc, b->id, b->first, b->first + b->count - 1, b->m, cs_last_error());
}

/* Start batch b in the model's pipeline slot; on failure b is finished (st, msg) and 0 returned. */
static int start_batch(cs_sched *s, cs_worker *wk, cs_sched_batch *b, int slot) {
    cs_status st;
    b->device = wk->index;
    if (s->o.fail && b->id == s->o.fail_batch)
        st = CS_FAIL(CS_E_DEVICE, "injected failure (testing aid: batch %zu fails)", b->id);
    else if (b->input)
        st = cs_model_submit(wk->model, slot, b->input, b->m, s->o.dims, b->feat);
    else
        st = cs_model_submit_rgb(wk->model, slot, b->rgb, b->rgb_bytes, b->items, b->m, s->o.dims, b->feat);
    b->st = st;
    if (st != CS_OK) batch_message(wk, b);
    return st == CS_OK;
}

/* Finish a started batch: wait for its slot (the message, thread-local in the worker, goes into b). */
static void finish_batch(cs_worker *wk, cs_sched_batch *b, int slot) {
    b->st = cs_model_collect(wk->model, slot);
    if (b->st != CS_OK) batch_message(wk, b);
}

/* Run one batch to completion (the inline scheduler). */
static void run_batch(cs_sched *s, cs_worker *wk, cs_sched_batch *b) {
    if (start_batch(s, wk, b, 0)) finish_batch(wk, b, 0);
}

static void cancel_batch(cs_sched_batch *b) {
    b->st = CS_E_INTERRUPTED;
    b->device = -1;
    snprintf(b->msg, sizeof b->msg, "batch %zu cancelled", b->id);
}

static void deliver(cs_sched *s, cs_sched_batch *b) {
    pthread_mutex_lock(&s->mu);
    push(&s->d_head, &s->d_tail, b);
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
}

/* A device thread: up to two batches in flight on a model with asynchronous transfers (one
 * elsewhere: there submit already ran the batch, and holding it would only hold its slot). It
 * takes a queued batch whenever a pipeline slot is free (waiting for one only when nothing is
 * in flight), and otherwise finishes the oldest in flight, so that batch t+1 is uploaded while
 * batch t computes whenever the producer is ahead. Each device returns its batches in the order
 * it started them. */
static void *worker_main(void *arg) {
    cs_worker *wk = arg;
    cs_sched *s = wk->s;
    cs_status cst = create_model(s, wk);
    pthread_mutex_lock(&s->mu);
    wk->create_st = cst;
    wk->ready = 1;
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    if (cst != CS_OK) return NULL;
    cs_sched_batch *fly[2] = {NULL, NULL}; /* in flight, by model slot */
    int oldest = 0;                        /* slot of the older batch in flight */
    const int depth = cs_model_async(wk->model) ? 2 : 1;
    for (;;) {
        const int n_fly = (fly[0] != NULL) + (fly[1] != NULL);
        pthread_mutex_lock(&s->mu);
        if (n_fly == 0)
            while (!s->q_head && !s->shutdown) pthread_cond_wait(&s->cv_work, &s->mu);
        cs_sched_batch *b = n_fly < depth ? pop(&s->q_head, &s->q_tail) : NULL;
        const int cancelled = s->cancel;
        pthread_mutex_unlock(&s->mu);
        if (b) {
            if (cancelled) {
                cancel_batch(b);
                deliver(s, b);
                continue;
            }
            const int slot = fly[0] ? 1 : 0;
            if (!start_batch(s, wk, b, slot)) {
                deliver(s, b);
                continue;
            }
            if (n_fly == 0) oldest = slot;
            fly[slot] = b;
            if (n_fly + 1 < depth) continue; /* room for one more: take it if it is already queued */
        }
        if (n_fly == 0 && !b) return NULL; /* shutdown, nothing queued or in flight */
        if (!fly[oldest]) oldest ^= 1;
        cs_sched_batch *done = fly[oldest];
        fly[oldest] = NULL;
        finish_batch(wk, done, oldest);
        oldest ^= 1;
        deliver(s, done);
    }
}

cs_status cs_sched_create(const cs_device_list *devs, const cs_weights *w, const cs_sched_opts *o,
                          cs_sched **out) {
    *out = NULL;
    if (devs->n < 1 || devs->n > CS_DEVICES_MAX) return CS_FAIL(CS_E_USAGE, "no device to run on");
    cs_sched *s = cs_calloc(1, sizeof *s, "scheduler");
    if (!s) return CS_E_NOMEM;
    s->devs = *devs;
    s->w = w;
    s->o = *o;
    s->inline_run = devs->n == 1 && devs->dev[0].gpu < 0;
    s->nw = devs->n;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    s->wk = cs_calloc((size_t)s->nw, sizeof *s->wk, "device workers");
    if (!s->wk) {
        cs_sched_free(s);
        return CS_E_NOMEM;
    }
    for (int i = 0; i < s->nw; i++) {
        s->wk[i].s = s;
        s->wk[i].index = i;
    }
    cs_status st = CS_OK;
    if (s->inline_run) {
        st = create_model(s, &s->wk[0]);
        s->wk[0].create_st = st;
        s->wk[0].ready = 1;
    } else {
        for (int i = 0; i < s->nw; i++) {
            int e = pthread_create(&s->wk[i].thread, NULL, worker_main, &s->wk[i]);
            if (e != 0) {
                st = CS_FAIL(CS_E_NOMEM, "cannot start the thread of device %s: %s", devs->dev[i].label,
                             strerror(e));
                break;
            }
            s->wk[i].started = 1;
        }
        /* wait until every started worker has its model (or failed to make it) */
        pthread_mutex_lock(&s->mu);
        for (;;) {
            int waiting = 0;
            for (int i = 0; i < s->nw; i++) waiting += s->wk[i].started && !s->wk[i].ready;
            if (!waiting) break;
            pthread_cond_wait(&s->cv_done, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < s->nw && st == CS_OK; i++)
        if (s->wk[i].ready && s->wk[i].create_st != CS_OK)
            st = cs_error_set(s->wk[i].create_st, __FILE__, __LINE__, "device %s: %s", devs->dev[i].label,
                              s->wk[i].create_msg);
    if (st != CS_OK) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", cs_last_error());
        cs_sched_free(s);
        return cs_error_set(st, __FILE__, __LINE__, "%s", keep);
    }
    *out = s;
    return CS_OK;
}

void cs_sched_free(cs_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->shutdown = 1;
    s->cancel = 1;
    pthread_cond_broadcast(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; s->wk && i < s->nw; i++)
        if (s->wk[i].started) pthread_join(s->wk[i].thread, NULL);
    for (size_t i = 0; i < s->n_host; i++) cs_model_host_free(s->wk[0].model, s->host[i]);
    free(s->host);
    for (int i = 0; s->wk && i < s->nw; i++) cs_model_free(s->wk[i].model);
    free(s->wk);
    pthread_cond_destroy(&s->cv_done);
    pthread_cond_destroy(&s->cv_work);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void cs_sched_submit(cs_sched *s, cs_sched_batch *b) {
    b->st = CS_OK;
    b->device = -1;
    b->msg[0] = '\0';
    b->next = NULL;
    pthread_mutex_lock(&s->mu);
    s->outstanding++;
    if (s->inline_run) {
        int cancelled = s->cancel;
        pthread_mutex_unlock(&s->mu);
        if (cancelled) cancel_batch(b);
        else run_batch(s, &s->wk[0], b);
        pthread_mutex_lock(&s->mu);
        push(&s->d_head, &s->d_tail, b);
    } else {
        push(&s->q_head, &s->q_tail, b);
        pthread_cond_signal(&s->cv_work);
    }
    pthread_mutex_unlock(&s->mu);
}

cs_sched_batch *cs_sched_next_done(cs_sched *s, int block) {
    pthread_mutex_lock(&s->mu);
    while (!s->d_head && block && s->outstanding > 0) pthread_cond_wait(&s->cv_done, &s->mu);
    cs_sched_batch *b = pop(&s->d_head, &s->d_tail);
    if (b) s->outstanding--;
    pthread_mutex_unlock(&s->mu);
    return b;
}

void cs_sched_cancel(cs_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->cancel = 1;
    pthread_mutex_unlock(&s->mu);
}

int cs_sched_inline(const cs_sched *s) { return s->inline_run; }
int cs_sched_preprocesses(const cs_sched *s) { return cs_model_preprocesses(s->wk[0].model); }
int cs_sched_devices(const cs_sched *s) { return s->nw; }
const char *cs_sched_device_desc(const cs_sched *s, int i) {
    return i >= 0 && i < s->nw ? s->wk[i].desc : "";
}

cs_status cs_sched_host_alloc(cs_sched *s, size_t bytes, void **out) {
    *out = NULL;
    if (s->n_host == s->cap_host) {
        size_t nc = s->cap_host ? 2 * s->cap_host : 8;
        void **nh = realloc(s->host, nc * sizeof *nh);
        if (!nh) return CS_FAIL(CS_E_NOMEM, "out of memory");
        s->host = nh;
        s->cap_host = nc;
    }
    CS_TRY(cs_model_host_alloc(s->wk[0].model, bytes, out));
    s->host[s->n_host++] = *out;
    return CS_OK;
}

void cs_sched_host_free(cs_sched *s, void *p) {
    if (!p) return;
    for (size_t i = 0; i < s->n_host; i++)
        if (s->host[i] == p) {
            cs_model_host_free(s->wk[0].model, p);
            s->host[i] = s->host[--s->n_host];
            return;
        }
}

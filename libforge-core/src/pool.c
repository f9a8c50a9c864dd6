/*
 * The runtime's thread pool: a fixed number of threads over one bounded FIFO.
 *
 * Why not libuv's uv_queue_work: see docs/adr/0040-runtime-threads.md. In
 * short, it must be called on the loop thread (a host thread would need a hop
 * through the loop for every blocking request), its pool is process-global
 * and sized once by UV_THREADPOOL_SIZE, and its queue is unbounded, so it
 * cannot say "busy" or drain one runtime's jobs on stop.
 *
 * One mutex guards the ring. Submit signals only when a thread is idle, so a
 * busy pool takes no futex wake per job.
 */
#include "runtime_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local const forge_runtime *tls_pool_owner;

bool forge__pool_on_thread(const forge_runtime *owner)
{
    return owner && tls_pool_owner == owner;
}

static void *pool_main(void *arg)
{
    forge__pool *p = arg;
    tls_pool_owner = p->owner;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (p->count == 0)
            break; /* stopping and drained */
        forge__job job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->mu);
        job.fn(job.arg);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int forge__pool_init(forge__pool *p, int threads, size_t queue_max, const forge_runtime *owner,
                     forge_error *err)
{
    memset(p, 0, sizeof(*p));
    p->owner = owner;
    p->cap = queue_max;
    p->ring = calloc(queue_max, sizeof(*p->ring));
    p->threads = calloc((size_t)threads, sizeof(*p->threads));
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        return forge_error_set(err, FORGE_ENOMEM, "runtime: out of memory for the thread pool");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);

    /* Pool threads take no signals: the host's own threads handle them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < threads; i++) {
        rc = pthread_create(&p->threads[i], NULL, pool_main, p);
        if (rc != 0)
            break;
        char name[16]; /* the kernel's limit, NUL included */
        snprintf(name, sizeof(name), "forge-pool-%d", i % 10000);
        pthread_setname_np(p->threads[i], name);
        p->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        forge__pool_drain(p);
        forge__pool_destroy(p);
        return forge_error_set(err, FORGE_ENOMEM, "runtime: cannot start pool thread %d of %d: %s",
                               p->nthreads + 1, threads, strerror(rc));
    }
    return 0;
}

int forge__pool_submit(forge__pool *p, forge_task_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return FORGE_ESTATE;
    }
    if (p->count == p->cap) {
        pthread_mutex_unlock(&p->mu);
        return FORGE_EBUSY;
    }
    p->ring[(p->head + p->count) % p->cap] = (forge__job){fn, arg};
    p->count++;
    if (p->idle > 0)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void forge__pool_drain(forge__pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void forge__pool_destroy(forge__pool *p)
{
    if (!p->ring)
        return;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->ring);
    free(p->threads);
    p->ring = NULL;
    p->threads = NULL;
}

size_t forge__pool_queued(forge__pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

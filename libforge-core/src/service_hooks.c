/*
 * Lifecycle phase hooks: registration and running one phase in priority
 * order (lower first, ties in registration order).
 */
#include "service_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *phase_name(forge_phase p)
{
    switch (p) {
    case FORGE_PHASE_BEFORE_START:
        return "before-start";
    case FORGE_PHASE_AFTER_START:
        return "after-start";
    case FORGE_PHASE_BEFORE_STOP:
        return "before-stop";
    case FORGE_PHASE_AFTER_STOP:
        return "after-stop";
    }
    return "unknown";
}

int forge_app_hook(forge_app *app, forge_phase phase, int priority, forge_hook_fn fn, void *udata,
                   forge_error *err)
{
    if (!fn)
        return forge_error_set(err, FORGE_EINVAL, "a hook needs a function");
    if (phase < FORGE_PHASE_BEFORE_START || phase > FORGE_PHASE_AFTER_STOP)
        return forge_error_set(err, FORGE_EINVAL, "unknown lifecycle phase %d", (int)phase);
    struct forge__services *s = app->services;
    pthread_mutex_lock(&s->mu);
    if (s->in_lifecycle) {
        pthread_mutex_unlock(&s->mu);
        return forge_error_set(err, FORGE_ESTATE,
                               "cannot add a hook while the app starts or stops");
    }
    if (s->nhooks == s->hcap) {
        size_t cap = s->hcap ? s->hcap * 2 : 8;
        struct svc_hook *v = realloc(s->hooks, cap * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&s->mu);
            return forge_error_set(err, FORGE_ENOMEM, "out of memory");
        }
        s->hooks = v;
        s->hcap = cap;
    }
    s->hooks[s->nhooks++] = (struct svc_hook){phase, priority, s->hseq++, fn, udata};
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int hook_cmp(const void *a, const void *b)
{
    const struct svc_hook *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Caller holds s->mu. */
int forge__hooks_run(forge_app *app, forge_phase phase, bool stop_on_error, forge_error *err)
{
    struct forge__services *s = app->services;
    size_t n = 0;
    for (size_t i = 0; i < s->nhooks; i++)
        n += s->hooks[i].phase == phase;
    if (n == 0)
        return 0;
    struct svc_hook *run = malloc(n * sizeof(*run));
    if (!run)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < s->nhooks; i++)
        if (s->hooks[i].phase == phase)
            run[k++] = s->hooks[i];
    qsort(run, n, sizeof(*run), hook_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        forge_error herr;
        forge_error_clear(&herr);
        int hrc = run[i].fn(app, phase, run[i].udata, &herr);
        if (hrc >= 0)
            continue;
        if (stop_on_error) {
            if (err) {
                forge_error_clear(err);
                snprintf(err->cause, sizeof(err->cause), "%s",
                         herr.message[0] ? herr.message : forge_strerror(hrc));
            }
            rc = forge_error_set(err, hrc, "%s hook (priority %d) failed: %.300s",
                                 phase_name(phase), run[i].priority,
                                 herr.message[0] ? herr.message : forge_strerror(hrc));
            break;
        }
        forge_logf(app->log, FORGE_LOG_ERROR, NULL, "%s hook (priority %d) failed: %s",
                   phase_name(phase), run[i].priority,
                   herr.message[0] ? herr.message : forge_strerror(hrc));
    }
    free(run);
    return rc;
}

/*
 * The audit log: authentication failures, permission denials, rate-limit
 * refusals and the app's own admin actions as JSON lines. With
 * `security.audit.file` they go to that file alone (opened O_APPEND, one
 * write(2) per line, so workers' lines never interleave); otherwise to the
 * app's log with msg "audit". Records never hold credentials: the
 * middleware logs reasons and ids, never token or key bytes, and fields the
 * app passes under credential-like names are written as "***".
 */
#include "sec_impl.h"

#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void sink(void *udata, forge_log_level level, const char *line, size_t len)
{
    forge__sec *s = udata;
    char buf[4096];
    if (len + 1 <= sizeof(buf)) {
        memcpy(buf, line, len);
        buf[len] = '\n';
        ssize_t w = write(s->audit_fd, buf, len + 1);
        (void)w;
    } else {
        ssize_t w = write(s->audit_fd, line, len);
        w = write(s->audit_fd, "\n", 1);
        (void)w;
    }
}

int forge__sec_audit_open(forge__sec *s, const char *path, forge_error *err)
{
    if (strcmp(path, "stderr") == 0) {
        s->audit_fd = 2;
    } else {
        char *p = forge__sec_path(s->base_dir, path);
        s->audit_fd = p ? open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
        free(p);
        if (s->audit_fd < 0)
            return forge_error_setk(err, FORGE_ECONFIG, "security.audit.file",
                                    "security.audit.file: cannot open %.300s for appending", path);
    }
    s->audit = forge_log_new();
    if (!s->audit)
        return forge_error_set(err, FORGE_ENOMEM, "out of memory");
    forge_log_set_format(s->audit, FORGE_LOG_JSON);
    forge_log_set_level(s->audit, FORGE_LOG_TRACE);
    forge_log_set_sink(s->audit, sink, s);
    return 0;
}

static bool credential_name(const char *k)
{
    static const char *const names[] = {"token",   "password", "passwd", "secret", "authorization",
                                        "api_key", "apikey",   "cookie", NULL};
    for (size_t i = 0; names[i]; i++)
        if (k && strcasestr(k, names[i]))
            return true;
    return false;
}

void forge__sec_audit_event(forge__sec *s, forge_req *req, forge_log_level lvl, const char *event,
                            const forge_log_field *f, size_t n)
{
    forge_log *log = s->audit ? s->audit : forge_app_log(s->app);
    if (!forge_log_enabled(log, lvl))
        return;
    forge_log_field all[24];
    size_t k = 0;
    all[k++] = FORGE_F_STR("audit", event);
    if (req) {
        const char *route = forge_req_route_pattern(req);
        forge_str peer = forge_req_peer(req);
        char *pc = forge_arena_strndup(forge_req_arena(req), peer.p ? peer.p : "", peer.n);
        all[k++] = FORGE_F_STR("method", forge_method_name(forge_req_method(req)));
        all[k++] = FORGE_F_STR("route", route ? route : "");
        all[k++] = FORGE_F_STR("peer", pc ? pc : "");
        const forge_principal *p = forge_req_principal(req);
        if (p && p->subject)
            all[k++] = FORGE_F_STR("subject", p->subject);
    }
    for (size_t i = 0; i < n && k < sizeof(all) / sizeof(all[0]); i++) {
        all[k] = f[i];
        if (f[i].type == FORGE_LF_STR && credential_name(f[i].key))
            all[k].type = FORGE_LF_SECRET;
        k++;
    }
    forge_log_emit(log, lvl, req, s->audit ? event : "audit", all, k);
}

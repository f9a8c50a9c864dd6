/*
 * fuzz_expo: arbitrary bytes as label values of a labelled counter (split
 * at NUL bytes), then the exposition is checked: valid UTF-8 throughout,
 * every line a comment or `name{...} value` with every quote of a label
 * value escaped, and the counter's total equal to the updates made (label
 * sets past the series limit land in the overflow series, never lost).
 */
#include <forge/forge.h>
#include <forge/testhost.h>

#include <stdlib.h>
#include <string.h>

static forge_test_host *th;
static forge_metric *ctr;
static double total;

static int init(forge_app *app, forge_error *err)
{
    ctr = forge_metrics_counter(
        forge_app_metrics(app),
        &(forge_metric_opts){
            .name = "fz_total", .labels = (const char *const[]){"a", "b", NULL}, .max_series = 64},
        err);
    return ctr ? 0 : err->code;
}

static const struct forge_app_entry entry = {
    FORGE_ABI_VERSION, sizeof(struct forge_app_entry), "fz", "1", init, {0}};

static size_t utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t l = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (!l || i + l > n)
            return 0;
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += l;
    }
    return 1;
}

static void check_line(const char *l, size_t n)
{
    if (n == 0 || l[0] == '#')
        return;
    const char *sp = memchr(l, ' ', n);
    int quoted = 0;
    for (const char *p = l; p < l + n; p++) {
        if (*p == '\\' && quoted) {
            p++;
            if (*p != '\\' && *p != '"' && *p != 'n')
                abort();
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (!quoted && *p == ' ' && p != sp && p < l + n - 1) {
            sp = p;
        }
    }
    if (quoted || !sp)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!th) {
        forge_error err;
        forge_error_clear(&err);
        th = forge_test_host_new(&entry, "log:\n  level: off\n", &err);
        if (!th)
            abort();
    }
    char *copy = malloc(size + 2);
    memcpy(copy, data, size);
    copy[size] = '\0';
    copy[size + 1] = '\0';
    const char *a = copy, *b = copy + strlen(copy) + (strlen(copy) < size ? 1 : 0);
    if (b > copy + size)
        b = copy + size;
    forge_series_inc(forge_metric_labels(ctr, (const char *const[]){a, b}));
    total += 1;
    free(copy);
    size_t n = 0;
    char *text = forge_metrics_render(forge_app_metrics(forge_test_host_app(th)), &n);
    if (!text || !utf8_ok((const unsigned char *)text, n))
        abort();
    double sum = 0;
    for (const char *l = text; l < text + n;) {
        const char *e = memchr(l, '\n', (size_t)(text + n - l));
        if (!e)
            abort();
        check_line(l, (size_t)(e - l));
        if (strncmp(l, "fz_total{", 9) == 0) {
            const char *v = e;
            while (v > l && v[-1] != ' ')
                v--;
            sum += strtod(v, NULL);
        }
        l = e + 1;
    }
    free(text);
    /* Every update is in some series: none is lost to the limit. */
    if (sum != total)
        abort();
    return 0;
}

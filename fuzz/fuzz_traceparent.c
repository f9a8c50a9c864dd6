/*
 * fuzz_traceparent: forge_traceparent_parse on any bytes. An accepted value
 * is checked against the W3C rules by a reference reading (fixed dashes,
 * lowercase hex, non-zero ids, version not ff, exact length for 00), and
 * its formatting parses back to the same context.
 */
#include <forge/forge.h>

#include <stdlib.h>
#include <string.h>

static int lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int reference_ok(const char *s, size_t n)
{
    if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return 0;
    for (size_t i = 0; i < 55; i++)
        if (i != 2 && i != 35 && i != 52 && !lhex(s[i]))
            return 0;
    if (s[0] == 'f' && s[1] == 'f')
        return 0;
    if (s[0] == '0' && s[1] == '0' && n != 55)
        return 0;
    if (n > 55 && s[55] != '-')
        return 0;
    int tz = 1, sz = 1;
    for (int i = 3; i < 35; i++)
        tz &= s[i] == '0';
    for (int i = 36; i < 52; i++)
        sz &= s[i] == '0';
    return !tz && !sz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    forge_trace_ctx c, d;
    int rc = forge_traceparent_parse(s, size, &c);
    if ((rc == 0) != reference_ok(s, size))
        abort();
    if (rc == 0) {
        char buf[64];
        if (forge_traceparent_format(&c, buf, sizeof(buf)) != 55 ||
            forge_traceparent_parse(buf, 55, &d) != 0 || memcmp(&c, &d, sizeof(c)) != 0)
            abort();
        (void)forge_trace_sampled_by_ratio(c.trace_id, 0.5);
    }
    return 0;
}

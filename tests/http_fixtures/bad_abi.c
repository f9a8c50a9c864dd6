/* An app entry that claims an ABI this core does not have. */
#include <forge/forge.h>

static int init(forge_app *app, forge_error *err)
{
    return 0;
}

FORGE_EXPORT const struct forge_app_entry forge_app_entry = {
    FORGE_ABI_VERSION + 41,
    (uint32_t)sizeof(struct forge_app_entry),
    "bad_abi",
    "0.0.1",
    init,
    {0}};

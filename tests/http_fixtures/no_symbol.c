/* A shared object without the app entry symbol. */
#include <forge/forge.h>

FORGE_EXPORT int forge_not_an_app(void);

FORGE_EXPORT int forge_not_an_app(void)
{
    return 1;
}

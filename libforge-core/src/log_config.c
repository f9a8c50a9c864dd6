/*
 * Applying the `log` section of the configuration to a logger.
 */
#include "log_internal.h"

int forge_log_configure(forge_log *log, forge_config *cfg, forge_error *err)
{
    if (!log || !cfg)
        return forge_error_set(err, FORGE_EINVAL, "forge_log_configure: no logger or config");
    forge_log_level level = FORGE_LOG_INFO;
    forge_log_format format = FORGE_LOG_TEXT;
    const char *s;
    /* Declaring applies FORGE_LOG_LEVEL / FORGE_LOG__LEVEL and marks the keys known. */
    int rc = forge_config_declare(cfg, "log.level", 0, err);
    if (rc == 0)
        rc = forge_config_declare(cfg, "log.format", 0, err);
    if (rc)
        return rc;
    rc = forge_config_get_string(cfg, "log.level", &s, err);
    if (rc == 0 && forge_log_level_parse(s, &level) != 0)
        return forge_error_setk(err, FORGE_ECONFIG, "log.level",
                                "log.level: expected one of trace, debug, info, warn, error, "
                                "fatal, off, got \"%.32s\"",
                                forge_config_is_secret(cfg, "log.level") ? "***" : s);
    if (rc != 0 && rc != FORGE_ENOENT)
        return rc;
    rc = forge_config_get_string(cfg, "log.format", &s, err);
    if (rc == 0 && forge_log_format_parse(s, &format) != 0)
        return forge_error_setk(err, FORGE_ECONFIG, "log.format",
                                "log.format: expected text or json, got \"%.32s\"",
                                forge_config_is_secret(cfg, "log.format") ? "***" : s);
    if (rc != 0 && rc != FORGE_ENOENT)
        return rc;
    forge_error_clear(err);
    forge_log_set_level(log, level);
    forge_log_set_format(log, format);
    return 0;
}

/*
 * Forge: the whole public API for apps.
 */
#ifndef FORGE_H
#define FORGE_H

#include <forge/common.h>
#include <forge/error.h>
#include <forge/arena.h>
#include <forge/http.h>
#include <forge/router.h>
#include <forge/middleware.h>
#include <forge/route.h>
#include <forge/request.h>
#include <forge/response.h>
#include <forge/app.h>
#include <forge/config.h>
#include <forge/log.h>
#include <forge/di.h>
#include <forge/runtime.h>
#include <forge/metrics.h>
#include <forge/health.h>
#include <forge/trace.h>

#endif

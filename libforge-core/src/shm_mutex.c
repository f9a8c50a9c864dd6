/*
 * Robust process-shared mutexes for data in shared memory.
 *
 * A worker may die (crash, SIGKILL) while holding one. The mutex is robust:
 * the next locker gets EOWNERDEAD, marks it consistent and carries on holding
 * it, so the other workers never deadlock. The data it protects may be
 * half-updated by the dead holder; code that cares keeps its updates
 * idempotent or checkable (a sequence number, a checksum).
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>

int forge_shm_mutex_init(void *mutex_storage)
{
    if (!mutex_storage)
        return FORGE_EINVAL;
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0)
        return FORGE_ENOMEM;
    int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(mutex_storage, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? 0 : -rc;
}

int forge_shm_mutex_lock(void *mutex)
{
    if (!mutex)
        return FORGE_EINVAL;
    int rc = pthread_mutex_lock(mutex);
    if (rc == EOWNERDEAD)
        rc = pthread_mutex_consistent(mutex);
    return rc == 0 ? 0 : -rc;
}

void forge_shm_mutex_unlock(void *mutex)
{
    if (mutex)
        pthread_mutex_unlock(mutex);
}

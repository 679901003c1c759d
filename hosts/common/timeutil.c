/* timeutil.c - clocks and timestamp formatting (see timeutil.h). */
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>

/* Reads CLOCK_REALTIME in milliseconds. */
int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads CLOCK_MONOTONIC in milliseconds; immune to wall-clock jumps. */
int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 with milliseconds, as E2B's API prints startedAt/endAt. */
void time_rfc3339_ms(int64_t ms, char *out, size_t outsz)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* protojson prints the shortest of 0/3/6/9 fractional digits that is exact. */
void time_rfc3339_proto(const struct timespec *ts, char *out, size_t outsz)
{
    struct tm tm;
    time_t s = ts->tv_sec;
    gmtime_r(&s, &tm);
    long ns = ts->tv_nsec;
    if (ns < 0 || ns > 999999999)
        ns = 0;
    char frac[32] = "";
    if (ns != 0) {
        if (ns % 1000000 == 0)
            snprintf(frac, sizeof frac, ".%03ld", ns / 1000000);
        else if (ns % 1000 == 0)
            snprintf(frac, sizeof frac, ".%06ld", ns / 1000);
        else
            snprintf(frac, sizeof frac, ".%09ld", ns);
    }
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Absolute monotonic deadline for pthread_cond_timedwait. */
void time_abs_mono(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Condition variables in this code base all wait on the monotonic clock. */
int time_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/* nanosleep loop that survives EINTR. */
void time_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/*
 * timeutil.h - clocks and timestamp formatting shared by the servers.
 */
#ifndef COMMON_TIMEUTIL_H
#define COMMON_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock milliseconds since the Unix epoch. */
int64_t time_now_ms(void);

/* Monotonic milliseconds (for deadlines and durations). */
int64_t time_mono_ms(void);

/* Formats wall-clock ms as RFC 3339 UTC with millisecond precision,
 * e.g. "2025-01-01T00:00:00.123Z".  `out` needs 32 bytes. */
void time_rfc3339_ms(int64_t ms, char *out, size_t outsz);

/* Formats a timespec the way protobuf's JSON mapping prints a Timestamp:
 * UTC, "Z", with 0, 3, 6 or 9 fractional digits.  `out` needs 40 bytes. */
void time_rfc3339_proto(const struct timespec *ts, char *out, size_t outsz);

/* Fills an absolute CLOCK_MONOTONIC timespec `ms` milliseconds from now, for
 * pthread_cond_timedwait on condition variables using the monotonic clock. */
void time_abs_mono(struct timespec *ts, int64_t ms);

/* Initializes a condition variable that waits on CLOCK_MONOTONIC. */
#include <pthread.h>
int time_cond_init(pthread_cond_t *c);

/* Sleeps for `ms` milliseconds (restarting after signals). */
void time_sleep_ms(int64_t ms);

#endif

/*
 * log.h - timestamped diagnostic lines on stderr.
 *
 * One line per call, written with a single write(2) so lines from different
 * threads never interleave.  The program name given to log_init() prefixes
 * every line ("sandboxd: ...").
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>

/* Sets the prefix (program name) and whether debug lines are printed. */
void log_init(const char *prog, bool debug);

/* Informational line. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warning line ("WARNING: ..."). */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Error line ("ERROR: ..."). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Debug line, printed only when debug output is enabled. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when debug output is enabled. */
bool log_debug_enabled(void);

#endif

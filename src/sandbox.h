/*-------------------------------------------------------------------------
 *
 * sandbox.h
 *	  Small text helpers shared by every file of the sandbox extension
 *	  (textutil.c), and the settings (settings.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include "pgcompat.h"
#include "settings.h"

/* textutil.c */
extern text *sandbox_bytes_to_text(const char *data, size_t len);
extern char *sandbox_bytes_to_cstring(const char *data, size_t len);
extern char *sandbox_truncate_for_message(const char *data, size_t len, size_t max);
extern char *sandbox_vformat(const char *fmt, va_list ap) pg_attribute_printf(1, 0);

#endif							/* SANDBOX_H */

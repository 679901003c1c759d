/*-------------------------------------------------------------------------
 *
 * pgcompat.h
 *	  What every file needs from PostgreSQL, made to build with gcc and
 *	  clang alike.
 *
 * PostgreSQL's headers say format(gnu_printf) when the server was built with
 * gcc; clang knows only printf and warns.  Our own format-checked functions
 * use printf under clang, so -Werror applies to our code's warnings only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_PGCOMPAT_H
#define SANDBOX_PGCOMPAT_H

#include "postgres.h"

#if defined(__clang__)
#undef pg_attribute_printf
#define pg_attribute_printf(f,a) __attribute__((format(printf, f, a)))
#endif

#endif							/* SANDBOX_PGCOMPAT_H */

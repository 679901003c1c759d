/*-------------------------------------------------------------------------
 *
 * call_error.h
 *	  What went wrong with a call to E2B or an LLM, as data.
 *
 * The worker records a CallError in the run's events and decides whether to
 * retry; the synchronous functions turn it into an ereport with an errcode,
 * the provider's answer in errdetail, and a hint where a fix exists.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_CALL_ERROR_H
#define SANDBOX_CALL_ERROR_H

#include "pgcompat.h"
#include "http.h"

typedef enum CallErrorKind
{
	CALL_OK = 0,
	CALL_TRANSPORT,				/* connection refused, reset, DNS */
	CALL_TIMEOUT,				/* our own HTTP timeout passed */
	CALL_CANCELED,				/* we aborted the transfer */
	CALL_TOO_LARGE,				/* response over our cap */
	CALL_AUTH,					/* 401, or 403 from the E2B API or the model */
	CALL_FORBIDDEN,				/* 403 from the sandbox: a path or resource
								 * it refuses, not our credentials */
	CALL_NOT_FOUND,				/* 404 (or a dead sandbox's 502) */
	CALL_RATE_LIMIT,			/* 429 */
	CALL_SERVER,				/* 5xx, 529 */
	CALL_CLIENT,				/* any other 4xx */
	CALL_PROTOCOL,				/* an answer we cannot understand */
	CALL_REDIRECT,				/* cross-origin redirect refused */
	CALL_DEADLINE				/* the remote side's deadline passed */
} CallErrorKind;

typedef enum CallService
{
	SERVICE_E2B_API,
	SERVICE_ENVD,
	SERVICE_INTERPRETER,
	SERVICE_LLM
} CallService;

typedef struct CallError
{
	CallErrorKind kind;
	CallService service;
	long		status;
	char	   *code;			/* provider's error code or type, or NULL */
	char	   *message;		/* provider's message or the transport error */
	int			retry_after_ms; /* -1 when not given */
} CallError;

extern void call_error_clear(CallError *err);
extern bool call_error_from_http(HttpRequest *req, CallService service, CallError *err);
extern void call_error_set(CallError *err, CallErrorKind kind, const char *fmt,...) pg_attribute_printf(3, 4);
extern bool call_error_retryable(const CallError *err);
extern const char *call_error_kind_name(CallErrorKind kind);
extern const char *call_service_name(CallService service);
extern char *call_error_describe(const CallError *err);
extern void call_error_raise(const CallError *err, const char *action,
							 const char *sandbox_id) pg_attribute_noreturn();

#endif							/* SANDBOX_CALL_ERROR_H */

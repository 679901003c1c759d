/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The HTTP layer over libcurl, shared by the synchronous SQL functions
 *	  (which drive one request at a time from the calling backend) and the
 *	  background worker (which drives hundreds through a curl multi handle).
 *
 * Rules this layer keeps:
 *	- libcurl callbacks never palloc, ereport or longjmp: they only copy
 *	  bytes into malloc'd buffers and set flags.  Everything that can raise
 *	  an error happens after curl returns.
 *	- Every libcurl resource of a request is released when the memory
 *	  context that holds the request is reset or deleted, so an error (or a
 *	  cancel) in the middle of a transfer leaks nothing.
 *	- Secrets travel in headers only; they never appear in a URL, so curl's
 *	  error text can be shown to users.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_HTTP_H
#define SANDBOX_HTTP_H

#include <curl/curl.h>

#include "postgres.h"
#include "datatype/timestamp.h"
#include "lib/ilist.h"
#include "utils/memutils.h"

typedef struct HttpRequest HttpRequest;

/* Called, outside any libcurl callback, when new response bytes arrive. */
typedef void (*HttpStreamFn) (HttpRequest *req, void *arg);

struct HttpRequest
{
	/* request, owned by libcurl's malloc world */
	CURL	   *easy;
	char	   *method;
	char	   *url;
	struct curl_slist *headers;
	char	   *body;
	size_t		body_len;
	long		connect_timeout_ms;
	long		timeout_ms;		/* 0 = none */
	long		low_speed_time_s;	/* 0 = none; abort when < 1 B/s this long */
	size_t		max_body;		/* cap on buffered (unconsumed) response */
	bool		check_interrupts;	/* abort on query cancel / die */

	/* response: written by libcurl callbacks only */
	char	   *data;
	size_t		start;			/* first unconsumed byte */
	size_t		len;			/* bytes in data */
	size_t		alloc;
	size_t		received;		/* total body bytes received */
	bool		too_large;
	bool		oom;
	long		status;
	char		content_type[128];
	char		retry_after[64];
	char		retry_after_ms[32];
	char		next_token[512];
	char		request_id[128];
	/* a provider's own account of its limits (anthropic-ratelimit-*) */
	char		rl_requests_limit[24];
	char		rl_requests_remaining[24];
	char		rl_requests_reset[48];	/* RFC 3339 */
	char		rl_input_remaining[24];
	char		rl_input_reset[48];
	char		errbuf[CURL_ERROR_SIZE];

	/* completion */
	CURLcode	result;
	bool		done;
	bool		in_multi;
	CURLM	   *multi;
	int			redirects;
	volatile bool abort_flag;	/* owner asks the transfer to stop */
	TimestampTz started_at;
	double		elapsed_ms;

	/* the owner's bookkeeping (the worker links requests to runs) */
	void	   *owner;
	int			owner_tag;
	bool		released;
	dlist_node	loop_node;		/* in the worker's event loop */
	dlist_node	stream_node;	/* in stream_ready while it has new bytes */
	dlist_head *stream_ready;	/* the event loop's list of streams with new
								 * bytes, where write_cb files it (or NULL) */
	int		   *inflight;		/* the event loop's count of transfers */
	HttpStreamFn stream_fn;		/* incremental consumer, or NULL */
	void	   *stream_arg;
};

/*
 * http_unlink_node takes a request's list node out of the event loop list
 * it is in, if any, and marks it unlinked (next == NULL), which is how the
 * lists tell whether a request is in them.
 */
static inline void
http_unlink_node(dlist_node *node)
{
	if (node->next != NULL)
		dlist_delete(node);
	node->next = node->prev = NULL;
}

extern HttpRequest *http_request_new(const char *method, const char *url);
extern void http_add_header(HttpRequest *req, const char *name, const char *value);
extern void http_set_body(HttpRequest *req, const char *data, size_t len);
extern void http_set_timeouts(HttpRequest *req, long connect_ms, long total_ms,
							  long low_speed_s);
extern void http_release(HttpRequest *req);
extern void http_reset_response(HttpRequest *req);

/* building blocks for a multi-handle driver (worker) */
extern void http_prepare(HttpRequest *req);
extern void http_finish(HttpRequest *req, CURLcode result);
extern bool http_follow_redirect(HttpRequest *req);

/* response access */
extern const char *http_data(HttpRequest *req);
extern size_t http_data_len(HttpRequest *req);
extern void http_consume(HttpRequest *req, size_t n);
extern int	http_retry_after_ms(HttpRequest *req);

/* synchronous driver for SQL functions */
extern void http_perform_sync(HttpRequest *req, HttpStreamFn on_data, void *arg);

extern char *http_urlencode(const char *s);
extern void http_global_init(void);

#endif							/* SANDBOX_HTTP_H */

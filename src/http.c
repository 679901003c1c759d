/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP requests over libcurl.
 *
 * A request is a palloc'd HttpRequest whose libcurl resources (easy handle,
 * header list, response buffer) are malloc'd and released by a memory
 * context reset callback, so an error thrown anywhere between creation and
 * completion frees them.  The libcurl callbacks below only copy bytes and
 * set flags; they never call into PostgreSQL's error machinery.
 *
 * The synchronous driver runs the request on a per-backend multi handle,
 * which keeps connections (keep-alive) and the DNS cache between calls, and
 * wakes at least every 100 ms to check for query cancel, statement_timeout
 * and termination.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "http.h"
#include "sandbox.h"

#define HTTP_POLL_MS 100
#define HTTP_MAX_REDIRECTS 5

static CURLM *sync_multi = NULL;

/*
 * http_global_init initialises libcurl once per process.  It is not done in
 * _PG_init, so the postmaster never initialises TLS libraries it does not
 * use.
 */
void
http_global_init(void)
{
	static bool initialised = false;

	if (initialised)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));
	initialised = true;
}

/*
 * release_callback is the memory-context reset callback that frees a
 * request's libcurl resources however the request ended.
 */
static void
release_callback(void *arg)
{
	http_release((HttpRequest *) arg);
}

/*
 * http_request_new creates a request in CurrentMemoryContext.
 */
HttpRequest *
http_request_new(const char *method, const char *url)
{
	HttpRequest *req;
	MemoryContextCallback *cb;

	http_global_init();
	req = palloc0(sizeof(HttpRequest));
	req->method = pstrdup(method);
	req->url = pstrdup(url);
	req->connect_timeout_ms = sandbox_connect_timeout;
	req->timeout_ms = sandbox_http_timeout;
	req->max_body = (size_t) sandbox_max_response_bytes;
	req->easy = curl_easy_init();
	/* no "Expect: 100-continue" round trip before large bodies */
	req->headers = curl_slist_append(NULL, "Expect:");
	if (req->easy == NULL || req->headers == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = release_callback;
	cb->arg = req;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return req;
}

/*
 * http_add_header appends "name: value" to the request's headers.
 */
void
http_add_header(HttpRequest *req, const char *name, const char *value)
{
	char	   *line = psprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(req->headers, line);

	/* the line may hold a secret: wipe our copy, curl keeps its own */
	memset(line, 0, strlen(line));
	pfree(line);
	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory adding an HTTP header")));
	req->headers = l;
}

/*
 * http_set_body sets the request body; the bytes are copied.
 */
void
http_set_body(HttpRequest *req, const char *data, size_t len)
{
	req->body = palloc(len + 1);
	memcpy(req->body, data, len);
	req->body[len] = '\0';
	req->body_len = len;
}

/*
 * http_set_timeouts sets the connect timeout, the total timeout (0 = none)
 * and the low-speed abort time (0 = none) of the request.
 */
void
http_set_timeouts(HttpRequest *req, long connect_ms, long total_ms, long low_speed_s)
{
	req->connect_timeout_ms = connect_ms;
	req->timeout_ms = total_ms;
	req->low_speed_time_s = low_speed_s;
}

/*
 * http_release frees the request's libcurl resources.  Safe to call twice.
 */
void
http_release(HttpRequest *req)
{
	if (req->released)
		return;
	if (req->in_multi && req->multi)
	{
		curl_multi_remove_handle(req->multi, req->easy);
		if (req->inflight)
			(*req->inflight)--;
	}
	req->in_multi = false;
	/* unlink from the worker's event loop lists, if linked */
	http_unlink_node(&req->loop_node);
	http_unlink_node(&req->stream_node);
	if (req->easy)
		curl_easy_cleanup(req->easy);
	req->easy = NULL;
	if (req->headers)
		curl_slist_free_all(req->headers);
	req->headers = NULL;
	free(req->data);
	req->data = NULL;
	req->len = req->start = req->alloc = 0;
	req->released = true;
}

/*
 * http_reset_response forgets any response, so the request can run again
 * (after a redirect, or a retry).
 */
void
http_reset_response(HttpRequest *req)
{
	req->start = req->len = req->received = 0;
	if (req->data)
		req->data[0] = '\0';
	req->too_large = req->oom = false;
	req->status = 0;
	req->content_type[0] = req->retry_after[0] = req->retry_after_ms[0] = '\0';
	req->next_token[0] = req->request_id[0] = req->errbuf[0] = '\0';
	req->rl_requests_remaining[0] = req->rl_requests_reset[0] = '\0';
	req->rl_input_remaining[0] = req->rl_input_reset[0] = req->rl_requests_limit[0] = '\0';
	req->result = CURLE_OK;
	req->done = false;
	req->abort_flag = false;
	req->elapsed_ms = 0;
}

/*
 * write_cb is libcurl's body callback: it appends to the malloc'd buffer,
 * compacting consumed bytes first.  Returning less than asked aborts the
 * transfer (CURLE_WRITE_ERROR), which is how the size cap is enforced.
 */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpRequest *req = (HttpRequest *) userdata;
	size_t		n = size * nmemb;
	size_t		unconsumed = req->len - req->start;

	if (req->abort_flag)
		return 0;
	if (unconsumed + n > req->max_body)
	{
		req->too_large = true;
		return 0;
	}
	if (req->start > 0 && req->len + n + 1 > req->alloc)
	{
		memmove(req->data, req->data + req->start, unconsumed);
		req->len = unconsumed;
		req->start = 0;
	}
	if (req->len + n + 1 > req->alloc)
	{
		size_t		want = req->alloc ? req->alloc * 2 : 16384;
		char	   *p;

		while (want < req->len + n + 1)
			want *= 2;
		p = realloc(req->data, want);
		if (p == NULL)
		{
			req->oom = true;
			return 0;
		}
		req->data = p;
		req->alloc = want;
	}
	memcpy(req->data + req->len, ptr, n);
	req->len += n;
	req->data[req->len] = '\0';
	req->received += n;
	/* a worker stream: tell the event loop there is something to feed */
	if (req->stream_ready && req->stream_node.next == NULL)
		dlist_push_tail(req->stream_ready, &req->stream_node);
	return n;
}

/*
 * copy_header_value copies the value of a "Name: value\r\n" header line
 * into dst, trimmed, truncated to dstlen.
 */
static void
copy_header_value(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	size_t		n;

	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
						v[vlen - 1] == ' '))
		vlen--;
	n = Min(vlen, dstlen - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/*
 * header_cb is libcurl's header callback: it records the status line and
 * the few headers we act on.  A new status line (redirect, 100-continue)
 * starts afresh.
 */
static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	HttpRequest *req = (HttpRequest *) userdata;
	size_t		n = size * nitems;
	const char *colon;
	size_t		namelen;

	if (n > 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		const char *sp = memchr(buffer, ' ', n);

		req->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		req->content_type[0] = req->retry_after[0] = req->retry_after_ms[0] = '\0';
		req->next_token[0] = req->request_id[0] = '\0';
		req->rl_requests_remaining[0] = req->rl_requests_reset[0] = '\0';
		req->rl_input_remaining[0] = req->rl_input_reset[0] = req->rl_requests_limit[0] = '\0';
		return n;
	}
	colon = memchr(buffer, ':', n);
	if (colon == NULL)
		return n;
	namelen = colon - buffer;
#define HDR_IS(name) (namelen == strlen(name) && strncasecmp(buffer, name, namelen) == 0)
	if (HDR_IS("content-type"))
		copy_header_value(req->content_type, sizeof(req->content_type), colon + 1, n - namelen - 1);
	else if (HDR_IS("retry-after"))
		copy_header_value(req->retry_after, sizeof(req->retry_after), colon + 1, n - namelen - 1);
	else if (HDR_IS("retry-after-ms"))
		copy_header_value(req->retry_after_ms, sizeof(req->retry_after_ms), colon + 1, n - namelen - 1);
	else if (HDR_IS("x-next-token"))
		copy_header_value(req->next_token, sizeof(req->next_token), colon + 1, n - namelen - 1);
	else if (HDR_IS("request-id") || HDR_IS("x-request-id"))
		copy_header_value(req->request_id, sizeof(req->request_id), colon + 1, n - namelen - 1);
	else if (HDR_IS("anthropic-ratelimit-requests-limit"))
		copy_header_value(req->rl_requests_limit, sizeof(req->rl_requests_limit), colon + 1, n - namelen - 1);
	else if (HDR_IS("anthropic-ratelimit-requests-remaining"))
		copy_header_value(req->rl_requests_remaining, sizeof(req->rl_requests_remaining), colon + 1, n - namelen - 1);
	else if (HDR_IS("anthropic-ratelimit-requests-reset"))
		copy_header_value(req->rl_requests_reset, sizeof(req->rl_requests_reset), colon + 1, n - namelen - 1);
	else if (HDR_IS("anthropic-ratelimit-input-tokens-remaining"))
		copy_header_value(req->rl_input_remaining, sizeof(req->rl_input_remaining), colon + 1, n - namelen - 1);
	else if (HDR_IS("anthropic-ratelimit-input-tokens-reset"))
		copy_header_value(req->rl_input_reset, sizeof(req->rl_input_reset), colon + 1, n - namelen - 1);
#undef HDR_IS
	return n;
}

/*
 * progress_cb lets a transfer stop early: the owner set abort_flag, or (for
 * the synchronous functions) a query cancel or termination is pending.  It
 * only reads flags; the error is raised after libcurl returns.
 */
static int
progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	HttpRequest *req = (HttpRequest *) clientp;

	if (req->abort_flag)
		return 1;
	if (req->check_interrupts && (QueryCancelPending || ProcDiePending))
		return 1;
	return 0;
}

#define SETOPT(h, opt, val) \
	do { \
		CURLcode _rc = curl_easy_setopt((h), (opt), (val)); \
		if (_rc != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_SYSTEM_ERROR), \
					 errmsg("curl_easy_setopt(%s) failed: %s", #opt, curl_easy_strerror(_rc)))); \
	} while (0)

/*
 * http_prepare sets every libcurl option of the request.  Called before
 * the handle is added to a multi handle, and again after a redirect.
 */
void
http_prepare(HttpRequest *req)
{
	CURL	   *h = req->easy;

	curl_easy_reset(h);
	http_reset_response(req);
	SETOPT(h, CURLOPT_URL, req->url);
	SETOPT(h, CURLOPT_PRIVATE, req);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);	/* see http_follow_redirect */
	SETOPT(h, CURLOPT_USERAGENT, "pg-sandbox/" EXTVERSION);
	SETOPT(h, CURLOPT_ERRORBUFFER, req->errbuf);
	SETOPT(h, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(h, CURLOPT_WRITEDATA, req);
	SETOPT(h, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(h, CURLOPT_HEADERDATA, req);
	SETOPT(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	SETOPT(h, CURLOPT_XFERINFODATA, req);
	SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
	SETOPT(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	if (req->low_speed_time_s > 0)
	{
		SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		SETOPT(h, CURLOPT_LOW_SPEED_TIME, req->low_speed_time_s);
	}

	if (strcmp(req->method, "GET") == 0)
		SETOPT(h, CURLOPT_HTTPGET, 1L);
	else
	{
		if (strcmp(req->method, "POST") != 0)
			SETOPT(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL || strcmp(req->method, "POST") == 0)
		{
			SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
			SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
	}
	if (req->headers)
		SETOPT(h, CURLOPT_HTTPHEADER, req->headers);
	req->started_at = GetCurrentTimestamp();
}

/*
 * http_finish records the outcome of a transfer that libcurl reported done.
 */
void
http_finish(HttpRequest *req, CURLcode result)
{
	long		code = 0;

	req->result = result;
	req->done = true;
	if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code > 0)
		req->status = code;
	req->elapsed_ms = (double) (GetCurrentTimestamp() - req->started_at) / 1000.0;
}

/*
 * same_origin tells whether two URLs share scheme, host and port; an
 * upgrade from http to https on the same host also counts.  Headers carry
 * API keys, so redirects are only followed within one origin.
 */
static bool
same_origin(const char *a, const char *b)
{
	CURLU	   *ua = curl_url();
	CURLU	   *ub = curl_url();
	char	   *sa = NULL,
			   *sb = NULL,
			   *ha = NULL,
			   *hb = NULL,
			   *pa = NULL,
			   *pb = NULL;
	bool		ok = false;

	if (ua && ub &&
		curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
		curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
		curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
		curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
		curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
		curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
		curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK)
	{
		if (strcasecmp(ha, hb) == 0)
		{
			if (strcmp(sa, sb) == 0 && strcmp(pa, pb) == 0)
				ok = true;
			else if (strcmp(sa, "http") == 0 && strcmp(sb, "https") == 0)
				ok = true;
		}
	}
	curl_free(sa);
	curl_free(sb);
	curl_free(ha);
	curl_free(hb);
	curl_free(pa);
	curl_free(pb);
	if (ua)
		curl_url_cleanup(ua);
	if (ub)
		curl_url_cleanup(ub);
	return ok;
}

/*
 * http_follow_redirect prepares the request again for the Location of a
 * 3xx answer and returns true, or returns false when there is nothing to
 * follow.  Cross-origin redirects are refused (they would carry our API
 * key elsewhere): the 3xx stays as the answer, and the caller reports it.
 * The handle must not be in a multi handle.
 */
bool
http_follow_redirect(HttpRequest *req)
{
	char	   *location = NULL;
	char	   *next;

	if (!req->done || req->result != CURLE_OK)
		return false;
	if (req->status != 301 && req->status != 302 && req->status != 303 &&
		req->status != 307 && req->status != 308)
		return false;
	if (req->redirects >= HTTP_MAX_REDIRECTS)
		return false;
	if (curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location) != CURLE_OK ||
		location == NULL)
		return false;
	if (!same_origin(req->url, location))
		return false;
	next = pstrdup(location);
	req->url = next;
	req->redirects++;
	if (req->status == 303 ||
		((req->status == 301 || req->status == 302) && strcmp(req->method, "POST") == 0))
	{
		req->method = "GET";
		req->body = NULL;
		req->body_len = 0;
	}
	return true;
}

/* response accessors */

/*
 * http_data returns the unconsumed response bytes (NUL-terminated).
 */
const char *
http_data(HttpRequest *req)
{
	return req->data ? req->data + req->start : "";
}

/*
 * http_data_len returns how many response bytes are unconsumed.
 */
size_t
http_data_len(HttpRequest *req)
{
	return req->len - req->start;
}

/*
 * http_consume drops the first n unconsumed bytes (stream parsing).
 */
void
http_consume(HttpRequest *req, size_t n)
{
	Assert(n <= req->len - req->start);
	req->start += n;
	if (req->start == req->len)
		req->start = req->len = 0;
}

/*
 * http_retry_after_ms returns the server's requested delay in ms from
 * retry-after-ms or retry-after (seconds or an HTTP date), or -1.
 */
int
http_retry_after_ms(HttpRequest *req)
{
	if (req->retry_after_ms[0])
	{
		double		v = strtod(req->retry_after_ms, NULL);

		if (v >= 0 && v < 86400000.0)
			return (int) v;
	}
	if (req->retry_after[0])
	{
		char	   *end;
		double		v = strtod(req->retry_after, &end);

		if (end != req->retry_after && *end == '\0' && v >= 0 && v < 86400)
			return (int) (v * 1000);
		else
		{
			time_t		t = curl_getdate(req->retry_after, NULL);

			if (t > 0)
			{
				long		d = (long) (t - time(NULL));

				return d > 0 ? (int) Min(d * 1000L, 86400000L) : 0;
			}
		}
	}
	return -1;
}

/*
 * deliver passes newly arrived bytes of a successful response to the
 * caller's stream function.
 */
static void
deliver(HttpRequest *req, HttpStreamFn on_data, void *arg)
{
	if (on_data && http_data_len(req) > 0 &&
		req->status >= 200 && req->status < 300)
		on_data(req, arg);
}

/*
 * http_perform_sync runs the request to completion in this backend.  It
 * returns with req->done set; transport failures are left in req->result
 * for the caller to report.  A query cancel, statement_timeout or
 * termination stops the transfer within about 100 ms and raises the usual
 * error.  on_data, if given, is called with each batch of new response
 * bytes of a 2xx response.
 */
void
http_perform_sync(HttpRequest *req, HttpStreamFn on_data, void *arg)
{
	if (sync_multi == NULL)
	{
		sync_multi = curl_multi_init();
		if (sync_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl multi handle")));
		curl_multi_setopt(sync_multi, CURLMOPT_MAXCONNECTS, 16L);
	}
	req->check_interrupts = true;

	PG_TRY();
	{
		for (;;)
		{
			CURLMcode	mc;

			http_prepare(req);
			mc = curl_multi_add_handle(sync_multi, req->easy);
			if (mc != CURLM_OK)
				ereport(ERROR,
						(errcode(ERRCODE_SYSTEM_ERROR),
						 errmsg("curl_multi_add_handle failed: %s", curl_multi_strerror(mc))));
			req->in_multi = true;
			req->multi = sync_multi;

			while (!req->done)
			{
				int			running = 0;
				long		wait_ms = -1;
				CURLMsg    *msg;
				int			queued;

				mc = curl_multi_perform(sync_multi, &running);
				if (mc != CURLM_OK)
					ereport(ERROR,
							(errcode(ERRCODE_SYSTEM_ERROR),
							 errmsg("curl_multi_perform failed: %s", curl_multi_strerror(mc))));
				while ((msg = curl_multi_info_read(sync_multi, &queued)) != NULL)
				{
					HttpRequest *r = NULL;

					if (msg->msg != CURLMSG_DONE)
						continue;
					curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
					if (r)
						http_finish(r, msg->data.result);
				}
				deliver(req, on_data, arg);
				if (req->done)
					break;
				CHECK_FOR_INTERRUPTS();
				curl_multi_timeout(sync_multi, &wait_ms);
				if (wait_ms < 0 || wait_ms > HTTP_POLL_MS)
					wait_ms = HTTP_POLL_MS;
				if (wait_ms > 0)
					curl_multi_poll(sync_multi, NULL, 0, (int) wait_ms, NULL);
				CHECK_FOR_INTERRUPTS();
			}
			curl_multi_remove_handle(sync_multi, req->easy);
			req->in_multi = false;
			if (!http_follow_redirect(req))
				break;
		}
	}
	PG_CATCH();
	{
		if (req->in_multi)
			curl_multi_remove_handle(sync_multi, req->easy);
		req->in_multi = false;
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* a transfer stopped by a cancel raises the cancel, not a curl error */
	CHECK_FOR_INTERRUPTS();
}

/*
 * http_urlencode percent-encodes s for a query string value.
 */
char *
http_urlencode(const char *s)
{
	StringInfoData buf;
	static const char hex[] = "0123456789ABCDEF";

	initStringInfo(&buf);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
			appendStringInfoChar(&buf, c);
		else
		{
			appendStringInfoChar(&buf, '%');
			appendStringInfoChar(&buf, hex[c >> 4]);
			appendStringInfoChar(&buf, hex[c & 15]);
		}
	}
	return buf.data;
}

/*-------------------------------------------------------------------------
 *
 * evloop.c
 *	  Driving hundreds of HTTP transfers from one process.
 *
 * libcurl tells us, through its socket callback, which descriptors to
 * watch; we keep them in an epoll set.  The worker waits on its latch, on
 * postmaster death and on the epoll descriptor itself (readable whenever
 * one of the sockets is ready), with a timeout no later than curl's timer.
 * After a wake-up, evloop_run hands every ready socket and any due timeout
 * to curl_multi_socket_action, feeds new bytes of streamed answers to
 * their consumers, and queues finished transfers for the owner.
 *
 * The callbacks only call epoll_ctl and store numbers: no palloc, no
 * ereport.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <errno.h>
#include <unistd.h>

#include "utils/timestamp.h"

#include "evloop.h"

#define MAX_EPOLL_EVENTS 256

/*
 * socket_cb keeps the epoll set in line with what curl wants watched.
 */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	EventLoop  *ev = (EventLoop *) userp;
	struct epoll_event ee;

	if (what == CURL_POLL_REMOVE)
	{
		/* a closed descriptor has already left the set: ignore errors */
		(void) epoll_ctl(ev->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	memset(&ee, 0, sizeof(ee));
	ee.data.fd = s;
	if (what & CURL_POLL_IN)
		ee.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ee.events |= EPOLLOUT;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, s, &ee) != 0 && errno == ENOENT)
		(void) epoll_ctl(ev->epfd, EPOLL_CTL_ADD, s, &ee);
	return 0;
}

/*
 * timer_cb records when curl next wants to be called without socket
 * activity (-1: no timer; 0: as soon as possible).
 */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	EventLoop  *ev = (EventLoop *) userp;

	if (timeout_ms < 0)
		ev->timer_at = 0;
	else
		ev->timer_at = GetCurrentTimestamp() + (TimestampTz) timeout_ms * 1000;
	return 0;
}

/*
 * evloop_init creates the multi handle and the epoll set.
 */
void
evloop_init(EventLoop *ev)
{
	memset(ev, 0, sizeof(*ev));
	http_global_init();
	dlist_init(&ev->requests);
	dlist_init(&ev->streams);
	dlist_init(&ev->done);
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create an epoll set: %m")));
	ev->multi = curl_multi_init();
	if (ev->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(ev->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(ev->multi, CURLMOPT_SOCKETDATA, ev);
	curl_multi_setopt(ev->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(ev->multi, CURLMOPT_TIMERDATA, ev);
	/* idle connections kept for reuse; busy ones are not limited */
	curl_multi_setopt(ev->multi, CURLMOPT_MAXCONNECTS, 256L);
	/* HTTP/2 servers (real E2B, LLM providers) multiplex on few connections */
	curl_multi_setopt(ev->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
}

/*
 * evloop_shutdown removes every transfer and frees the multi handle.
 */
void
evloop_shutdown(EventLoop *ev)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &ev->requests)
	{
		HttpRequest *req = dlist_container(HttpRequest, loop_node, it.cur);

		evloop_remove(ev, req);
	}
	if (ev->multi)
		curl_multi_cleanup(ev->multi);
	ev->multi = NULL;
	if (ev->epfd >= 0)
		close(ev->epfd);
	ev->epfd = -1;
}

/*
 * evloop_add starts a transfer.
 */
void
evloop_add(EventLoop *ev, HttpRequest *req)
{
	CURLMcode	mc;

	http_prepare(req);
	mc = curl_multi_add_handle(ev->multi, req->easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("curl_multi_add_handle failed: %s", curl_multi_strerror(mc))));
	req->in_multi = true;
	req->multi = ev->multi;
	req->inflight = &ev->in_flight;
	ev->in_flight++;
	dlist_push_tail(&ev->requests, &req->loop_node);
	http_unlink_node(&req->stream_node);
	req->stream_ready = req->stream_fn ? &ev->streams : NULL;
}

/*
 * evloop_remove stops a transfer (finished or not) and forgets it.
 */
void
evloop_remove(EventLoop *ev, HttpRequest *req)
{
	if (req->in_multi)
	{
		curl_multi_remove_handle(ev->multi, req->easy);
		req->in_multi = false;
		ev->in_flight--;
	}
	/* in the requests list, or finished and waiting in the done list */
	http_unlink_node(&req->loop_node);
	http_unlink_node(&req->stream_node);
}

/*
 * evloop_wait_ms returns how long the worker may sleep: until curl's
 * timer, at most cap_ms.
 */
long
evloop_wait_ms(EventLoop *ev, long cap_ms)
{
	TimestampTz now;
	long		ms;

	if (ev->timer_at == 0)
		return cap_ms;
	now = GetCurrentTimestamp();
	if (ev->timer_at <= now)
		return 0;
	ms = (long) ((ev->timer_at - now + 999) / 1000);
	return Min(ms, cap_ms);
}

/*
 * collect_done moves finished transfers from curl to our done list.
 */
static void
collect_done(EventLoop *ev)
{
	CURLMsg    *msg;
	int			queued;
	dlist_head	finished;
	dlist_mutable_iter it;

	/*
	 * All the messages first, then the removals: libcurl 7.x's
	 * curl_multi_remove_handle walks the messages still queued, so removing
	 * each handle as its message is read costs the square of a burst of
	 * completions (10,000 runs answered at once).
	 */
	dlist_init(&finished);
	while ((msg = curl_multi_info_read(ev->multi, &queued)) != NULL)
	{
		HttpRequest *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (req == NULL)
			continue;
		http_finish(req, msg->data.result);
		dlist_delete(&req->loop_node);
		dlist_push_tail(&finished, &req->loop_node);
	}
	dlist_foreach_modify(it, &finished)
	{
		HttpRequest *req = dlist_container(HttpRequest, loop_node, it.cur);

		curl_multi_remove_handle(ev->multi, req->easy);
		req->in_multi = false;
		ev->in_flight--;
		dlist_delete(&req->loop_node);
		dlist_push_tail(&ev->done, &req->loop_node);
		http_unlink_node(&req->stream_node);
	}
}

/*
 * evloop_run does all the work that is ready: socket events, a due
 * timeout, streamed bytes, finished transfers.  It never blocks.
 */
void
evloop_run(EventLoop *ev)
{
	struct epoll_event events[MAX_EPOLL_EVENTS];
	int			n;

	do
	{
		n = epoll_wait(ev->epfd, events, MAX_EPOLL_EVENTS, 0);
		for (int i = 0; i < n; i++)
		{
			int			mask = 0;

			if (events[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (events[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (events[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			curl_multi_socket_action(ev->multi, events[i].data.fd, mask, &ev->running);
		}
	} while (n == MAX_EPOLL_EVENTS);

	if (ev->timer_at != 0 && ev->timer_at <= GetCurrentTimestamp())
	{
		ev->timer_at = 0;
		curl_multi_socket_action(ev->multi, CURL_SOCKET_TIMEOUT, 0, &ev->running);
	}

	/*
	 * streamed answers that received bytes (write_cb filed them): hand the
	 * bytes to their consumers.  Only these, not every stream in flight.
	 */
	while (!dlist_is_empty(&ev->streams))
	{
		dlist_node *node = dlist_pop_head_node(&ev->streams);
		HttpRequest *req = dlist_container(HttpRequest, stream_node, node);

		node->next = node->prev = NULL;
		if (req->stream_fn && http_data_len(req) > 0 &&
			req->status >= 200 && req->status < 300)
			req->stream_fn(req, req->stream_arg);
	}
	collect_done(ev);
}

/*
 * evloop_next_done returns the next finished transfer, or NULL.
 */
HttpRequest *
evloop_next_done(EventLoop *ev)
{
	HttpRequest *req;

	if (dlist_is_empty(&ev->done))
		return NULL;
	req = dlist_container(HttpRequest, loop_node, dlist_pop_head_node(&ev->done));
	req->loop_node.next = req->loop_node.prev = NULL;
	return req;
}

/*
 * evloop_count returns the number of transfers in flight.
 */
int
evloop_count(EventLoop *ev)
{
	return ev->in_flight;
}

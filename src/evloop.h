/*-------------------------------------------------------------------------
 *
 * evloop.h
 *	  The worker's HTTP engine: a curl multi handle driven by socket
 *	  events, whose sockets live in an epoll set that the worker's
 *	  WaitEventSet watches as one descriptor beside its latch.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_EVLOOP_H
#define SANDBOX_EVLOOP_H

#include "http.h"
#include "lib/ilist.h"

typedef struct EventLoop
{
	CURLM	   *multi;
	int			epfd;
	TimestampTz timer_at;		/* when curl wants a timeout call; 0 = none */
	int			running;
	int			in_flight;		/* transfers added and not yet done */
	dlist_head	requests;		/* requests added and not yet done */
	dlist_head	streams;		/* streamed ones that received bytes since the last run */
	dlist_head	done;			/* finished, waiting for the owner */
} EventLoop;

extern void evloop_init(EventLoop *ev);
extern void evloop_shutdown(EventLoop *ev);
extern void evloop_add(EventLoop *ev, HttpRequest *req);
extern void evloop_remove(EventLoop *ev, HttpRequest *req);
extern long evloop_wait_ms(EventLoop *ev, long cap_ms);
extern void evloop_run(EventLoop *ev);
extern HttpRequest *evloop_next_done(EventLoop *ev);
extern int	evloop_count(EventLoop *ev);

#endif							/* SANDBOX_EVLOOP_H */

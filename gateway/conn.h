/* conn.h: every client connection, from accept to close, around evhttp.
 *
 * evhttp (libevent 2.1) parses requests and writes replies, but has no
 * connection limit, no header timeout, no eviction, logs every failed
 * accept() and frees a connection with output still unsent. Each connection
 * it accepts gets, through evhttp_set_bevcb, a filter bufferevent over the
 * socket's bufferevent:
 *
 *   socket --read--> [guard: http_guard.h] --> filter input --> evhttp
 *   socket <--write(2)-- [output filter] <-- filter output <-- evhttp
 *
 *   - Input: the guard passes on only requests whose framing evhttp reads as
 *     we do; anything else gets a JSON error written here, then a graceful
 *     close.
 *   - Output goes to the socket directly, so evhttp sees its output drained
 *     only when the kernel has it: when evhttp closes (Connection: close,
 *     errors), nothing is lost.
 *   - Close: after evhttp frees a connection, the socket lingers (reads are
 *     discarded until the client's EOF, at most FK_LINGER_S, FK_LINGER_GAP_S
 *     between reads), so a client still sending gets our reply, not a reset.
 *   - Limit: at most FK_MAX_CONNECTIONS (default from RLIMIT_NOFILE, whose
 *     soft limit is raised to the hard one at start). A new connection over
 *     the limit closes the longest-idle one: never sent a byte first, then a
 *     partial request head, then idle keep-alive; with none, it is answered
 *     503 and closed.
 *   - Header timeout: a connection that has not delivered a whole request
 *     head FK_HEADER_TIMEOUT_S after accept (or after its first byte) is
 *     closed (408 when it had sent part of one). Idle keep-alive connections
 *     and stalled bodies or writes keep evhttp's FK_HTTP_TIMEOUT_S.
 *   - accept() errors (out of descriptors) pause accepting for 100 ms, close
 *     up to 32 of the longest-idle connections, and are logged at most once
 *     a second with a count.
 *
 * Loop thread only. */
#ifndef FK_GATEWAY_CONN_H
#define FK_GATEWAY_CONN_H

#include <stdint.h>

#include "gateway.h"

struct evhttp_request;

#define FK_LINGER_S 30    /* the longest a closing connection is drained */
#define FK_LINGER_GAP_S 5 /* ... or this long without a byte */

/* Raise RLIMIT_NOFILE's soft limit, size the limit, hook into gw->http and
 * the listener gw->bound. 0, or -1 with err. */
int fk_conns_start(fk_gateway *gw, char *err, size_t err_len);
/* After evhttp_free: close every socket still open (no lingering). */
void fk_conns_free(fk_gateway *gw);
/* server.c: a reply was written out completely (its on_complete callback). */
void fk_conns_reply_done(fk_gateway *gw, struct evhttp_request *req);
/* The counters (metrics.h) for /metrics. */
void fk_conns_get_stats(const fk_gateway *gw, fk_conn_stats *out);

#endif

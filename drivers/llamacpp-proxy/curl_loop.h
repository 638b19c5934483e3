/* curl_loop.h: libcurl's multi-socket API driven by a libevent loop (the
 * hiperfifo pattern). One loop per driver instance; every call here and
 * every callback runs on the loop thread.
 *
 * A transfer is an easy handle whose CURLOPT_PRIVATE points at a
 * fk_curl_job the caller owns. When curl finishes it, the loop removes the
 * handle from the multi and calls job->done; the caller then owns the easy
 * handle again (to clean it up). */
#ifndef FK_LLAMA_CURL_LOOP_H
#define FK_LLAMA_CURL_LOOP_H

#include <curl/curl.h>

struct event_base;

typedef struct fk_curl_loop fk_curl_loop;

/* What the caller embeds in its transfer object and sets as CURLOPT_PRIVATE. */
typedef struct fk_curl_job {
    /* Called once from the loop when curl reports the transfer done. The
     * handle is already out of the multi; `result` is curl's verdict. */
    void (*done)(void *owner, CURL *easy, CURLcode result);
    void *owner; /* passed back to done */
} fk_curl_job;

/* NULL on failure. The loop adds its events to `base` (borrowed). */
fk_curl_loop *fk_curl_loop_new(struct event_base *base, long max_cached_connections);
/* Every transfer must have been removed or finished before this. */
void fk_curl_loop_free(fk_curl_loop *loop);

/* Start a transfer (CURLOPT_PRIVATE must be a fk_curl_job). 0 on success. */
int fk_curl_loop_add(fk_curl_loop *loop, CURL *easy);
/* Abort a transfer now, without calling its done. Must not be called from
 * inside a curl callback; the caller owns the easy handle afterwards. */
void fk_curl_loop_remove(fk_curl_loop *loop, CURL *easy);

/* An easy handle for a new transfer: one from the pool of finished ones
 * (their buffers already allocated), or a fresh one. NULL on OOM. */
CURL *fk_curl_loop_easy(fk_curl_loop *loop);
/* Give a handle that is out of the multi, already curl_easy_reset, back to
 * the pool (or clean it up when the pool is full). */
void fk_curl_loop_recycle(fk_curl_loop *loop, CURL *easy);

#endif

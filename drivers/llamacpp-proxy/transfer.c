/* transfer.c: one upstream request: curl easy handle, SSE line parser,
 * pause/resume, first-byte and idle watchdog, a single end report. */
#include "transfer.h"

#include "harmony/strbuf.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A body larger than this (non-stream answers, error pages) is an error. */
#define MAX_BUFFERED_BODY (16u << 20)

struct fk_xfer {
    fk_curl_job job;              /* CURLOPT_PRIVATE: routes curl's verdict to us */
    fk_curl_loop *loop;           /* the loop the easy handle runs on (borrowed) */
    CURL *easy;                   /* the request */
    struct curl_slist *headers;   /* request headers: id_node or a constant list (not owned) */
    struct curl_slist id_node;    /* X-Request-Id in front of the constant headers */
    char id_header[160];          /* id_node's text */
    char *url;                    /* owned copy */
    char *body;                   /* POST body, owned copy, or NULL */
    fk_xfer_sink sink;            /* where events and the end go */
    void *owner;                  /* the sink's context */
    struct event *watchdog;       /* first-byte / idle timeout */
    struct event *kick;           /* zero-delay work: resume, abort */
    long first_byte_ms;           /* watchdog before the first byte (0: off) */
    long idle_ms;                 /* watchdog between chunks (0: off) */
    int idle_armed;               /* the watchdog runs as the idle one (see touch) */
    double last_chunk_ms;         /* monotonic ms of the last chunk (while idle_armed) */
    char errbuf[CURL_ERROR_SIZE]; /* curl's detailed message */

    long status;   /* HTTP status of the response */
    int got_first; /* a body byte arrived */
    int is_sse;    /* 2xx text/event-stream: parse events */
    size_t bytes;  /* body bytes received */
    strbuf in;     /* unparsed stream bytes, or the whole body */
    size_t pos;    /* parse position in `in` */
    int overflow;  /* the body went past MAX_BUFFERED_BODY */

    char field[16]; /* name of the field being accumulated */
    strbuf val;     /* value of the event being accumulated */
    int has_val;    /* an event is pending dispatch */

    int in_multi;            /* the easy handle is in the multi */
    int paused;              /* the sink asked to pause */
    int curl_paused;         /* we returned CURL_WRITEFUNC_PAUSE */
    int resume_pending;      /* fk_xfer_resume was called */
    int abort_pending;       /* fk_xfer_abort was called */
    int sink_aborted;        /* the sink returned -1 */
    int done_pending;        /* curl finished while events wait for resume */
    int finished;            /* done has been (or is being) reported */
    CURLcode curl_code;      /* curl's verdict */
    fk_xfer_timeout timeout; /* the watchdog ended it */
};

/* ---- buffers ------------------------------------------------------------------ */

static int append(fk_xfer *x, const char *data, size_t n)
{
    if (x->in.len + n + 1 > MAX_BUFFERED_BODY) {
        x->overflow = 1;
        return -1;
    }
    return strbuf_append(&x->in, data, n);
}

/* ---- watchdog ------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The watchdog due in ms (0: off), as the first-byte one. */
static void arm(fk_xfer *x, long ms)
{
    x->idle_armed = 0;
    if (ms <= 0) {
        evtimer_del(x->watchdog);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(x->watchdog, &tv);
}

/* Bytes arrived: the idle watchdog counts from now. The timer is added once
 * and only the time is noted for each chunk (adding it again for every
 * chunk cost more than reading the chunk); when it fires early, it waits the
 * rest (on_watchdog). */
static void touch(fk_xfer *x)
{
    if (!x->idle_armed) {
        arm(x, x->idle_ms);
        x->idle_armed = x->idle_ms > 0;
    }
    x->last_chunk_ms = now_ms();
}

/* The watchdog off (paused, finished). */
static void disarm(fk_xfer *x)
{
    x->idle_armed = 0;
    evtimer_del(x->watchdog);
}

/* ---- the end report --------------------------------------------------------------- */

/* Report the end exactly once. The owner may free x inside done, so nothing
 * touches x after the call. */
static void report(fk_xfer *x, int aborted)
{
    if (x->finished) return;
    x->finished = 1;
    disarm(x);
    event_del(x->kick);
    if (x->status == 0) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    fk_xfer_end end = {
        .curl_code = x->curl_code,
        .curl_error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->curl_code),
        .timeout = x->timeout,
        .aborted = aborted || x->sink_aborted,
        .status = x->status,
        .body = x->is_sse ? NULL : (x->in.data ? x->in.data : ""),
        .body_len = x->is_sse ? 0 : x->in.len,
        .bytes = x->bytes,
    };
    if (x->overflow && end.curl_code == CURLE_OK) {
        end.curl_code = CURLE_FILESIZE_EXCEEDED;
        end.curl_error = "upstream body too large";
    }
    x->sink.done(x->owner, x, &end);
}

/* ---- server-sent events ------------------------------------------------------------- */

static int dispatch(fk_xfer *x)
{
    x->has_val = 0;
    size_t n = x->val.len;
    x->val.len = 0; /* the bytes stay for the sink's call (NUL-terminated) */
    int r = x->sink.event ? x->sink.event(x->owner, x->field, x->val.data, n) : 0;
    if (r > 0) x->paused = 1;
    return r < 0 ? -1 : 0;
}

/* One line of the stream (without its newline). */
static int take_line(fk_xfer *x, char *line, size_t n)
{
    if (n && line[n - 1] == '\r') n--;
    if (n == 0) return x->has_val ? dispatch(x) : 0;
    if (line[0] == ':') return 0; /* a comment (keep-alive) */
    char *colon = memchr(line, ':', n);
    size_t name_len = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_len = colon ? n - name_len - 1 : 0;
    if (value_len && *value == ' ') value++, value_len--;
    int is_data = name_len == 4 && memcmp(line, "data", 4) == 0;
    int is_error = name_len == 5 && memcmp(line, "error", 5) == 0;
    if (!is_data && !is_error) return 0; /* event:, id:, retry: carry nothing we use */
    const char *name = is_data ? "data" : "error";
    int join = x->has_val && strcmp(x->field, name) == 0;
    if (x->has_val && !join && dispatch(x) != 0) return -1;
    if ((join && strbuf_append_char(&x->val, '\n') != 0) ||
        strbuf_append(&x->val, value, value_len) != 0)
        return -1;
    strcpy(x->field, name);
    x->has_val = 1;
    return 0;
}

/* Deliver every complete event in the buffer until the sink pauses.
 * -1 when the sink aborts. */
static int drain(fk_xfer *x)
{
    while (!x->paused && x->pos < x->in.len) {
        char *start = x->in.data + x->pos;
        char *nl = memchr(start, '\n', x->in.len - x->pos);
        if (!nl) break;
        x->pos = (size_t)(nl - x->in.data) + 1;
        if (take_line(x, start, (size_t)(nl - start)) != 0) return -1;
    }
    if (x->pos == x->in.len) {
        x->pos = x->in.len = 0;
    } else if (x->pos > 0 && !x->paused) {
        memmove(x->in.data, x->in.data + x->pos, x->in.len - x->pos + 1); /* with the NUL */
        x->in.len -= x->pos;
        x->pos = 0;
    }
    return 0;
}

/* ---- curl callbacks ------------------------------------------------------------------ */

static void first_byte(fk_xfer *x)
{
    x->got_first = 1;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    const char *ct = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
    x->is_sse =
        x->status >= 200 && x->status < 300 && ct && strncasecmp(ct, "text/event-stream", 17) == 0;
    if (x->sink.first_byte) x->sink.first_byte(x->owner);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    fk_xfer *x = arg;
    size_t n = size * nmemb;
    if (x->abort_pending || x->sink_aborted) return 0;
    if (x->paused) {
        x->curl_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!x->got_first) first_byte(x);
    x->bytes += n;
    if (append(x, data, n) != 0) return 0;
    touch(x);
    if (!x->is_sse) return n;
    if (drain(x) != 0) {
        x->sink_aborted = 1;
        return 0;
    }
    if (x->paused) disarm(x);
    return n;
}

/* Flush what the stream left unterminated, then report unless paused. */
static void end_stream(fk_xfer *x)
{
    if (x->is_sse && x->curl_code == CURLE_OK && !x->sink_aborted) {
        if (!x->done_pending && append(x, "\n\n", 2) != 0) {
            x->curl_code = CURLE_OUT_OF_MEMORY;
        } else if (drain(x) != 0) {
            x->sink_aborted = 1;
        } else if (x->paused) {
            x->done_pending = 1;
            return;
        }
    }
    report(x, 0);
}

static void on_curl_done(void *owner, CURL *easy, CURLcode result)
{
    fk_xfer *x = owner;
    x->in_multi = 0;
    x->curl_code = result;
    if (!x->got_first && result == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    end_stream(x);
}

/* ---- loop events --------------------------------------------------------------------- */

static void stop_curl(fk_xfer *x)
{
    if (!x->in_multi) return;
    fk_curl_loop_remove(x->loop, x->easy);
    x->in_multi = 0;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    fk_xfer *x = arg;
    if (x->finished || x->paused) {
        x->idle_armed = 0; /* not pending any more: a resume adds it again */
        return;
    }
    if (x->idle_armed) {
        double left = (double)x->idle_ms - (now_ms() - x->last_chunk_ms);
        if (left >= 1) { /* a chunk came since it was added */
            struct timeval tv = {(long)left / 1000, ((long)left % 1000) * 1000};
            evtimer_add(x->watchdog, &tv);
            return;
        }
    }
    x->timeout = x->got_first ? FK_XFER_IDLE : FK_XFER_FIRST_BYTE;
    stop_curl(x);
    x->curl_code = CURLE_OPERATION_TIMEDOUT;
    report(x, 0);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    fk_xfer *x = arg;
    if (x->finished) return;
    if (x->abort_pending) {
        stop_curl(x);
        report(x, 1);
        return;
    }
    if (!x->resume_pending) return;
    x->resume_pending = 0;
    x->paused = 0;
    if (drain(x) != 0) {
        x->sink_aborted = 1;
        stop_curl(x);
        report(x, 0);
        return;
    }
    if (x->paused) return;
    if (x->done_pending) {
        end_stream(x);
        return;
    }
    touch(x);
    if (x->curl_paused) {
        x->curl_paused = 0;
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

/* ---- public ------------------------------------------------------------------------------ */

void fk_xfer_resume(fk_xfer *x)
{
    if (x->finished) return;
    x->resume_pending = 1;
    event_active(x->kick, 0, 0);
}

void fk_xfer_abort(fk_xfer *x)
{
    if (x->finished) return;
    x->abort_pending = 1;
    event_active(x->kick, 0, 0);
}

void fk_xfer_free(fk_xfer *x)
{
    if (!x) return;
    if (x->in_multi) fk_curl_loop_remove(x->loop, x->easy);
    if (x->easy) {
        curl_easy_reset(x->easy); /* forget pointers into x before x goes */
        fk_curl_loop_recycle(x->loop, x->easy);
    }
    if (x->watchdog) event_free(x->watchdog);
    if (x->kick) event_free(x->kick);
    free(x->url);
    free(x->body);
    strbuf_clear(&x->in);
    strbuf_clear(&x->val);
    free(x);
}

/* The headers every request sends, as constant lists (curl only reads
 * them; building them with curl_slist_append for each request cost a few
 * allocations a request): a POST's, then a GET's. */
static char h_expect[] = "Expect:"; /* no 100-continue round trip for large bodies */
static char h_accept[] = "Accept: text/event-stream, application/json";
static char h_json[] = "Content-Type: application/json";
static struct curl_slist post_json = {h_json, NULL};
static struct curl_slist post_accept = {h_accept, &post_json};
static struct curl_slist post_headers = {h_expect, &post_accept};
static struct curl_slist get_accept = {h_accept, NULL};
static struct curl_slist get_headers = {h_expect, &get_accept};

static void setup(fk_xfer *x, const fk_xfer_opts *o)
{
    CURL *e = x->easy;
    x->headers = x->body ? &post_headers : &get_headers;
    if (o->request_id) {
        snprintf(x->id_header, sizeof x->id_header, "X-Request-Id: %.120s", o->request_id);
        x->id_node = (struct curl_slist){x->id_header, x->headers};
        x->headers = &x->id_node;
    }
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &x->job);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->total_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_ms);
    if (x->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    }
}

fk_xfer *fk_xfer_start(fk_curl_loop *loop, struct event_base *base, const fk_xfer_opts *opts,
                       const fk_xfer_sink *sink, void *owner)
{
    fk_xfer *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    strbuf_init(&x->in);
    strbuf_init(&x->val);
    x->loop = loop;
    x->sink = *sink;
    x->owner = owner;
    x->job.done = on_curl_done;
    x->job.owner = x;
    x->first_byte_ms = opts->first_byte_ms;
    x->idle_ms = opts->idle_ms;
    x->url = strdup(opts->url);
    x->body = opts->body ? strdup(opts->body) : NULL;
    x->easy = fk_curl_loop_easy(loop);
    x->watchdog = evtimer_new(base, on_watchdog, x);
    x->kick = event_new(base, -1, 0, on_kick, x);
    if (!x->url || (opts->body && !x->body) || !x->easy || !x->watchdog || !x->kick) {
        fk_xfer_free(x);
        return NULL;
    }
    setup(x, opts);
    if (fk_curl_loop_add(loop, x->easy) != 0) {
        fk_xfer_free(x);
        return NULL;
    }
    x->in_multi = 1;
    arm(x, x->first_byte_ms);
    return x;
}

/* bench_gateway.c: a small keep-alive HTTP load generator for fk-gateway.
 *
 *   bench_gateway PORT whole CONNS SECONDS    non-streaming chat requests on
 *       CONNS keep-alive connections for SECONDS: requests/s, p50/p99 latency
 *   bench_gateway PORT sse CONNS SECONDS      CONNS streams opened at once and
 *       held SECONDS: time to first event p50/p99/max, streams that finished
 *
 * One thread, epoll; the request bodies ask the scripted driver for the
 * scripts "instant" and "hold" (see bench_gateway.sh). */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;          /* socket */
    double t_sent;   /* when the current request was written */
    char buf[65536]; /* response bytes not yet consumed */
    size_t len;      /* bytes in buf */
    int got_first;   /* sse: first event seen */
    int finished;    /* sse: [DONE] seen */
} conn;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static char request[1024]; /* the request every connection sends */
static size_t request_len;

static void make_request(int stream)
{
    const char *body =
        stream ? "{\"messages\":[{\"role\":\"user\",\"content\":\"script:hold\"}],\"stream\":true}"
               : "{\"messages\":[{\"role\":\"user\",\"content\":\"script:instant\"}]}";
    request_len =
        (size_t)snprintf(request, sizeof request,
                         "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(body), body);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_request(conn *c)
{
    c->t_sent = now_s();
    if (write(c->fd, request, request_len) != (ssize_t)request_len) {
        perror("write");
        exit(1);
    }
}

/* Whole mode: a complete response in c->buf? Returns its length or 0. */
static size_t complete_response(const conn *c)
{
    const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 0;
    const char *cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length: ", 16);
    if (!cl) return 0;
    size_t body = (size_t)atol(cl + 16);
    size_t total = (size_t)(end + 4 - c->buf) + body;
    return c->len >= total ? total : 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_gateway PORT whole|sse CONNS SECONDS\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int sse = strcmp(argv[2], "sse") == 0;
    int n = atoi(argv[3]);
    double seconds = atof(argv[4]);
    make_request(sse);
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)n, sizeof *cs);
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    for (int i = 0; i < n; i++) {
        cs[i].fd = connect_to(port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double t0 = now_s();
    for (int i = 0; i < n; i++) send_request(&cs[i]);
    struct epoll_event evs[256];
    int done_streams = 0;
    while (now_s() - t0 < seconds && !(sse && done_streams == n)) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < k; e++) {
            conn *c = evs[e].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                fprintf(stderr, "connection closed by the gateway\n");
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->len += (size_t)r;
            if (sse) {
                if (!c->got_first && memmem(c->buf, c->len, "data: ", 6)) {
                    c->got_first = 1;
                    if (nlat < cap) lat[nlat++] = now_s() - c->t_sent;
                }
                if (!c->finished && memmem(c->buf, c->len, "data: [DONE]", 12)) {
                    c->finished = 1;
                    done_streams++;
                }
                if (c->len > 32768) { /* keep the tail for the [DONE] search */
                    memmove(c->buf, c->buf + c->len - 64, 64);
                    c->len = 64;
                }
                continue;
            }
            size_t used;
            while ((used = complete_response(c)) > 0) {
                if (nlat < cap) lat[nlat++] = now_s() - c->t_sent;
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                send_request(c);
            }
        }
    }
    double elapsed = now_s() - t0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    if (sse)
        printf("streams %d, first event on %zu, finished %d; time to first event p50 %.2f ms, "
               "p99 %.2f ms, max %.2f ms\n",
               n, nlat, done_streams, pct(lat, nlat, 0.5) * 1e3, pct(lat, nlat, 0.99) * 1e3,
               nlat ? lat[nlat - 1] * 1e3 : 0.0);
    else
        printf("connections %d, %zu requests in %.2f s: %.0f requests/s, latency p50 %.3f ms, "
               "p99 %.3f ms\n",
               n, nlat, elapsed, (double)nlat / elapsed, pct(lat, nlat, 0.5) * 1e3,
               pct(lat, nlat, 0.99) * 1e3);
    for (int i = 0; i < n; i++) close(cs[i].fd);
    free(cs);
    free(lat);
    close(ep);
    return 0;
}

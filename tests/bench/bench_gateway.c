/* bench_gateway.c: a small keep-alive HTTP load generator for fk-gateway.
 *
 *   bench_gateway PORT whole CONNS SECONDS    non-streaming chat requests on
 *       CONNS keep-alive connections for SECONDS: requests/s, p50/p99 latency
 *   bench_gateway PORT sse CONNS SECONDS [PID] CONNS streams opened at once and
 *       held (up to SECONDS): their time to first event p50/p99/max; then,
 *       while they are held, 50 probe streams one after another on a fresh
 *       connection: the time to first event a new client sees; the gateway's
 *       RSS while the streams are held (PID given)
 *
 * One thread, epoll; the request bodies ask the scripted driver for the
 * scripts "instant" and "hold" (see bench_gateway.sh). */
#define _GNU_SOURCE /* memmem */
#include "tests/bench/bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct conn {
    int fd;          /* socket */
    double t_sent;   /* when the current request was written */
    char buf[65536]; /* response bytes not yet consumed */
    size_t len;      /* bytes in buf */
    int got_first;   /* sse: first event seen */
    int finished;    /* sse: [DONE] seen */
} conn;

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

/* A POST /v1/chat/completions asking the scripted driver for `script`. */
static void make_request(char *buf, size_t cap, size_t *len, const char *script, int stream)
{
    char body[256];
    snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"script:%s\"}]%s}",
             script, stream ? ",\"stream\":true" : "");
    *len = (size_t)snprintf(buf, cap,
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
    c->t_sent = bench_now_s();
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

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

/* `count` streams one after another on one fresh connection: each one's time
 * to its first event, into out[]. */
static void probe_streams(int port, int count, double *out)
{
    char req[1024];
    size_t req_len;
    make_request(req, sizeof req, &req_len, "instant", 1);
    int fd = connect_to(port);
    char buf[8192];
    for (int i = 0; i < count; i++) {
        double t = bench_now_s();
        if (write(fd, req, req_len) != (ssize_t)req_len) exit(1);
        size_t len = 0;
        int first = 0;
        for (;;) {
            ssize_t r = read(fd, buf + len, sizeof buf - len - 1);
            if (r <= 0) exit(1);
            len += (size_t)r;
            buf[len] = '\0';
            if (!first && strstr(buf, "data: ")) {
                first = 1;
                out[i] = bench_now_s() - t;
            }
            /* the chunked reply ends with the zero-length chunk */
            if (strstr(buf, "data: [DONE]") && strstr(buf, "\r\n0\r\n\r\n")) break;
            if (len > sizeof buf / 2) {
                memmove(buf, buf + len - 64, 64);
                len = 64;
            }
        }
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: bench_gateway PORT whole|sse CONNS SECONDS [GATEWAY_PID]\n");
        return 2;
    }
    int pid = argc == 6 ? atoi(argv[5]) : 0;
    int port = atoi(argv[1]);
    int sse = strcmp(argv[2], "sse") == 0;
    int n = atoi(argv[3]);
    double seconds = atof(argv[4]);
    make_request(request, sizeof request, &request_len, sse ? "hold" : "instant", sse);
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)n, sizeof *cs);
    size_t cap = 1 << 20, nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    for (int i = 0; i < n; i++) {
        cs[i].fd = connect_to(port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double t0 = bench_now_s();
    for (int i = 0; i < n; i++) send_request(&cs[i]);
    struct epoll_event evs[256];
    while (bench_now_s() - t0 < seconds && !(sse && nlat == (size_t)n)) {
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
                    if (nlat < cap) lat[nlat++] = bench_now_s() - c->t_sent;
                }
                c->len = 0;
                continue;
            }
            size_t used;
            while ((used = complete_response(c)) > 0) {
                if (nlat < cap) lat[nlat++] = bench_now_s() - c->t_sent;
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                send_request(c);
            }
        }
    }
    double elapsed = bench_now_s() - t0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    if (sse) {
        printf("%d streams opened at once: %zu got their first event; time to first event "
               "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               n, nlat, pct(lat, nlat, 0.5) * 1e3, pct(lat, nlat, 0.99) * 1e3,
               nlat ? lat[nlat - 1] * 1e3 : 0.0);
        if (pid > 0) printf("gateway RSS with %d streams held: %ld kB\n", n, rss_kb(pid));
        double probe[50];
        probe_streams(port, 50, probe);
        qsort(probe, 50, sizeof *probe, cmp_double);
        printf("a new stream while %d are held: time to first event p50 %.3f ms, p99 %.3f ms\n", n,
               pct(probe, 50, 0.5) * 1e3, pct(probe, 50, 0.99) * 1e3);
    } else
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

/* test_gateway_conns: thousands of idle connections do not lock fk-gateway out.
 *
 * The real gateway (scripted driver) runs with a small open-file limit; this
 * process raises its own and opens thousands of TCP connections that never
 * send a byte, and holds them. Then:
 *   - a new client is answered within seconds,
 *   - the gateway's CPU time (utime + stime from /proc/PID/stat, not wall
 *     time) stays near zero while the idle connections are held,
 *   - its log stays small (no accept() error storm),
 *   - it closed the oldest idle connections to stay under its limit.
 * With the limit derived from RLIMIT_NOFILE (1024 -> 480 connections); the
 * same with the gateway stopped while the connections queue, so that it
 * accepts them all in one burst; and with FK_MAX_CONNECTIONS set above what
 * 256 descriptors allow, so that accept() itself fails with EMFILE. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/tap.h"

typedef struct gateway {
    pid_t pid;     /* fk-gateway */
    int port;      /* where it listens */
    char dir[256]; /* its temporary folder (.env, log) */
    char log[300]; /* its stderr */
} gateway;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process, in seconds. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    if (f) fclose(f);
    return n;
}

/* Start the gateway with RLIMIT_NOFILE = nofile and extra .env text. */
static int gateway_start(gateway *g, int nofile, const char *extra_env)
{
    snprintf(g->dir, sizeof g->dir, "/tmp/fk-conns-XXXXXX");
    if (!mkdtemp(g->dir)) return -1;
    char env[300];
    snprintf(env, sizeof env, "%s/.env", g->dir);
    snprintf(g->log, sizeof g->log, "%s/gateway.log", g->dir);
    FILE *f = fopen(env, "w");
    if (!f) return -1;
    fprintf(f, "FK_DRIVER=scripted\nFK_LISTEN=127.0.0.1:0\nFK_HEADER_TIMEOUT_S=120\n%s", extra_env);
    fclose(f);
    g->pid = fork();
    if (g->pid == 0) {
        struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
        int fd = open(g->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
        char gw[1024];
        snprintf(gw, sizeof gw, "%s/gateway/fk-gateway",
                 getenv("FK_TOP_BUILDDIR") ? getenv("FK_TOP_BUILDDIR") : ".");
        execl(gw, gw, "--env", env, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *lf = fopen(g->log, "r");
        char line[512];
        while (lf && fgets(line, sizeof line, lf)) {
            const char *p = strstr(line, "listening on 127.0.0.1:");
            if (p && sscanf(p + 23, "%d", &g->port) == 1) {
                fclose(lf);
                return 0;
            }
        }
        if (lf) fclose(lf);
        usleep(50000);
    }
    return -1;
}

static int gateway_stop(gateway *g)
{
    int status = -1;
    kill(g->pid, SIGTERM);
    waitpid(g->pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        FILE *f = fopen(g->log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) diag("gateway: %s", line);
        if (f) fclose(f);
        if (WIFSIGNALED(status)) diag("gateway: killed by signal %d", WTERMSIG(status));
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g->dir);
    if (system(cmd) != 0) diag("could not remove %s", g->dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
}

/* A request (Connection: close) on a fresh connection, read to the close;
 * the status code, or -1 after `timeout_s`. */
static int request(int port, const char *req, double timeout_s, char *out, size_t out_len)
{
    int s = connect_to(port);
    if (s < 0) return -1;
    double end = now_s() + timeout_s;
    size_t sent = 0, got = 0, len = strlen(req);
    out[0] = '\0';
    while (now_s() < end) {
        struct pollfd p = {s, (short)(sent < len ? POLLOUT : POLLIN), 0};
        if (poll(&p, 1, 50) <= 0) continue;
        if (sent < len) {
            ssize_t n = send(s, req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
            continue;
        }
        ssize_t n = recv(s, out + got, out_len - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        out[got] = '\0';
        if (got == out_len - 1) break;
    }
    close(s);
    int status = -1;
    if (sscanf(out, "HTTP/1.1 %d", &status) != 1) return -1;
    return status;
}

/* Open n connections that never send; the fds go to fds[]. How many opened. */
static int open_idle(int port, int *fds, int n)
{
    int opened = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(port);
        if (fds[i] >= 0) opened++;
        if (i % 256 == 255) usleep(20000); /* let the gateway keep up with accepts */
    }
    return opened;
}

/* How many of the connections the gateway has closed (EOF or reset). */
static int closed_by_peer(const int *fds, int n)
{
    int closed = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed++;
    }
    return closed;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

/* A counter from /metrics, or -1. */
static long long metric(int port, const char *name)
{
    static char out[65536];
    if (request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10, out,
                sizeof out) != 200)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(out, key);
    return p ? atoll(p + strlen(key)) : -1;
}

static const char health[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
static const char chat[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: 45\r\n\r\n"
                           "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

/* One scenario: hold n idle connections against a gateway; check it serves. */
static void scenario(const char *name, int nofile, const char *env, int n, int *fds,
                     int want_accept_errors, int burst)
{
    gateway g;
    if (!ok(gateway_start(&g, nofile, env) == 0, "%s: the gateway starts (RLIMIT_NOFILE %d)", name,
            nofile))
        return;
    char out[8192];
    double cpu0 = cpu_s(g.pid);
    if (burst) kill(g.pid, SIGSTOP); /* the connections wait in the backlog: one big accept burst */
    int opened = open_idle(g.port, fds, n);
    if (burst) kill(g.pid, SIGCONT);
    ok(opened == n, "%s: %d idle connections opened (%d wanted)", name, opened, n);
    sleep(2); /* the gateway settles: accepts, evictions, paused accepts */
    double cpu1 = cpu_s(g.pid);
    sleep(2);
    double cpu2 = cpu_s(g.pid);
    diag("%s: gateway CPU %.3f s for the flood, %.3f s in the 2 s after", name, cpu1 - cpu0,
         cpu2 - cpu1);
    ok(cpu1 - cpu0 < 3.0, "%s: the flood cost %.3f s of gateway CPU (< 3)", name, cpu1 - cpu0);
    ok(cpu2 - cpu1 < 0.25,
       "%s: while %d idle connections are held the gateway is near idle "
       "(%.3f s CPU in 2 s)",
       name, opened, cpu2 - cpu1);
    double t0 = now_s();
    int st = request(g.port, health, 10, out, sizeof out);
    double waited = now_s() - t0;
    is_int(st, 200, "%s: a new client is answered (%.2f s)", name, waited);
    ok(waited < 5, "%s: ... within seconds (%.2f s)", name, waited);
    is_int(request(g.port, chat, 10, out, sizeof out), 200, "%s: a chat completes", name);
    int closed = closed_by_peer(fds, n);
    ok(closed > 0, "%s: the gateway closed %d of the idle connections to stay under its limit",
       name, closed);
    long long evicted = metric(g.port, "fk_http_connections_evicted_total");
    long long errors = metric(g.port, "fk_http_accept_errors_total");
    diag("%s: /metrics: %lld evicted, %lld accept errors", name, evicted, errors);
    ok(evicted > 0, "%s: /metrics counts the evictions (%lld)", name, evicted);
    if (want_accept_errors)
        ok(errors > 0, "%s: /metrics counts the failed accept() calls (%lld)", name, errors);
    long size = file_size(g.log);
    int lines = count_in_file(g.log, "accept() failed");
    ok(size >= 0 && size < 64 * 1024, "%s: the log stays small (%ld bytes)", name, size);
    ok(lines <= 12, "%s: accept() errors logged at most once a second (%d lines)", name, lines);
    if (lines) diag("%s: %d accept() error line(s) in the log", name, lines);
    close_all(fds, n);
    is_int(gateway_stop(&g), 0, "%s: the gateway exits cleanly", name);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 20000 ? 20000 : rl.rlim_max;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    int n = (int)want - 200 < 3000 ? (int)want - 200 : 3000;
    if (!ok(n >= 1000, "this process may hold %d connections (RLIMIT_NOFILE hard limit %lu)", n,
            (unsigned long)rl.rlim_max))
        return done_testing();
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds) return 1;
    scenario("derived limit", 1024, "", n, fds, 0, 0);
    scenario("derived limit, all accepted at once", 1024, "", n * 2 / 3, fds, 0, 1);
    scenario("accept() out of descriptors", 256, "FK_MAX_CONNECTIONS=1000\n", n / 3, fds, 1, 0);
    free(fds);
    return done_testing();
}

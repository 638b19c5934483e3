/* main.c: fk-gateway: an OpenAI-compatible endpoint in front of its cores.
 *
 *   fk-gateway [--env FILE]      read FILE (default ./.env) and serve
 *
 * Start-up order: loop (pthreads enabled first) -> config -> drivers ->
 * signals and timers -> HTTP.
 * Exit 0 after SIGTERM/SIGINT once in-flight requests are done; 1 on a
 * configuration or start-up error. */
#include <config.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "response_store.h"
#include "server.h"

static void usage(FILE *f)
{
    fputs("usage: fk-gateway [--env FILE]\n"
          "\n"
          "Serves the OpenAI API (/v1/chat/completions, /v1/completions, /v1/responses,\n"
          "/v1/models, /health, /metrics, /version) in front of the core named by\n"
          "FK_CORE_KIND, and one more core per file listed in FK_CORES, routed by model.\n"
          "SIGHUP (or a change to the files) reloads them; SIGTERM/SIGINT stop\n"
          "after in-flight requests.\n"
          "\n"
          "  --env FILE   configuration in dotenv form (default: ./.env if present);\n"
          "               the process environment overrides the file\n"
          "  --help       this text\n"
          "  --version    print the version\n"
          "\n"
          "Every key, with its default, is listed commented in " FK_PKGDATADIR "/llama.env\n"
          "(conf/llama.env in the source tree); relative paths in FILE are relative\n"
          "to FILE's folder.\n",
          f);
}

/* 0 to go on, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, const char **env_path)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env") == 0 && i + 1 < argc) {
            *env_path = argv[++i];
        } else if (strncmp(argv[i], "--env=", 6) == 0) {
            *env_path = argv[i] + 6;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fk-gateway %s\n", PACKAGE_VERSION);
            return 1;
        } else {
            fprintf(stderr, "fk-gateway: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static void teardown(fk_gateway *gw)
{
    fk_server_free(gw);
    fk_slots_free_all(gw);
    fk_response_store_free(gw->responses);
    gw->responses = NULL;
    fk_watch_free(gw);
    if (gw->config) fk_config_free(gw->config);
    free(gw->config);
    gw->config = NULL;
    fk_metrics_free(&gw->metrics);
    struct event **evs[] = {&gw->sig_term,    &gw->sig_int,     &gw->sig_hup,    &gw->grace_timer,
                            &gw->stats_timer, &gw->drain_timer, &gw->stage_timer};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) {
        if (*evs[i]) event_free(*evs[i]);
        *evs[i] = NULL;
    }
    if (gw->base) event_base_free(gw->base);
    gw->base = NULL;
}

/* Loop first (pthreads enabled before it), then the configuration and cores,
 * signal handlers and timers, then HTTP. A configuration error is printed as
 * is ("FILE:LINE: KEY: why") and returns 2 so main can tell it from a
 * start-up failure. */
static int start(fk_gateway *gw, const char *env_path, char *err, size_t err_len)
{
    if (evthread_use_pthreads() < 0)
        return snprintf(err, err_len, "evthread_use_pthreads failed"), -1;
    gw->base = event_base_new();
    if (!gw->base) return snprintf(err, err_len, "event_base_new failed"), -1;
    fk_metrics_init(&gw->metrics);
    if (!(gw->responses = fk_response_store_new()))
        return snprintf(err, err_len, "out of memory"), -1;
    int config_error = 0;
    if (fk_cores_start(gw, env_path, &config_error, err, err_len) < 0)
        return config_error ? -2 : -1;
    /* The signal handlers before the "listening on" line: whoever reads it
     * may signal at once (a SIGHUP before them would end the process). */
    if (fk_shutdown_init(gw) < 0 || fk_statslog_init(gw) < 0 || fk_watch_init(gw) < 0)
        return snprintf(err, err_len, "cannot install signal handlers or timers"), -1;
    if (fk_server_start(gw, err, err_len) < 0) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *env_path = NULL;
    int a = parse_args(argc, argv, &env_path);
    if (a != 0) return a > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    static fk_gateway gw;
    char err[1024] = "";
    int rc = 0;
    int st = start(&gw, env_path, err, sizeof err);
    if (st == -2) {
        fprintf(stderr, "fk-gateway: %s\n", err);
        rc = 1;
    } else if (st < 0) {
        fk_error("%s", err);
        rc = 1;
    } else {
        event_base_dispatch(gw.base);
    }
    teardown(&gw);
    libevent_global_shutdown();
    return rc;
}

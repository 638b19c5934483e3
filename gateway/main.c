/* main.c: fk-gateway: an OpenAI-compatible endpoint in front of one core.
 *
 *   fk-gateway [--env FILE]      read FILE (default ./.env) and serve
 *
 * Start-up order: config -> loop (pthreads enabled first) -> driver -> HTTP.
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
#include "server.h"

static void usage(FILE *f)
{
    fputs("usage: fk-gateway [--env FILE]\n"
          "\n"
          "Serves the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models,\n"
          "/health, /metrics) in front of the core named by FK_CORE_KIND.\n"
          "\n"
          "  --env FILE   configuration in dotenv form (default: ./.env if present);\n"
          "               the process environment overrides the file\n"
          "  --help       this text\n"
          "  --version    print the version\n"
          "\n"
          "Keys: see conf/*.env and gateway/config.h.\n",
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
    fk_router_close(&gw->router);
    fk_host_clear(&gw->host);
    struct event **evs[] = {&gw->sig_term, &gw->sig_int, &gw->grace_timer, &gw->stats_timer,
                            &gw->drain_timer};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) {
        if (*evs[i]) event_free(*evs[i]);
        *evs[i] = NULL;
    }
    if (gw->base) event_base_free(gw->base);
    gw->base = NULL;
    fk_config_free(&gw->cfg);
}

static int start(fk_gateway *gw, char *err, size_t err_len)
{
    if (evthread_use_pthreads() < 0)
        return snprintf(err, err_len, "evthread_use_pthreads failed"), -1;
    gw->base = event_base_new();
    if (!gw->base) return snprintf(err, err_len, "event_base_new failed"), -1;
    fk_metrics_init(&gw->metrics);
    if (fk_host_init(&gw->host, &gw->cfg, gw->base, gw->cfg.driver_name) < 0)
        return snprintf(err, err_len, "cannot set up host services"), -1;
    if (fk_router_open(&gw->router, &gw->cfg, &gw->host.table, err, err_len) < 0) return -1;
    if (fk_server_start(gw, err, err_len) < 0) return -1;
    if (fk_shutdown_init(gw) < 0 || fk_statslog_init(gw) < 0)
        return snprintf(err, err_len, "cannot install signal handlers or timers"), -1;
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
    if (fk_config_load(&gw.cfg, env_path, err, sizeof err) < 0) {
        fprintf(stderr, "fk-gateway: %s\n", err);
        fk_config_free(&gw.cfg);
        return 1;
    }
    fk_log_set_level(gw.cfg.log_level);
    fk_info("fk-gateway %s: core %s, driver %s, config %s", PACKAGE_VERSION, gw.cfg.core_kind,
            gw.cfg.driver_name, gw.cfg.env_path ? gw.cfg.env_path : "(environment only)");
    int rc = 0;
    if (start(&gw, err, sizeof err) < 0) {
        fk_error("%s", err);
        rc = 1;
    } else {
        event_base_dispatch(gw.base);
    }
    teardown(&gw);
    libevent_global_shutdown();
    return rc;
}

/* test_driver_native: fk-driver-native.so loaded with dlopen, as the gateway
 * does, behind the gateway's own host services (test_host.h) on a libevent
 * loop of the test's: configuration through the host's parsers, post (the
 * driver uses no libevent of its own).
 *
 * Configuration errors, a model directory that cannot load, a model whose
 * vocabulary is too small, a request that arrives while loading (refused as
 * not ready, for the host to hold), prompt segments (text never becomes specials; unknown
 * specials and out-of-range ids are 400s), the context-length refusal, a KV
 * cache that caps max_model_len, and the pass-through refusal. Loading is held on a named pipe
 * standing in for tokenizer.json until the test writes it. */
#include "driver.h"
#include "tests/tap.h"
#include "tests/unit/test_host.h"

#include <dlfcn.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the host: the gateway's own (test_host.h) --------------------------------------- */

static struct event_base *base;
static test_host th; /* the current host; reopened for each configuration */

/* A host over this configuration ("KEY", "VALUE", ..., NULL); the previous
 * one is closed (its core must be destroyed). NULL with the reason in err. */
static const fk_host *host_with(const char *const *kv, char *err, size_t err_len)
{
    test_host_close(&th);
    const fk_host *h = test_host_open(&th, base, kv, err, err_len);
    if (!h) diag("host: %s", err);
    return h;
}

/* ---- a generation's view --------------------------------------------------------------- */

typedef struct rec {
    int pieces;         /* on_pieces pieces */
    int waits;          /* on_waiting calls */
    char what[64];      /* the last on_waiting text */
    int dones;          /* on_done calls */
    fk_gen_stats stats; /* from on_done */
    int err_status;     /* from on_done's error */
    int odd_size;       /* on_pieces got an element size other than this header's */
} rec;

static int on_pieces(void *ud, const fk_piece *p, size_t n, size_t piece_size)
{
    (void)p;
    ((rec *)ud)->pieces += (int)n;
    if (piece_size != sizeof *p) ((rec *)ud)->odd_size = 1;
    return 0;
}

static void on_done(void *ud, const fk_gen_stats *st, const fk_error *err)
{
    rec *r = ud;
    r->dones++;
    fk_abi_copy(&r->stats, sizeof r->stats, st, st->struct_size);
    if (err) r->err_status = err->http_status;
}

static void on_waiting(void *ud, const char *what)
{
    rec *r = ud;
    r->waits++;
    snprintf(r->what, sizeof r->what, "%s", what);
}

static const fk_gen_callbacks cbs = {sizeof cbs, on_pieces, on_done, on_waiting};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop until *flag is nonzero or `secs` pass. */
static int loop_until(const int *flag, double secs)
{
    double end = now_s() + secs;
    while (!*flag && now_s() < end) event_base_loop(base, EVLOOP_ONCE);
    return *flag;
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static const fk_driver *drv;

/* A raw-completion request; its sampling lives in *sp. */
static fk_gen_request request(fk_sampling *sp, const fk_segment *segs, size_t n, int max_tokens)
{
    *sp = (fk_sampling){.struct_size = sizeof *sp, .max_tokens = max_tokens, .top_p = 1};
    return (fk_gen_request){.struct_size = sizeof(fk_gen_request),
                            .mode = FK_GEN_COMPLETION,
                            .request_id = "t",
                            .segments = segs,
                            .n_segments = n,
                            .segment_size = sizeof *segs,
                            .sampling = sp};
}

static fk_segment seg(fk_segment_kind kind, const char *text)
{
    return (fk_segment){kind, 0, text, text ? strlen(text) : 0, -1};
}

static void *dl_handle; /* the driver's dlopen handle */

/* 1 when generate() refuses r; err is filled then (message never NULL). */
static int refuse(fk_core *c, const fk_gen_request *r, fk_error *err)
{
    static rec unused;
    *err = (fk_error){.struct_size = sizeof *err, .message = ""};
    fk_gen *g = drv->generate(c, r, &cbs, &unused, err);
    if (!err->message) err->message = "";
    return g == NULL;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_table(void)
{
    is_int(drv->abi_version, FK_DRIVER_ABI_VERSION, "ABI version");
    is_str(drv->name, "native", "driver name");
    ok(drv->struct_size == sizeof(fk_driver), "table size");
}

static void test_config_errors(const char *model_dir)
{
    char err[512];
    const fk_host *h = host_with((const char *const[]){NULL}, err, sizeof err);
    ok(h && !drv->create(h, err, sizeof err) && strstr(err, "VLLM_MODEL_CORE"),
       "no VLLM_MODEL_CORE: refused, naming it (%s)", err);
    h = host_with((const char *const[]){"VLLM_MODEL_CORE", "/nonexistent/model", NULL}, err,
                  sizeof err);
    ok(h && !drv->create(h, err, sizeof err) && strstr(err, "/nonexistent/model"),
       "missing directory: refused, naming it (%s)", err);
    h = host_with((const char *const[]){"VLLM_MODEL_CORE", model_dir, "FK_MAX_BATCH", "0", NULL},
                  err, sizeof err);
    ok(h && !drv->create(h, err, sizeof err) &&
           strstr(err, "test.env:2: FK_MAX_BATCH: 0 is out of range [1, 256]"),
       "FK_MAX_BATCH=0: refused through the host's getter, with FILE:LINE (%s)", err);
    h = host_with((const char *const[]){"VLLM_MODEL_CORE", model_dir, "FK_THREADS", "4x", NULL},
                  err, sizeof err);
    ok(h && !drv->create(h, err, sizeof err) && strstr(err, "FK_THREADS: '4x' is not an integer"),
       "FK_THREADS=4x: the host's integer rule (%s)", err);
    h = host_with(
        (const char *const[]){"VLLM_MODEL_CORE", model_dir, "VLLM_MAX_MODEL_LEN", "lots", NULL},
        err, sizeof err);
    ok(!h && strstr(err, "VLLM_MAX_MODEL_LEN: 'lots' is not an integer"),
       "VLLM_MAX_MODEL_LEN=lots: the host refuses the shared key once (%s)", err);
}

/* A host whose table ends before the services the driver calls. */
static void test_small_host(const char *model_dir)
{
    char err[512] = "";
    const fk_host *h =
        host_with((const char *const[]){"VLLM_MODEL_CORE", model_dir, NULL}, err, sizeof err);
    require(h != NULL, "the test host: %s", err);
    fk_host small = *h;
    small.struct_size = (uint32_t)offsetof(fk_host, post);
    fk_core *c = drv->create(&small, err, sizeof err);
    ok(!c && strstr(err, "lacks") && strstr(err, "upgrade fk-gateway"),
       "a host without post/timers is refused with a message (%s)", err);
    if (c) drv->destroy(c);
}

static void test_broken_model(const char *empty_dir)
{
    char err[512], detail[512];
    fk_sampling sp;
    const fk_host *h =
        host_with((const char *const[]){"VLLM_MODEL_CORE", empty_dir, NULL}, err, sizeof err);
    fk_core *c = h ? drv->create(h, err, sizeof err) : NULL;
    ok(c != NULL, "an empty directory is accepted at create (loading is in the background)");
    if (!c) return;
    fk_segment s = seg(FK_SEG_RAW, "hi");
    fk_gen_request r = request(&sp, &s, 1, 4);
    fk_health st = FK_HEALTH_LOADING;
    for (int i = 0; i < 2000 && st == FK_HEALTH_LOADING; i++) {
        event_base_loop(base, EVLOOP_ONCE);
        st = drv->health(c, detail, sizeof detail);
    }
    is_int(st, FK_HEALTH_ERROR, "health: error once loading fails");
    ok(strstr(detail, "config.json") != NULL, "the reason names what is missing (%s)", detail);
    fk_error e = {.struct_size = sizeof e};
    int refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 503 && !e.not_ready,
       "requests are refused with 503, not as 'not ready' (%s)", e.message);
    drv->destroy(c);
}

/* fk-mkmodel's defaults (a 1024-id vocabulary) under the bundled o200k
 * tokenizer: refused at load with both numbers, not a failure per request. */
static void test_small_vocab(const char *tmp)
{
    char dir[1200], cmd[2600], err[512], detail[1024] = "";
    snprintf(dir, sizeof dir, "%s/small-vocab", tmp);
    const char *b = getenv("FK_TOP_BUILDDIR");
    snprintf(cmd, sizeof cmd, "'%s/drivers/cuda/tools/fk-mkmodel' --out '%s' >/dev/null",
             b ? b : ".", dir);
    require(system(cmd) == 0, "the input model: fk-mkmodel with its defaults");
    const fk_host *h =
        host_with((const char *const[]){"VLLM_MODEL_CORE", dir, NULL}, err, sizeof err);
    fk_core *c = h ? drv->create(h, err, sizeof err) : NULL;
    require(c != NULL, "create over the small-vocabulary model: %s", err);
    fk_health st = FK_HEALTH_LOADING;
    for (int i = 0; i < 2000 && st == FK_HEALTH_LOADING; i++) {
        event_base_loop(base, EVLOOP_ONCE);
        st = drv->health(c, detail, sizeof detail);
    }
    is_int(st, FK_HEALTH_ERROR, "the model is refused at load");
    ok(strstr(detail, "vocabulary (1024 ids)") && strstr(detail, "201088") &&
           strstr(detail, "--vocab"),
       "the reason names both vocabularies and the fix (%s)", detail);
    drv->destroy(c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("cannot remove %s", dir);
}

/* A KV cache too small for VLLM_MAX_MODEL_LEN caps the served length at
 * what one sequence can hold (so every admitted request can finish), and a
 * longer prompt is refused up front as context_length_exceeded. */
static void test_kv_cap(const char *fixture)
{
    char err[512], detail[512];
    const fk_host *h = host_with((const char *const[]){"VLLM_MODEL_CORE", fixture, "FK_KV_CACHE_MB",
                                                       "1", "FK_THREADS", "1", NULL},
                                 err, sizeof err);
    fk_core *c = h ? drv->create(h, err, sizeof err) : NULL;
    if (!ok(c != NULL, "create with FK_KV_CACHE_MB=1 (%s)", c ? "" : err)) return;
    fk_health st = FK_HEALTH_LOADING;
    for (int i = 0; i < 30000 && st == FK_HEALTH_LOADING; i++) {
        event_base_loop(base, EVLOOP_ONCE);
        st = drv->health(c, detail, sizeof detail);
    }
    is_int(st, FK_HEALTH_READY, "ready (%s)", detail);
    fk_model_info info[1];
    drv->list_models(c, info, 1, sizeof info[0]);
    /* 1 MiB = 128 blocks of 16 positions (8 KiB each on the tiny model); a
     * sequence needs n/16 full blocks and up to 34 sliding ones. */
    ok(info[0].max_model_len > 1000 && info[0].max_model_len < 8192,
       "max_model_len capped by the pool: %d (VLLM_MAX_MODEL_LEN 8192)", info[0].max_model_len);
    static char long_text[20000];
    for (size_t i = 0; i + 5 < sizeof long_text; i += 5) memcpy(long_text + i, "word ", 5);
    fk_segment too_long = seg(FK_SEG_TEXT, long_text);
    fk_sampling sp;
    fk_gen_request r = request(&sp, &too_long, 1, 4);
    fk_error e;
    int refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400 && e.code && strcmp(e.code, "context_length_exceeded") == 0,
       "a prompt the pool can never hold: 400 context_length_exceeded up front (%s)", e.message);
    fk_core_metrics m = {.struct_size = sizeof m, .kv_usage = -1};
    drv->metrics(c, &m);
    ok(m.kv_usage == 0 && m.backend && strcmp(m.backend, "cpu") == 0,
       "metrics: KV usage 0 when idle, backend cpu");
    drv->destroy(c);
}

/* Writes the real tokenizer into the pipe once `go` is set. */
typedef struct pipe_writer {
    const char *src, *dst; /* tokenizer.json and the pipe */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go;
} pipe_writer;

static void *write_pipe(void *arg)
{
    pipe_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->go) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    FILE *in = fopen(w->src, "rb"), *out = fopen(w->dst, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    if (in) fclose(in);
    if (out) fclose(out);
    return NULL;
}

static void test_serving(const char *fixture, const char *held_dir)
{
    char err[512], detail[256], tok_src[1200], pipe_path[1200];
    snprintf(tok_src, sizeof tok_src, "%s/tokenizer.json", fixture);
    snprintf(pipe_path, sizeof pipe_path, "%s/tokenizer.json", held_dir);
    pipe_writer w = {tok_src, pipe_path, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_t writer;
    pthread_create(&writer, NULL, write_pipe, &w);

    fk_sampling sp;
    const fk_host *h = host_with(
        (const char *const[]){"VLLM_MODEL_CORE", held_dir, "VLLM_MAX_MODEL_LEN", "64", "FK_THREADS",
                              "1", "FK_MAX_BATCH", "2", "FRONTEND_MAX_TOKENS", "16", NULL},
        err, sizeof err);
    fk_core *c = h ? drv->create(h, err, sizeof err) : NULL;
    require(c != NULL, "create over the held model: %s", err);
    is_int(drv->health(c, detail, sizeof detail), FK_HEALTH_LOADING, "health: loading");
    ok(strncmp(detail, "Loading model: ", 15) == 0, "detail: %s", detail);
    fk_model_info info[2];
    is_int((long long)drv->list_models(c, info, 2, sizeof *info), 1, "one model");
    is_str(info[0].id, "held-model", "model id: the directory's basename");

    fk_segment prompt[] = {seg(FK_SEG_SPECIAL, "<|start|>"),   seg(FK_SEG_TEXT, "user"),
                           seg(FK_SEG_SPECIAL, "<|message|>"), seg(FK_SEG_TEXT, "Hi"),
                           seg(FK_SEG_SPECIAL, "<|end|>"),     seg(FK_SEG_SPECIAL, "<|start|>"),
                           seg(FK_SEG_TEXT, "assistant")};
    fk_gen_request r = request(&sp, prompt, 7, 5);
    rec early = {0};
    fk_error e = {.struct_size = sizeof e};
    int refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 503 && e.not_ready && e.retry_after_s > 0 &&
           strstr(e.message, "still loading"),
       "a request while loading is refused as not ready, for the host to hold (%s)", e.message);

    pthread_mutex_lock(&w.mu);
    w.go = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    fk_health st = FK_HEALTH_LOADING;
    for (int i = 0; i < 30000 && st == FK_HEALTH_LOADING; i++) {
        event_base_loop(base, EVLOOP_ONCE);
        st = drv->health(c, detail, sizeof detail);
    }
    pthread_join(writer, NULL);
    is_int(st, FK_HEALTH_READY, "health: ready");
    e = (fk_error){.struct_size = sizeof e};
    ok(drv->generate(c, &r, &cbs, &early, &e) != NULL, "the same request is taken once ready");
    loop_until(&early.dones, 30);
    is_int(early.stats.finish, FK_FINISH_LENGTH, "it runs");
    is_int(early.stats.completion_tokens, 5, "max_tokens 5");
    is_int(early.stats.prompt_tokens, 7, "specials by name: one token each");
    ok(early.pieces >= 5, "pieces arrived (%d)", early.pieces);
    ok(!early.odd_size, "pieces come with this header's element size");
    drv->list_models(c, info, 2, sizeof *info);
    is_int(info[0].max_model_len, 64, "max_model_len as configured");

    /* the same characters as text are not special */
    fk_segment as_text = seg(FK_SEG_TEXT, "<|start|>");
    fk_segment as_raw = seg(FK_SEG_RAW, "<|start|>");
    rec t = {0}, raw = {0};
    r = request(&sp, &as_text, 1, 1);
    drv->generate(c, &r, &cbs, &t, &e);
    r = request(&sp, &as_raw, 1, 1);
    drv->generate(c, &r, &cbs, &raw, &e);
    loop_until(&t.dones, 10);
    loop_until(&raw.dones, 10);
    ok(t.stats.prompt_tokens > 1, "FK_SEG_TEXT \"<|start|>\" is text (%d tokens)",
       t.stats.prompt_tokens);
    is_int(raw.stats.prompt_tokens, 1, "FK_SEG_RAW \"<|start|>\" is the special token");

    /* refusals */
    fk_segment bad_special = seg(FK_SEG_SPECIAL, "<|nope|>");
    r = request(&sp, &bad_special, 1, 1);
    refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400 && strstr(e.message, "<|nope|>"),
       "unknown special: 400 (%s)", e.message);
    fk_segment bad_id = {FK_SEG_TOKEN, 1, NULL, 0, 201088};
    r = request(&sp, &bad_id, 1, 1);
    refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400 && strstr(e.message, "201088"),
       "token id out of range: 400 (%s)", e.message);
    char long_text[2048];
    for (int i = 0; i < 100; i++) memcpy(long_text + 5 * i, " word", 5);
    long_text[500] = 0;
    fk_segment too_long = seg(FK_SEG_TEXT, long_text);
    r = request(&sp, &too_long, 1, 1);
    refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400 && e.code &&
           strcmp(e.code, "context_length_exceeded") == 0 && strstr(e.message, "64") &&
           strstr(e.message, "100"),
       "too long: 400 context_length_exceeded with both numbers (%s)", e.message ? e.message : "");
    r = request(&sp, prompt, 7, 1);
    r.max_model_len = 7;
    refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400, "the request's own max_model_len applies (%s)", e.message);
    r = request(&sp, prompt, 7, 0);
    r.mode = FK_GEN_PASSTHROUGH;
    refused = refuse(c, &r, &e);
    ok(refused && e.http_status == 400, "pass-through: refused (%s)", e.message);

    /* a completion cut by the context: prompt 7, limit 10 -> 3 tokens */
    rec cut = {0};
    r = request(&sp, prompt, 7, 50);
    r.max_model_len = 10;
    drv->generate(c, &r, &cbs, &cut, &e);
    loop_until(&cut.dones, 10);
    is_int(cut.stats.completion_tokens, 3, "prompt + completion stop at max_model_len");
    is_int(cut.stats.finish, FK_FINISH_LENGTH, "finish LENGTH");
    drv->destroy(c);
}

int main(void)
{
    evthread_use_pthreads();
    base = event_base_new();
    struct event *beat = event_new(base, -1, EV_PERSIST, on_heartbeat, NULL);
    struct timeval tv = {0, 10000};
    event_add(beat, &tv);
    drv = test_load_driver("native", &dl_handle);
    require(drv != NULL, "fk-driver-native.so loads from FK_DRIVER_DIR");

    const char *fx = getenv("FK_FIXTURES");
    char fixture[1024], tmp[] = "/tmp/fk-native-XXXXXX", held[1100], empty[1100];
    snprintf(fixture, sizeof fixture, "%s/models/tiny-gptoss-bf16", fx ? fx : "tests/fixtures");
    require(mkdtemp(tmp) != NULL, "a temporary folder");
    snprintf(held, sizeof held, "%s/held-model", tmp);
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    mkdir(held, 0700);
    mkdir(empty, 0700);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors.index.json",
                           "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    char from[2100], to[2100];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "%s/%s", fixture, files[i]);
        snprintf(to, sizeof to, "%s/%s", held, files[i]);
        if (symlink(from, to) != 0) diag("symlink %s: failed", to);
    }
    snprintf(to, sizeof to, "%s/tokenizer.json", held);
    if (mkfifo(to, 0600) != 0) diag("mkfifo %s failed", to);

    test_table();
    test_config_errors(held);
    test_small_host(held);
    test_broken_model(empty);
    test_small_vocab(tmp);
    test_kv_cap(fixture);
    test_serving(fixture, held);

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(to, sizeof to, "%s/%s", held, files[i]);
        unlink(to);
    }
    snprintf(to, sizeof to, "%s/tokenizer.json", held);
    unlink(to);
    rmdir(held);
    rmdir(empty);
    rmdir(tmp);
    test_host_close(&th);
    event_free(beat);
    event_base_free(base);
    dlclose(dl_handle);
    return done_testing();
}

/* fk-gguf: write a GGUF that llama.cpp's llama-server loads from a gpt-oss
 * checkpoint the native engine loads.
 *
 *   fk-gguf --model DIR --out FILE.gguf [--outtype bf16|f32] [--tokenizer PATH]
 *           [--name NAME] [--pre NAME]
 *
 * DIR is validated by the engine's own loader (config, every shard header,
 * every tensor's name, shape and dtype, both expert forms). MXFP4 experts stay
 * GGML MXFP4 and bf16 experts stay bf16 (or f32 with --outtype f32); embedding,
 * attention and lm_head matrices are written as --outtype (default bf16, so
 * nothing is rounded); norms, biases, sinks and the router are f32, as
 * llama.cpp's converter writes them. The vocabulary, merges and special
 * tokens come from DIR/tokenizer.json (or --tokenizer), the chat template from
 * DIR/chat_template.jinja or tokenizer_config.json when present; --pre names
 * llama.cpp's pre-tokenizer (default FK_GGUF_DEFAULT_PRE, the one that splits
 * exactly like o200k; "gpt-4o" for llama.cpp builds that lack it). Layout:
 * gguf_gptoss.h. The file is written as FILE.gguf.partial and renamed when
 * complete. Exit status: 0 written, 1 a write failed, 2 bad usage or input. */
#include "drivers/cuda/checkpoint/checkpoint.h"
#include "gguf_gptoss.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the command line asked for. */
typedef struct gguf_opts {
    const char *model;     /* checkpoint directory */
    const char *out;       /* GGUF file to write */
    const char *tokenizer; /* tokenizer.json, or NULL for DIR/tokenizer.json */
    const char *name;      /* general.name, or NULL for DIR's last component */
    const char *pre;       /* tokenizer.ggml.pre */
    fk_ggml_type outtype;  /* type of the non-expert matrices (and bf16 experts) */
} gguf_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: fk-gguf --model DIR --out FILE.gguf [--outtype bf16|f32] "
               "[--tokenizer PATH] [--name NAME] [--pre NAME]\n");
}

static int parse_args(int argc, char **argv, gguf_opts *o)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"out", required_argument, 0, 'o'},
        {"outtype", required_argument, 0, 't'}, {"tokenizer", required_argument, 0, 'k'},
        {"name", required_argument, 0, 'n'},    {"pre", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->outtype = FK_GGML_BF16;
    o->pre = FK_GGUF_DEFAULT_PRE;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 't':
            if (strcmp(optarg, "bf16") && strcmp(optarg, "f32")) {
                fprintf(stderr, "fk-gguf: --outtype expects bf16 or f32, got \"%s\"\n", optarg);
                return -1;
            }
            o->outtype = strcmp(optarg, "f32") == 0 ? FK_GGML_F32 : FK_GGML_BF16;
            break;
        case 'k':
            o->tokenizer = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'p':
            o->pre = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!o->model || !o->out || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Whole file as a NUL-terminated string, or NULL (errno set). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, 4096, f);
        len += n;
    } while (n > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

/* DIR/chat_template.jinja, else DIR/tokenizer_config.json's "chat_template"
 * string, else NULL. A file present but unreadable is an error (-1). */
static int read_chat_template(const char *dir, char **out)
{
    char path[4096];
    *out = NULL;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (access(path, F_OK) == 0) {
        *out = slurp(path);
        if (!*out) fprintf(stderr, "fk-gguf: %s: %s\n", path, strerror(errno));
        return *out ? 0 : -1;
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (access(path, F_OK) != 0) return 0;
    json_error_t je;
    json_t *cfg = json_load_file(path, 0, &je);
    if (!cfg) {
        fprintf(stderr, "fk-gguf: %s: line %d: %s\n", path, je.line, je.text);
        return -1;
    }
    const char *t = json_string_value(json_object_get(cfg, "chat_template"));
    if (t) *out = strdup(t);
    json_decref(cfg);
    return 0;
}

/* Declare and write every tensor of the plan. 0, or -1 with err. */
static int write_tensors(fk_gguf_writer *w, const fk_checkpoint *ck, fk_ggml_type outtype,
                         size_t *n_out, char *err, size_t err_len)
{
    size_t n = fk_gguf_gptoss_plan(ck, outtype, NULL, 0);
    fk_gguf_tensor *plan = calloc(n, sizeof *plan);
    if (!plan) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    fk_gguf_gptoss_plan(ck, outtype, plan, n);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fk_gguf_add_tensor(w, plan[i].name, plan[i].type, plan[i].ndim, plan[i].ne);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = fk_gguf_tensor_emit(&plan[i], w, err, err_len);
    free(plan);
    *n_out = n;
    return rc;
}

/* The whole file at path (the .partial name). 0, or -1 with err. */
static int write_gguf(const char *path, const gguf_opts *o, const fk_checkpoint *ck,
                      const fk_gguf_vocab *v, const char *chat_template, size_t *n_tensors,
                      char *err, size_t err_len)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    fk_gguf_writer *w = fk_gguf_writer_open(path, err, err_len);
    if (!w) return -1;
    const char *name = o->name;
    if (!name) {
        const char *slash = strrchr(o->model, '/');
        name = slash && slash[1] ? slash + 1 : o->model;
    }
    char emit_err[256] = "";
    int rc = fk_gguf_gptoss_metadata(w, c, name, o->outtype) ||
             fk_gguf_gptoss_vocab(w, c, v, o->pre, chat_template) ||
             write_tensors(w, ck, o->outtype, n_tensors, emit_err, sizeof emit_err);
    /* close reports the writer's own error (I/O, shapes); else the emitter's */
    if (fk_gguf_writer_close(w, err, err_len) != 0) return -1;
    if (rc) snprintf(err, err_len, "%s: %s", path, emit_err[0] ? emit_err : "failed");
    return rc ? -1 : 0;
}

static void print_summary(const gguf_opts *o, const fk_checkpoint *ck, const fk_gguf_vocab *v,
                          size_t n_tensors)
{
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    struct stat st;
    long long size = stat(o->out, &st) == 0 ? (long long)st.st_size : -1;
    printf("fk-gguf: wrote %s: %zu tensors (experts %s, matrices %s), %zu tokens, %zu merges, "
           "%lld bytes\n",
           o->out, n_tensors, c->experts_mxfp4 ? "MXFP4" : fk_ggml_type_name(o->outtype),
           fk_ggml_type_name(o->outtype), v->n, v->n_merges, size);
}

/* Notes on what the GGUF cannot say, printed once. */
static void print_notes(const fk_gptoss_config *c, const fk_gguf_vocab *v)
{
    if (v->dropped_tokens)
        fprintf(stderr,
                "fk-gguf: note: vocab_size %d is below the tokenizer's ids: %zu tokens and %zu "
                "merges beyond it left out\n",
                c->vocab_size, v->dropped_tokens, v->dropped_merges);
    if (c->rope_yarn && !c->rope_truncate)
        fprintf(stderr, "fk-gguf: note: llama.cpp rounds YaRN's correction range (config.json "
                        "says truncate: false), so positions past 0 rotate slightly differently "
                        "than in the reference\n");
}

int main(int argc, char **argv)
{
    gguf_opts o;
    if (parse_args(argc, argv, &o)) return 2;
    static char err[16384];
    fk_checkpoint *ck = fk_checkpoint_open(o.model, err, sizeof err);
    if (!ck) {
        fprintf(stderr, "fk-gguf: %s\n", err);
        return 2;
    }
    const fk_gptoss_config *c = fk_checkpoint_config(ck);
    char tok_path[4096];
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", o.model);
    if (!o.tokenizer && access(tok_path, R_OK) != 0) {
        fprintf(stderr, "fk-gguf: %s: %s (pass --tokenizer PATH)\n", tok_path, strerror(errno));
        fk_checkpoint_close(ck);
        return 2;
    }
    fk_gguf_vocab v;
    char *chat_template = NULL;
    if (fk_gguf_gptoss_check(c, err, sizeof err) ||
        fk_gguf_vocab_load(o.tokenizer ? o.tokenizer : tok_path, (size_t)c->vocab_size, &v, err,
                           sizeof err)) {
        fprintf(stderr, "fk-gguf: %s\n", err);
        fk_checkpoint_close(ck);
        return 2;
    }
    if (read_chat_template(o.model, &chat_template)) {
        fk_gguf_vocab_free(&v);
        fk_checkpoint_close(ck);
        return 2;
    }
    print_notes(c, &v);
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", o.out);
    size_t n_tensors = 0;
    int rc = write_gguf(partial, &o, ck, &v, chat_template, &n_tensors, err, sizeof err);
    if (rc == 0 && rename(partial, o.out) != 0) {
        snprintf(err, sizeof err, "%s: cannot rename to %s: %s", partial, o.out, strerror(errno));
        rc = -1;
    }
    if (rc) {
        fprintf(stderr, "fk-gguf: %s\n", err);
        unlink(partial);
    } else {
        print_summary(&o, ck, &v, n_tensors);
    }
    free(chat_template);
    fk_gguf_vocab_free(&v);
    fk_checkpoint_close(ck);
    return rc ? 1 : 0;
}

/* ab.h: fk-ab, the A/B comparison of two OpenAI-compatible endpoints.
 *
 * The path of one chat:
 *
 *   chats.c    a chat ({"messages": [...]} or a raw {"prompt"}) -> prompt ids,
 *              rendered by libfkharmony and tokenized by libfktok exactly as
 *              the gateway does for chat (so each side sees the same ids)
 *   client.c   POST /v1/completions with those ids, greedy, streamed, with
 *              logprobs named by id (return_tokens_as_token_ids) -> ab_run:
 *              every generated token (reasoning, final, tool calls and the
 *              Harmony structure alike), its log-probability, its top-k
 *              alternatives and when it arrived
 *   compare.c  two runs -> one chat's report (JSON): agreement, the first
 *              diverging position, log-probability differences, top-k
 *              overlap, where each side put reasoning and final (libfkharmony's
 *              parser over the ids), timings; and the summary over all chats
 *   report_text.c, report_html.c   the report for people
 *
 * Ownership: an ab_run owns its arrays; free with ab_run_clear. */
#ifndef FK_AB_H
#define FK_AB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tokenizer/fktok.h"

#define AB_MAX_TOP 20 /* top-k alternatives per position, as OpenAI caps them */

/* ---- chats ---------------------------------------------------------------------- */

typedef struct ab_chat {
    char *label;     /* the last user message (or the raw prompt), shortened; owned */
    int32_t *prompt; /* the prompt's ids; owned */
    size_t n_prompt; /* ids in prompt */
    int raw;         /* 1: a raw prompt (no assistant header to start from) */
} ab_chat;

typedef struct ab_chats {
    ab_chat *v; /* owned */
    size_t n;   /* chats in v */
} ab_chats;

/* The built-in chats, or one per non-blank line of `path` ({"messages": [...],
 * "tools"?, "reasoning_effort"?} or {"prompt": "text" | [ids]}). `date` is
 * the system message's date (NULL: today). 0, or -1 with a message in err
 * naming the file and line. */
int ab_chats_load(ab_chats *out, const char *path, const fktok *tok, const char *date, char *err,
                  size_t err_len);
void ab_chats_free(ab_chats *c);

/* ---- one side's answer -------------------------------------------------------------- */

typedef struct ab_token {
    int32_t id;                 /* the token; -1 when the core did not name it */
    char *text;                 /* id -1: the text the core sent for it; owned, else NULL */
    int inferred;               /* 1: id taken from the other side by ab_align */
    double logprob;             /* its log-probability; NAN when the core gave none */
    int n_top;                  /* entries in top_id / top_lp */
    int32_t top_id[AB_MAX_TOP]; /* the best alternatives, best first */
    double top_lp[AB_MAX_TOP];  /* their log-probabilities */
    double t_ms;                /* when it arrived, ms after the request was sent */
} ab_token;

typedef struct ab_run {
    ab_token *tok;         /* generated tokens in order; owned */
    size_t n, cap;         /* used / allocated entries of tok */
    int prompt_tokens;     /* usage.prompt_tokens (-1: not reported) */
    int completion_tokens; /* usage.completion_tokens (-1: not reported) */
    char finish[24];       /* finish_reason */
    double total_ms;       /* request sent -> stream ended */
} ab_run;

void ab_run_clear(ab_run *r);

/* ---- the endpoints -------------------------------------------------------------- */

typedef struct ab_side {
    const char *name;    /* "A" or "B" */
    char *base;          /* base URL without a trailing "/" or "/v1"; owned */
    char *model;         /* the model id; owned */
    const char *api_key; /* sent as a bearer token, or NULL */
} ab_side;

/* The first id of base's /v1/models into side->model, retrying a base that
 * does not accept connections for up to wait_s seconds. 0, or -1 with err. */
int ab_client_default_model(ab_side *side, double wait_s, char *err, size_t err_len);
/* One greedy completion of chat's prompt, streamed. 0, or -1 with err. */
int ab_client_complete(const ab_side *side, const ab_chat *chat, int max_tokens, int top_k,
                       ab_run *out, char *err, size_t err_len);

/* ---- the comparison ----------------------------------------------------------------- */

/* Name the tokens a core sent without an id (llama-server holds back the
 * bytes of a token that ends inside a UTF-8 character and sends them with
 * the next token, under that token's id only): an unnamed entry whose text
 * is the text of the other side's next 1 to 8 tokens at that position becomes
 * those tokens, marked inferred, with no log-probability. 0, or -1 on OOM. */
int ab_align(ab_run *a, ab_run *b, const fktok *tok);
/* One chat's report (new object): see the --json shape in README.md. */
json_t *ab_compare_chat(const ab_chat *chat, size_t index, const ab_run *a, const ab_run *b,
                        const fktok *tok);
/* The summary over the chats' reports (new object). */
json_t *ab_summary(const json_t *chats);

/* ---- reports --------------------------------------------------------------------- */

/* The terminal table. */
void ab_report_text(FILE *f, const json_t *report);
/* The self-contained HTML page (no network, SVG plots). 0, or -1 (errno set). */
int ab_report_html(const char *path, const json_t *report);

#endif

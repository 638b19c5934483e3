/* fktok.h: libfktok, the o200k-family byte-level BPE tokenizer.
 *
 * Shared by the native engine and the llama.cpp proxy driver (neither depends
 * on the other). Loads a Hugging Face tokenizer.json or a tiktoken rank file
 * (plus the Harmony special tokens); both give identical ids.
 *
 * Special tokens are produced only where the caller allows it: encoding with
 * allow_special = 0 treats "<|end|>" as ordinary text.
 *
 * Thread safety: a loaded fktok is immutable and may be shared by threads;
 * encoding uses only caller-owned state. */
#ifndef FK_TOKENIZER_H
#define FK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fktok fktok;

/* A growable id vector, owned by the caller (free ids with free()). */
typedef struct fktok_ids {
    int32_t *ids;
    size_t n;
    size_t cap;
} fktok_ids;

/* Loaders: NULL on failure with a message naming the file (and the JSON path
 * or line) in err. */
fktok *fktok_load_json(const char *path, char *err, size_t err_len);
fktok *fktok_load_tiktoken(const char *path, char *err, size_t err_len);
/* The bundled o200k_harmony (tiktoken ranks installed under the package data
 * dir, or $FK_TOKENIZER_DATA/o200k_base.tiktoken). */
fktok *fktok_load_default(char *err, size_t err_len);
void fktok_free(fktok *t);

/* Append the ids of text[0..len) to out. allow_special: recognise spelled-out
 * special tokens (only the ones the tokenizer knows). Bytes that are not valid
 * UTF-8 become single-byte tokens, so the ids' bytes always join back to the
 * input. 0, or -1 on OOM (or when a hostile tokenizer.json regex exhausts its
 * backtracking budget). */
int fktok_encode(const fktok *t, const char *text, size_t len, int allow_special, fktok_ids *out);
/* Id of a special token by its text ("<|start|>"), or -1. */
int32_t fktok_special_id(const fktok *t, const char *text, size_t len);
/* 1 when id is a special (added) token. */
int fktok_is_special(const fktok *t, int32_t id);
/* The bytes of one token (specials spelled out), or NULL for an id outside
 * the vocabulary. Borrowed from t. */
const char *fktok_token_bytes(const fktok *t, int32_t id, size_t *len);
size_t fktok_vocab_size(const fktok *t);

/* Streaming decoder: turns ids into text that never ends inside a UTF-8
 * character; invalid sequences become U+FFFD. */
typedef struct fktok_decoder {
    unsigned char pending[8]; /* bytes of an unfinished character */
    size_t n_pending;
} fktok_decoder;

/* Decode one id: writes complete text to *out (malloc'd or grown buffer owned
 * by the caller via out/out_len/out_cap). Returns bytes appended, -1 on OOM.
 * An id outside the vocabulary appends U+FFFD. */
long fktok_decoder_push(fktok_decoder *d, const fktok *t, int32_t id, char **out, size_t *out_len,
                        size_t *out_cap);
/* End of stream: pending bytes become U+FFFD. */
long fktok_decoder_flush(fktok_decoder *d, char **out, size_t *out_len, size_t *out_cap);

/* ---- additions (after the fixed interface above) ---- */

/* Load either format: a file whose first non-blank byte is '{' is read as
 * tokenizer.json, anything else as tiktoken ranks. */
fktok *fktok_load(const char *path, char *err, size_t err_len);
/* Load a tokenizer.json held in memory (data[0..len), need not be
 * NUL-terminated); name stands for the file in error messages. */
fktok *fktok_load_json_buffer(const char *data, size_t len, const char *name, char *err,
                              size_t err_len);
/* Decode a whole id sequence at once (streaming decoder plus flush): *out is
 * a malloc'd NUL-terminated string the caller frees. 0, or -1 on OOM. */
int fktok_decode(const fktok *t, const int32_t *ids, size_t n, char **out, size_t *out_len);

#endif

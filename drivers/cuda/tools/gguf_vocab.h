/* gguf_vocab.h: the vocabulary a GGUF carries (tokenizer.ggml.*), read from a
 * Hugging Face tokenizer.json holding a byte-level BPE, laid out the way
 * llama.cpp's converter writes it for gpt-oss (_set_vocab_gpt2):
 *
 *   tokens[id]  model.vocab keys as written (GPT-2 byte alphabet); added tokens
 *               by their content ("<|start|>"); ids no entry names "[PAD<id>]"
 *   types[id]   1 normal, 3 control (special added tokens, and added tokens
 *               spelled "<|...|>"), 4 user-defined (other added tokens), 5 unused
 *   merges      model.merges as "left right"
 *
 * n_vocab is the model's vocab_size (rows of token_embd), which llama.cpp
 * requires to equal the token count. A tokenizer with fewer ids is padded; a
 * model with fewer rows than the tokenizer has ids (a reduced-vocabulary test
 * checkpoint) keeps ids below n_vocab and the merges among them, and says how
 * much it dropped. Every merge must name two tokens whose concatenation is a
 * token (else the file is refused by name).
 *
 * Ownership: token and merge strings point into v's own storage; all of it
 * lives until fk_gguf_vocab_free. */
#ifndef FK_GGUF_VOCAB_H
#define FK_GGUF_VOCAB_H

#include <stddef.h>
#include <stdint.h>

enum { FK_TOKTYPE_NORMAL = 1, FK_TOKTYPE_CONTROL = 3, FK_TOKTYPE_USER = 4, FK_TOKTYPE_UNUSED = 5 };

typedef struct fk_gguf_vocab {
    size_t n;              /* tokens (the model's vocab_size) */
    const char **tokens;   /* (n) token text */
    size_t *token_len;     /* (n) its length in bytes */
    int32_t *types;        /* (n) FK_TOKTYPE_* */
    size_t n_merges;       /* merges kept */
    const char **merges;   /* (n_merges) "left right" */
    size_t *merge_len;     /* (n_merges) its length in bytes */
    int32_t bos_id;        /* the added token "<|startoftext|>", or -1 */
    size_t dropped_tokens; /* tokenizer ids >= n (reduced vocabulary) */
    size_t dropped_merges; /* merges naming a dropped token */
    void *doc;             /* the parsed tokenizer.json (json_t), strings point into it */
    char *blob;            /* owned strings: merges and pad names */
} fk_gguf_vocab;

/* Read path for a model of n_vocab tokens. 0, or -1 with err naming the file
 * and the JSON member at fault; v is then empty (free is still safe). */
int fk_gguf_vocab_load(const char *path, size_t n_vocab, fk_gguf_vocab *v, char *err,
                       size_t err_len);
void fk_gguf_vocab_free(fk_gguf_vocab *v);

#endif

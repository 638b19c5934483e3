/* fktok_internal.h: the shape of a loaded tokenizer, shared by the loader,
 * encoder and decoder files of libfktok. Not installed; callers use fktok.h.
 *
 * A tokenizer is a table of tokens (bytes per id), two byte-string hash maps
 * (ordinary BPE tokens, added tokens), a pair map for listed BPE merges and the
 * compiled pre-tokenizer regex. Everything is written once by a loader and
 * only read afterwards, so threads may share it. */
#ifndef FK_TOKENIZER_INTERNAL_H
#define FK_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/fktok.h"

/* Kinds of id in fktok.kind. */
enum fk_token_kind {
    FK_TOK_NONE = 0,    /* no token has this id */
    FK_TOK_ORDINARY,    /* a BPE token (produced by merges) */
    FK_TOK_SPECIAL,     /* an added special token: only with allow_special */
    FK_TOK_ADDED_PLAIN, /* an added non-special token: always recognised */
};

/* One slot of a byte-string map. Keys of up to 8 bytes are compared in the
 * slot itself, so most probes touch one cache line. */
typedef struct fk_slot {
    uint32_t tag;  /* high bits of the key's hash, low 8 bits its length (255: longer) */
    int32_t id;    /* token id, -1 when the slot is empty */
    uint64_t head; /* the key's first 8 bytes, zero-padded */
} fk_slot;

/* Open-addressing map from a byte string to a token id; keys live in the
 * tokenizer's blob, so lookups need the tokenizer. */
typedef struct fk_bytemap {
    fk_slot *slot; /* (cap) */
    size_t mask;   /* cap - 1, cap a power of two */
    size_t n;      /* slots in use */
} fk_bytemap;

/* One BPE merge from a tokenizer.json merge list: the pair (left, right) becomes result, earlier
 * when prio is lower. */
typedef struct fk_pair {
    uint64_t key;   /* left << 32 | right; UINT64_MAX when the slot is empty */
    int32_t prio;   /* merge priority (merge index, or the result's rank) */
    int32_t result; /* id of the merged token */
} fk_pair;

/* Open-addressing map from an id pair to its merge. */
typedef struct fk_pairmap {
    fk_pair *slot; /* (cap) */
    size_t mask;   /* cap - 1, cap a power of two */
    size_t n;      /* slots in use */
} fk_pairmap;

struct fktok {
    size_t n_vocab;            /* ids are 0..n_vocab-1 */
    uint32_t *tok_off;         /* (n_vocab) offset of each token's bytes in blob */
    uint32_t *tok_len;         /* (n_vocab) length of each token's bytes */
    uint8_t *kind;             /* (n_vocab) enum fk_token_kind per id */
    char *blob;                /* all token bytes, each token NUL-terminated */
    size_t blob_len;           /* bytes used in blob */
    size_t blob_cap;           /* bytes allocated for blob */
    fk_bytemap ordinary;       /* bytes -> id over FK_TOK_ORDINARY tokens */
    fk_bytemap added;          /* bytes -> id over added (special or plain) tokens */
    fk_pairmap merges;         /* (left, right) -> merge (tokenizer.json only) */
    int32_t byte_id[256];      /* the single-byte token of each byte value */
    int ignore_merges;         /* 1: a pre-token that is itself a token is one token */
    int merge_by_rank;         /* 1: merge any pair whose bytes form a token, lowest id
                                  first (tiktoken); 0: use the merges map */
    pcre2_code *re;            /* the pre-tokenizer split regex (UTF, UCP) */
    pcre2_match_context *mctx; /* match limits, read-only while matching */
    uint8_t added_first[256];  /* 1 for bytes that start some added token */
    size_t *added_lens;        /* distinct added-token lengths, longest first */
    size_t n_added_lens;       /* entries used in added_lens */
    int has_plain_added;       /* 1 when some added token is not special */
};

/* Backtracking budget of one regex match: FK_MATCH_LIMIT, plus
 * FK_MATCH_LIMIT_PER_BYTE per byte of texts longer than FK_MATCH_LIMIT_FLOOR
 * (one o200k match may scan a whole run of letters or spaces twice); finite
 * for hostile patterns read from a tokenizer.json. */
#define FK_MATCH_LIMIT 10000000u
#define FK_MATCH_LIMIT_PER_BYTE 4u
#define FK_MATCH_LIMIT_FLOOR 1000000u

/* The o200k pre-tokenizer pattern (GPTOSS.md) used with tiktoken files. */
extern const char fk_o200k_pattern[];

/* ---- token table (vocab.c) ---- */

/* Allocate an empty table for ids 0..n_vocab-1. 0, or -1 on OOM. */
int fk_vocab_init(fktok *t, size_t n_vocab);
/* Give id its bytes and kind. 0, -1 on OOM, -2 when id already has bytes. */
int fk_vocab_set(fktok *t, int32_t id, const void *bytes, size_t len, int kind);
/* Fill the ordinary and added maps and the added-token matcher from the
 * table. 0, -1 on OOM, or the positive id of a token whose bytes repeat an
 * earlier token of the same map (*dup_of gets that earlier id). */
long fk_vocab_index(fktok *t, int32_t *dup_of);
/* Id of the token with exactly these bytes in map m, or -1. */
int32_t fk_bytemap_get(const fktok *t, const fk_bytemap *m, const void *s, size_t n);
/* The same in steps, for batches whose memory loads should overlap: hash a
 * key, prefetch its first slot, and later find it with that hash. */
uint64_t fk_bytemap_hash(const void *s, size_t n);
void fk_bytemap_prefetch(const fk_bytemap *m, uint64_t h);
int32_t fk_bytemap_find(const fktok *t, const fk_bytemap *m, const void *s, size_t n, uint64_t h);

/* ---- BPE merges (vocab.c) ---- */

/* Record (left, right) -> result with priority prio, replacing an earlier
 * entry for the same pair. 0, -1 on OOM. */
int fk_pairmap_put(fk_pairmap *m, int32_t left, int32_t right, int32_t prio, int32_t result);
/* Make room for n merges in all. 0, or -1 on OOM. */
int fk_pairmap_reserve(fk_pairmap *m, size_t n);
/* Start loading the slot of (left, right) into the cache. */
void fk_pairmap_prefetch(const fk_pairmap *m, int32_t left, int32_t right);
/* The merge of (left, right), or NULL. */
const fk_pair *fk_pairmap_get(const fk_pairmap *m, int32_t left, int32_t right);

/* ---- GPT-2 byte-level alphabet (bytelevel.c) ---- */

/* The code point that stands for byte b in a byte-level vocabulary. */
uint32_t fk_bytelevel_codepoint(uint8_t b);
/* Turn a byte-level string (UTF-8) back into raw bytes: out gets at most n
 * bytes. 0, or -1 when s holds a character outside the alphabet or invalid
 * UTF-8 (*bad_cp gets the offending code point, or 0xFFFFFFFF). */
int fk_bytelevel_decode(const char *s, size_t n, unsigned char *out, size_t *out_len,
                        uint32_t *bad_cp);

/* ---- shared by the loaders (fktok.c) ---- */

/* A fresh, empty tokenizer, or NULL on OOM. */
fktok *fk_tok_new(void);
/* Compile pattern (UTF-8, len bytes) as the split regex, with JIT when
 * available. 0, or -1 with a message (offset and PCRE2's text) in err. */
int fk_tok_compile_regex(fktok *t, const char *pattern, size_t len, int literal, char *err,
                         size_t err_len);
/* Check that every byte has a single-byte ordinary token and fill byte_id.
 * 0, or -1 with the first missing byte in *missing. */
int fk_tok_bind_bytes(fktok *t, int *missing);

/* Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * NULL with "PATH: reason" in err. */
char *fk_read_file(const char *path, size_t *len, char *err, size_t err_len);

/* ---- encoding (bpe.c) ---- */

/* Per-call scratch space for BPE: caller-owned, never shared. */
typedef struct fk_bpe_scratch {
    int32_t *id;    /* (cap) token id per symbol, -1 once merged away */
    int32_t *prev;  /* (cap) previous live symbol, -1 at the start */
    int32_t *next;  /* (cap) next live symbol, -1 at the end */
    uint64_t *heap; /* (3 cap) candidate merges as prio << 32 | position */
    size_t cap;     /* symbols the arrays hold */
    fk_pair *memo;  /* (1 << memo_bits) direct-mapped memo of pair lookups made
                       during this call (prio -1: the pair does not merge) */
    int memo_bits;  /* log2 of the memo's entries, chosen for the text length */
} fk_bpe_scratch;

/* Largest memo: 4096 entries (64 KB); short texts get a smaller one. */
#define FK_BPE_MEMO_MAX_BITS 12

/* Append the BPE ids of one pre-token s[0..n) to out. 0, or -1 on OOM. */
int fk_bpe_piece(const fktok *t, const unsigned char *s, size_t n, fk_bpe_scratch *scratch,
                 fktok_ids *out);
void fk_bpe_scratch_free(fk_bpe_scratch *scratch);
/* Append one id to out. 0, or -1 on OOM. */
int fk_ids_push(fktok_ids *out, int32_t id);

#endif

/* tokmask.h: which tokens of the vocabulary a byte automaton (constrain/
 * pda.h) accepts next, as a bitmask over token ids.
 *
 * The vocabulary is indexed once: its ordinary tokens' bytes as a trie laid
 * out in pre-order (node i: its byte, its depth, the token ending there,
 * the index just past its subtree), and, for the inside of a plain string
 * (the one state where most of the vocabulary is allowed), a table of the
 * tokens that stay inside the string (with their code points) and the
 * tokens that close it (where, after how many code points).
 *
 * A mask is computed by walking the trie with the automaton, a state per
 * depth, skipping every subtree whose prefix it rejects: the cost is the
 * number of prefixes the state allows, a few thousand outside strings.
 * Inside a plain string the table gives the staying tokens at once and only
 * the closing ones (about 1,100 of o200k's 200,000) are fed to the
 * automaton. Special tokens are never in a mask (the caller decides them).
 *
 * Exact: a bit is set if and only if feeding the token's bytes to the
 * automaton succeeds; both paths use the automaton's own step.
 *
 * An fk_tokmask holds the index (immutable) and one walk's scratch: one
 * thread uses it at a time (the scheduler's worker). */
#ifndef FK_TOKMASK_H
#define FK_TOKMASK_H

#include <stddef.h>
#include <stdint.h>

#include "constrain/pda.h"

typedef struct fk_tokmask fk_tokmask;

/* Bytes of token id (NULL: unknown) and whether it is special. */
typedef const char *(*fk_tokmask_bytes_fn)(const void *ud, int32_t id, size_t *len);
typedef int (*fk_tokmask_special_fn)(const void *ud, int32_t id);

/* Index a vocabulary of `vocab` ids. NULL with err on OOM. */
fk_tokmask *fk_tokmask_new(fk_tokmask_bytes_fn bytes, fk_tokmask_special_fn special, const void *ud,
                           int vocab, char *err, size_t err_len);
void fk_tokmask_free(fk_tokmask *m);

/* Words in a mask: (vocab + 63) / 64. */
size_t fk_tokmask_words(const fk_tokmask *m);

/* Set mask bit t (// (words,)) for every ordinary token t whose bytes p
 * accepts; clear the rest. Returns how many are set. */
size_t fk_tokmask_compute(fk_tokmask *m, const fk_pda *p, uint64_t *mask);

/* Token bytes through the index's vocabulary (NULL: unknown id). */
const char *fk_tokmask_token(const fk_tokmask *m, int32_t id, size_t *len);

/* logits[t] = -INFINITY where mask bit t is clear (// (vocab,)). */
void fk_tokmask_apply(const uint64_t *mask, float *logits, int vocab);

#endif

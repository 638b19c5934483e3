/* pda.h: the pushdown automaton that reads a document byte by byte and
 * says whether the bytes so far can still become a document of a compiled
 * schema (schema.h). Exact both ways: every accepted prefix has a
 * completion within FK_SCHEMA_MAX_DEPTH frames (the schema's analysis
 * guarantees one exists, and the automaton never enters a branch that
 * could not finish), and every document the schema accepts is read.
 *
 * State: a stack of frames, the root frame at the bottom. A value the
 * bytes are inside is one frame (object, array, string, number, literal,
 * key); a finished value pops, telling its parent. Numbers and literals
 * that could go on ("12", an enum's "a" when "ab" is also allowed) pop when
 * a byte that cannot extend them arrives, which then goes to the parent.
 *
 * A state is plain data: copy it with fk_pda_copy (only the frames in use).
 * It borrows its schema, which must outlive it. Any thread; no allocation. */
#ifndef FK_CONSTRAIN_PDA_H
#define FK_CONSTRAIN_PDA_H

#include <stddef.h>
#include <stdint.h>

#include "constrain/schema.h"

typedef enum fk_pda_frame_kind {
    FK_FR_ROOT = 0, /* phase 0: a document expected; 1: done */
    FK_FR_OBJECT,   /* an object being read; phase: see pda.c */
    FK_FR_KEY,      /* a declared key being matched (the object is below) */
    FK_FR_ARRAY,    /* an array being read */
    FK_FR_STRING,   /* inside a string (a value, or a free object key) */
    FK_FR_NUMBER,   /* a number */
    FK_FR_LITERAL,  /* one of a LITERALS node's texts */
} fk_pda_frame_kind;

typedef struct fk_pda_frame {
    uint64_t mask; /* KEY: the candidate properties still matching, bit i = base + i */
    uint32_t node; /* the schema node the frame reads */
    uint32_t n;    /* OBJECT: next declared property; ARRAY: items so far; STRING: code
                      points so far; KEY, LITERAL: bytes matched */
    uint32_t lo;   /* OBJECT: the node of the value being read; KEY: base; LITERAL: first
                      candidate text; STRING: the \u escape's value so far */
    uint32_t hi;   /* LITERAL: one past the last candidate text */
    uint8_t kind;  /* fk_pda_frame_kind */
    uint8_t phase; /* the kind's sub-state */
    uint8_t key;   /* STRING: 1 when it is a free object key */
} fk_pda_frame;

typedef struct fk_pda {
    const fk_schema *s;                  /* borrowed */
    uint32_t depth;                      /* frames in use (>= 1) */
    fk_pda_frame f[FK_SCHEMA_MAX_DEPTH]; /* f[0] the root, f[depth-1] the top */
} fk_pda;

/* The state before the first byte of a document of s. */
void fk_pda_init(fk_pda *p, const fk_schema *s);

/* Copy the state (only the frames in use). */
static inline void fk_pda_copy(fk_pda *dst, const fk_pda *src)
{
    dst->s = src->s;
    dst->depth = src->depth;
    for (uint32_t i = 0; i < src->depth; i++) dst->f[i] = src->f[i];
}

/* Feed one byte: 1 when the bytes so far are still a prefix of a document
 * (p advanced), 0 when not (p is then unspecified: step a copy when the old
 * state matters). */
int fk_pda_step(fk_pda *p, unsigned char b);

/* Feed n bytes; 1 when all are accepted. */
int fk_pda_feed(fk_pda *p, const void *bytes, size_t n);

/* 1 when the bytes so far are a whole document (more may still be allowed,
 * as after "12"). */
int fk_pda_can_end(const fk_pda *p);

/* ---- inside a plain string (for token tables) ---------------------------------------- */

/* The sub-states of a string's content. FK_STR_GROUND: between characters. */
enum { FK_STR_GROUND = 0, FK_STR_PHASES = 20 };

/* What one content byte does in string sub-state *phase (acc: a \u escape's
 * value so far): FK_STR_BYTE_OK (phase and acc advanced; starts 1 when the
 * byte begins a new character), FK_STR_BYTE_CLOSE (an unescaped '"' at
 * ground: the string ends), or FK_STR_BYTE_BAD. */
enum { FK_STR_BYTE_BAD = 0, FK_STR_BYTE_OK = 1, FK_STR_BYTE_CLOSE = 2 };
int fk_pda_string_byte(uint8_t *phase, uint32_t *acc, unsigned char b, int *starts);

/* When the top frame is a string at ground (what a token table can stand
 * in for): 1, with the code points so far and the string's bounds; else 0. */
int fk_pda_plain_string(const fk_pda *p, uint32_t *n, uint32_t *min, uint32_t *max);

/* Count `chars` more code points in fk_pda_plain_string's frame: content
 * the caller read from ground back to ground with fk_pda_string_byte and
 * checked against the bounds (a token table's shortcut). */
void fk_pda_string_advance(fk_pda *p, uint32_t chars);

#endif

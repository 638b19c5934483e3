/* pda_complete.h: finish a document from any state of the byte automaton
 * (constrain/pda.h), for the tests and the fuzz target: that it always
 * finishes shows the automaton has no dead ends. */
#ifndef FK_TESTS_PDA_COMPLETE_H
#define FK_TESTS_PDA_COMPLETE_H

#include "constrain/pda.h"

/* Try bytes that make progress first: closers, then short values, then the
 * next byte of a key or literal being matched. Appends to out. 1 when a
 * whole document was reached within `limit` bytes. */
static inline int pda_complete(fk_pda *p, char *out, size_t *n, size_t limit)
{
    static const char order[] = "\"}],:0tfn{[a\\udc\x80\x90\xa0";
    while (!fk_pda_can_end(p)) {
        if (*n >= limit) return 0;
        const fk_pda_frame *f = &p->f[p->depth - 1];
        char extra = 0;
        if (f->kind == FK_FR_LITERAL) {
            fk_stext t = p->s->texts[f->lo];
            if (t.len > f->n) extra = p->s->bytes[t.off + f->n];
        } else if (f->kind == FK_FR_KEY) {
            const fk_snode *o = &p->s->nodes[f->node];
            const fk_sprop *q = &p->s->props[o->first + f->lo + (uint32_t)__builtin_ctzll(f->mask)];
            extra = q->key.len > f->n ? p->s->bytes[q->key.off + f->n] : '"';
        }
        int moved = 0;
        for (int k = -1; k < (int)sizeof order - 1 && !moved; k++) {
            char b = k < 0 ? extra : order[k];
            if (!b) continue;
            fk_pda q;
            fk_pda_copy(&q, p);
            if (fk_pda_step(&q, (unsigned char)b)) {
                fk_pda_copy(p, &q);
                out[(*n)++] = b;
                moved = 1;
            }
        }
        if (!moved) return 0;
    }
    return 1;
}

#endif

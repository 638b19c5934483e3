/* json_scan.h: a small pull reader for the two large parts of a
 * tokenizer.json (model.vocab, model.merges), which a tree parser would spend
 * most of a second allocating. It reads one value at a time from a buffer and
 * can skip whole values, so the small parts can be handed to jansson. */
#ifndef FK_TOKENIZER_JSON_SCAN_H
#define FK_TOKENIZER_JSON_SCAN_H

#include <stddef.h>

/* A reader over s[0..n): caller-owned, one per parse. */
typedef struct fk_json {
    const char *s;     /* the document */
    const char *p;     /* read position */
    const char *end;   /* one past the last byte */
    char *buf;         /* unescaped text of the last string that had escapes */
    size_t cap;        /* bytes allocated for buf */
    const char *error; /* what went wrong (static text), NULL while fine */
} fk_json;

void fkj_init(fk_json *j, const char *s, size_t n);
void fkj_free(fk_json *j);
/* The next byte after whitespace (not consumed), or -1 at the end. */
int fkj_peek(fk_json *j);
/* Consume byte c after whitespace. 0, or -1 with an error. */
int fkj_expect(fk_json *j, char c);
/* Read a string. *s points into the document, or into j->buf when the string
 * had escapes (valid until the next string). 0, or -1 with an error. */
int fkj_string(fk_json *j, const char **s, size_t *n);
/* Read an integer. 0, or -1 with an error. */
int fkj_int(fk_json *j, long long *v);
/* Skip one value of any kind (checked only loosely: whatever is skipped is
 * parsed properly later). Leaves j->buf alone. 0, or -1 with an error. */
int fkj_skip(fk_json *j);
/* Walk an object or array whose opening bracket was consumed: *first starts
 * at 1. Returns 1 when another member follows (for objects, its key is read
 * into key and klen, and the colon consumed), 0 at the closing bracket, -1 on
 * error. */
int fkj_object_next(fk_json *j, int *first, const char **key, size_t *klen);
int fkj_array_next(fk_json *j, int *first);
/* Line and column (1-based) of the read position. */
void fkj_position(const fk_json *j, int *line, int *col);

#endif

/* out_file.h: a file being written whose first error is kept for close to
 * report: what the checkpoint writers (st_writer.h, and fk-gguf's
 * gguf_writer.h) share, written once. Messages begin with the path.
 *
 * Ownership: open takes a copy of the path; close frees it and closes the
 * file, whatever happened before. */
#ifndef FK_OUT_FILE_H
#define FK_OUT_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct fk_out_file {
    FILE *f;       /* the file being written */
    char *path;    /* for messages (owned) */
    char err[512]; /* first error, reported by close; "" while none */
} fk_out_file;

/* Creates (truncates) path. 0, or -1 with "PATH: why" in err (o holds
 * nothing then). */
int fk_out_open(fk_out_file *o, const char *path, char *err, size_t err_len);

/* Keeps the message as o's error unless one is already kept. Returns -1. */
__attribute__((format(printf, 2, 3))) int fk_out_fail(fk_out_file *o, const char *fmt, ...);

/* Writes n bytes. 0, or -1 with "PATH: write failed: why" kept. */
int fk_out_write(fk_out_file *o, const void *p, size_t n);

/* Closes the file and frees the path. 0, or -1 with the kept error (or a
 * failed close) copied into err when err is not NULL. */
int fk_out_close(fk_out_file *o, char *err, size_t err_len);

#endif

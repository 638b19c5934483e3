/* st_writer.h: write a .safetensors file tensor by tensor, streaming.
 *
 *   w = fk_st_writer_open(path, err, len);
 *   fk_st_writer_add(w, "a", FK_DT_BF16, 2, (int64_t[]){4, 8});   declare every tensor,
 *   fk_st_writer_add(w, "b", FK_DT_U8, 1, (int64_t[]){3});        in file order
 *   fk_st_writer_write(w, bytes, n); ...                            then the data, in the
 *   fk_st_writer_close(w, err, len);                                same order, any chunking
 *
 * The header (with __metadata__ {"format": "pt"}) is padded with spaces to a
 * multiple of 8 bytes, so with 8-byte-multiple tensors every tensor starts
 * 8-byte aligned, as the reference writer does. Only the header is held in
 * memory; tensor data goes straight to the file. */
#ifndef FK_ST_WRITER_H
#define FK_ST_WRITER_H

#include "checkpoint.h"

typedef struct fk_st_writer fk_st_writer;

/* Create (truncate) path. NULL with err naming the file. */
fk_st_writer *fk_st_writer_open(const char *path, char *err, size_t err_len);
/* Declare the next tensor; only before the first fk_st_writer_write. 0 or -1. */
int fk_st_writer_add(fk_st_writer *w, const char *name, fk_dtype dtype, int ndim,
                     const int64_t *shape);
/* Append tensor data (the header goes out first). 0, or -1 on an I/O error or
 * when more bytes arrive than were declared. */
int fk_st_writer_write(fk_st_writer *w, const void *data, size_t len);
/* Finish: fails when fewer bytes were written than declared or any earlier
 * call failed. Frees w in every case. 0 or -1 with err. */
int fk_st_writer_close(fk_st_writer *w, char *err, size_t err_len);

#endif

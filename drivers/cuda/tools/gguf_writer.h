/* gguf_writer.h: write a GGUF file (version 3, as llama.cpp reads it), streaming
 * the tensor data.
 *
 *   w = fk_gguf_writer_open(path, err, len);
 *   fk_gguf_kv_str(w, "general.architecture", "gpt-oss");       metadata, in file order
 *   fk_gguf_kv_u32(w, "gpt-oss.block_count", 24); ...
 *   fk_gguf_add_tensor(w, "token_embd.weight", FK_GGML_BF16, 2, (int64_t[]){H, V});
 *   fk_gguf_write(w, bytes, n); ...     the data of every tensor, in declaration order,
 *   fk_gguf_writer_close(w, err, len);  in chunks of any size
 *
 * File layout: "GGUF", version 3, tensor count, metadata count, the metadata
 * (key, type, value), the tensor infos (name, dims innermost first, type,
 * offset into the data section), zero padding to 32 bytes, then each
 * tensor's data padded to 32 bytes (general.alignment's default). Metadata and
 * tensor infos are held in memory until the first data byte; tensor data goes
 * straight to the file. Dimensions are GGML's: ne[0] is the innermost (the
 * last of a row-major Hugging Face shape). */
#ifndef FK_GGUF_WRITER_H
#define FK_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* The GGML tensor types fk-gguf writes (ggml.h's numbering). */
typedef enum fk_ggml_type {
    FK_GGML_F32 = 0,
    FK_GGML_BF16 = 30,
    FK_GGML_MXFP4 = 39, /* blocks of 32: one e8m0 scale byte, 16 bytes of e2m1 pairs */
} fk_ggml_type;

/* Bytes of one row of ne0 elements of type t, or 0 when ne0 does not fit t's
 * block size (MXFP4 needs a multiple of 32). */
uint64_t fk_ggml_row_bytes(fk_ggml_type t, int64_t ne0);
/* "F32", "BF16", "MXFP4". */
const char *fk_ggml_type_name(fk_ggml_type t);

typedef struct fk_gguf_writer fk_gguf_writer;

/* Create (truncate) path. NULL with err naming the file. */
fk_gguf_writer *fk_gguf_writer_open(const char *path, char *err, size_t err_len);

/* Metadata entries; only before the first fk_gguf_write. 0, or -1 (the
 * error is kept and reported by close). Strings are copied. */
int fk_gguf_kv_u32(fk_gguf_writer *w, const char *key, uint32_t v);
int fk_gguf_kv_f32(fk_gguf_writer *w, const char *key, float v);
int fk_gguf_kv_bool(fk_gguf_writer *w, const char *key, int v);
int fk_gguf_kv_str(fk_gguf_writer *w, const char *key, const char *v);
/* An array of n strings: strs[i] of lens[i] bytes. */
int fk_gguf_kv_str_array(fk_gguf_writer *w, const char *key, const char *const *strs,
                         const size_t *lens, size_t n);
int fk_gguf_kv_i32_array(fk_gguf_writer *w, const char *key, const int32_t *v, size_t n);

/* Declare the next tensor (ne[0] innermost, 1..4 dims); only before the first
 * fk_gguf_write. 0, or -1 on a bad name, type or shape. */
int fk_gguf_add_tensor(fk_gguf_writer *w, const char *name, fk_ggml_type type, int ndim,
                       const int64_t *ne);
/* Append tensor data (the header goes out first; padding between tensors is
 * inserted here). 0, or -1 on an I/O error or more bytes than declared. */
int fk_gguf_write(fk_gguf_writer *w, const void *data, size_t len);
/* Finish: fails when fewer bytes were written than declared or any earlier
 * call failed. Frees w in every case. 0, or -1 with err. */
int fk_gguf_writer_close(fk_gguf_writer *w, char *err, size_t err_len);

#endif

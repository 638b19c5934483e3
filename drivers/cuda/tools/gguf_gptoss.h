/* gguf_gptoss.h: a gpt-oss checkpoint as llama.cpp's "gpt-oss" GGUF
 * architecture (llama.cpp's conversion/gpt_oss.py and src/models/openai-moe.cpp
 * are the layout's reference; the code here is our own).
 *
 * Tensors (GGUF dims innermost first; H hidden, V vocab, E experts, I
 * intermediate, q = nh*hd, kv = nkv*hd; OUT is --outtype, bf16 or f32):
 *
 *   token_embd.weight, output.weight     {H, V}        OUT
 *   output_norm.weight                   {H}           F32
 *   blk.N.attn_norm / post_attention_norm .weight {H}  F32
 *   blk.N.attn_{q,k,v}.weight / .bias    {H, q|kv} OUT / {q|kv} F32
 *   blk.N.attn_output.weight / .bias     {q, H} OUT / {H} F32
 *   blk.N.attn_sinks.weight              {nh}          F32
 *   blk.N.ffn_gate_inp.weight / .bias    {H, E} / {E}  F32 (router, as the converter keeps it)
 *   blk.N.ffn_{gate,up}_exps.weight      {H, I, E}     MXFP4, or OUT for bf16 experts
 *   blk.N.ffn_down_exps.weight           {I, H, E}     MXFP4, or OUT for bf16 experts
 *   blk.N.ffn_{gate,up}_exps.bias        {I, E}        F32
 *   blk.N.ffn_down_exps.bias             {H, E}        F32
 *
 * The checkpoint's gate_up tensors interleave gate (even) and up (odd) rows
 * (MXFP4 blocks) or columns (bf16 [E, H, 2I], bias [E, 2I]); they are split.
 * bf16 experts are stored input-major ([E, H, 2I], [E, I, H]) and are
 * transposed to GGML's row-per-output layout. MXFP4 blocks keep their codes
 * and e8m0 scales; only the nibble order changes: the checkpoint packs
 * elements 2k (low) and 2k+1 (high) in byte k, GGML packs j (low) and j+16
 * (high) in byte j, after the scale byte. Everything else is copied
 * (bf16 -> bf16) or widened (bf16 -> f32) exactly. */
#ifndef FK_GGUF_GPTOSS_H
#define FK_GGUF_GPTOSS_H

#include "drivers/cuda/checkpoint/checkpoint.h"
#include "gguf_vocab.h"
#include "gguf_writer.h"

/* How one GGUF tensor's data is made from the checkpoint. */
typedef enum fk_gguf_src {
    FK_GGUF_COPY = 0,  /* bf16 elements in order (every other one of each row with parity) */
    FK_GGUF_MXFP4 = 1, /* MXFP4 blocks + scales, nibbles reordered (every other row with parity) */
    FK_GGUF_TRANSPOSE = 2, /* bf16 [E, A, C] -> [E, C', A] (every other column with parity) */
} fk_gguf_src;

typedef struct fk_gguf_tensor {
    char name[64];           /* GGUF name, "blk.3.ffn_gate_exps.weight" */
    fk_ggml_type type;       /* type written */
    int ndim;                /* GGUF dimensions used in ne */
    int64_t ne[3];           /* GGUF dims, innermost first */
    fk_gguf_src src_kind;    /* how the data is produced */
    const fk_tensor *src;    /* bf16 source, or the MXFP4 blocks (borrowed from the checkpoint) */
    const fk_tensor *scales; /* MXFP4 scales, else NULL */
    int parity;              /* -1: all; 0 / 1: the even (gate) / odd (up) rows or columns */
} fk_gguf_tensor;

/* 0 when llama.cpp's gpt-oss graph computes this config; else -1 with err
 * saying which value it cannot represent (its SwiGLU constants are fixed,
 * its sliding layers follow a period). */
int fk_gguf_gptoss_check(const fk_gptoss_config *c, char *err, size_t err_len);

/* general.* and gpt-oss.* metadata. name: general.name. */
int fk_gguf_gptoss_metadata(fk_gguf_writer *w, const fk_gptoss_config *c, const char *name,
                            fk_ggml_type outtype);
/* llama.cpp's pre-tokenizer for o200k by default: the one whose split regex
 * is o200k's own. "gpt-4o", which llama.cpp's converter writes for gpt-oss,
 * leaves \p{M} out of its letter classes, so text with combining marks
 * (Devanagari, Thai, ...) splits differently from o200k and libfktok;
 * "granite-embed-multi-97m" has them (and o200k's ignore_merges). */
#define FK_GGUF_DEFAULT_PRE "granite-embed-multi-97m"

/* tokenizer.ggml.* with pre as tokenizer.ggml.pre (and tokenizer.chat_template
 * when chat_template is not NULL). */
int fk_gguf_gptoss_vocab(fk_gguf_writer *w, const fk_gptoss_config *c, const fk_gguf_vocab *v,
                         const char *pre, const char *chat_template);

/* Fill out[0..cap) with every GGUF tensor of the checkpoint, in file order;
 * returns the total (call with cap 0 to size the array). */
size_t fk_gguf_gptoss_plan(const fk_checkpoint *ck, fk_ggml_type outtype, fk_gguf_tensor *out,
                           size_t cap);
/* Write one planned tensor's data. 0, or -1: out of memory (err says so) or a
 * write error (which the writer keeps and its close reports). */
int fk_gguf_tensor_emit(const fk_gguf_tensor *t, fk_gguf_writer *w, char *err, size_t err_len);

#endif

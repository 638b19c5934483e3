/* fuzz_config.c: any byte string through the config.json parser. A result of
 * 0 must satisfy the documented invariants; -1 must come with a message. */
#include "drivers/cuda/checkpoint/checkpoint.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fk_gptoss_config cfg;
    char err[512];
    err[0] = '\0';
    if (fk_config_parse((const char *)data, size, &cfg, err, sizeof err) != 0) {
        if (strlen(err) == 0) __builtin_trap();
        return 0;
    }
    if (cfg.n_layers < 1 || cfg.n_layers > FK_MAX_LAYERS || cfg.hidden_size < 1 ||
        cfg.n_kv_heads < 1 || cfg.n_heads % cfg.n_kv_heads || cfg.head_dim % 2 ||
        cfg.experts_per_token < 1 || cfg.experts_per_token > cfg.n_experts || cfg.n_eos < 0 ||
        cfg.n_eos > FK_MAX_EOS)
        __builtin_trap();
    for (int i = 0; i < cfg.n_eos; i++)
        if (cfg.eos_ids[i] < 0 || cfg.eos_ids[i] >= cfg.vocab_size) __builtin_trap();
    return 0;
}

/* rope.c: YaRN inverse frequencies and per-position cos/sin tables. */
#include "rope.h"

#include <math.h>

double fk_rope_concentration(double factor)
{
    return factor <= 1.0 ? 1.0 : 0.1 * log(factor) + 1.0;
}

/* The dimension whose wavelength makes `rotations` turns over orig_max. */
static double correction_dim(double rotations, int hd, double theta, int orig_max)
{
    return hd * log(orig_max / (rotations * 2.0 * M_PI)) / (2.0 * log(theta));
}

int fk_rope_init(fk_rope *r, const fk_gptoss_config *cfg)
{
    int hd = cfg->head_dim;
    if (hd <= 0 || hd % 2 || hd / 2 > FK_ROPE_MAX_HALF) return -1;
    r->half = hd / 2;
    double theta = cfg->rope_theta;
    int yarn = cfg->rope_yarn && cfg->rope_factor > 1.0;
    r->low = r->high = 0.0;
    r->concentration = yarn ? fk_rope_concentration(cfg->rope_factor) : 1.0;
    if (yarn) {
        double low = correction_dim(cfg->rope_beta_fast, hd, theta, cfg->rope_original_max_pos);
        double high = correction_dim(cfg->rope_beta_slow, hd, theta, cfg->rope_original_max_pos);
        if (cfg->rope_truncate) {
            low = floor(low);
            high = ceil(high);
        }
        r->low = low > 0.0 ? low : 0.0;
        r->high = high < hd - 1 ? high : hd - 1;
    }
    for (int i = 0; i < r->half; i++) {
        double base = 1.0 / pow(theta, 2.0 * i / hd);
        if (!yarn) {
            r->inv_freq[i] = base;
            continue;
        }
        double span = r->high - r->low > 1e-3 ? r->high - r->low : 1e-3;
        double ramp = (i - r->low) / span;
        ramp = ramp < 0.0 ? 0.0 : ramp > 1.0 ? 1.0 : ramp;
        r->inv_freq[i] = base / cfg->rope_factor * ramp + base * (1.0 - ramp);
    }
    return 0;
}

void fk_rope_cos_sin(const fk_rope *r, int pos, float *cos_out, float *sin_out)
{
    for (int i = 0; i < r->half; i++) {
        double a = pos * r->inv_freq[i];
        cos_out[i] = (float)(cos(a) * r->concentration);
        sin_out[i] = (float)(sin(a) * r->concentration);
    }
}

/* decode_host.c — the rules the CUDA decode shares with the simulator: how many splits, how large the partials,
 * how far from fp64 its output may be (decode.h and decode_ref.h, inline there). */
#include "decode_cuda.h"

#include <stdbool.h>

#include "decode.h"
#include "decode_ref.h"

long long fl_decode_splits_rule(long long B, long long Hkv, long long N, int sms, int waves, int min_rows)
{
    if (B < 1 || Hkv < 1 || N < 1 || sms < 1 || waves < 1 || min_rows < 1)
        return 1;
    long long S = (long long)decode_suggest_splits((size_t)sms, (size_t)B, (size_t)Hkv, (size_t)N, (size_t)waves,
                                                   (size_t)min_rows);
    return S < FL_DEC_MAX_SPLITS ? S : FL_DEC_MAX_SPLITS;
}

long long fl_decode_splits(long long B, long long Hkv, long long N, int sms)
{
    return fl_decode_splits_rule(B, Hkv, N, sms, DECODE_WAVES, DECODE_MIN_SPLIT_ROWS);
}

void fl_decode_plan(fl_decode_args *a, int sms)
{
    long long S = 1;
    if (a->B >= 1 && a->Hkv >= 1 && a->N >= 1 && sms >= 1)
        S = (long long)decode_plan_splits((size_t)sms, (size_t)a->B, (size_t)a->Hkv, (size_t)a->N);
    a->splits = S < FL_DEC_MAX_SPLITS ? S : FL_DEC_MAX_SPLITS;
    long long rows = (a->N + a->splits - 1) / a->splits;   /* the longest split */
    a->variant = !FL_DEC_ROWS_MAX || rows <= FL_DEC_ROWS_MAX ? FL_DEC_VARIANT : FL_DEC_VARIANT_LONG;
    a->merge = FL_DEC_MERGE;
}

/* The partials and their log-sum-exps, then one completion count per (sequence, KV head) (B·Hq >= B·Hkv words). */
long long fl_decode_work_floats(long long B, long long Hq, long long d, long long splits)
{
    return splits > 1 ? splits * B * Hq * (d + 1) + B * Hq : 0;
}

/* The kernel sums a warp's rows 16 at a time (one mma's k), so its chunks are 16 rows: about N/16 of them. */
void fl_decode_tolerance(int dtype, long long d, double smag, long long N, long long splits, int variant, double vmax,
                         double *atol, double *rtol)
{
    long long rows = fl_decode_variant_rows(variant), chunks = (N + 15) / 16;
    decode_tolerance((dtype_t)dtype, (size_t)d, smag, (size_t)rows, (size_t)chunks, (size_t)splits, vmax, true, atol,
                     rtol);
}

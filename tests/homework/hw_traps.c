/* hw_traps.c — stand-ins for the student's functions in the grader binary (grade_hwNN).
 *
 * The grader links the exercise's tests, to know their names and what the student's object may call, but it never
 * runs a test itself and never contains the student's code: the tests run in processes of the student's binary.
 * These definitions only satisfy the linker; reaching one is an internal error. */
#include <stdio.h>
#include <stdlib.h>

#include "homework.h"

static _Noreturn void absent(const char *fn)
{
    fprintf(stderr, "internal: the grader called %s, which runs only in a test process\n", fn);
    abort();
}

void hw01_online_softmax(mem_t *m, hbm_tensor *x, hbm_tensor *y, size_t Br, size_t Bc)
{
    (void)m, (void)x, (void)y, (void)Br, (void)Bc;
    absent(__func__);
}

void hw02_flash1_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    (void)m, (void)p, (void)t;
    absent(__func__);
}

void hw03_benchmark(hw03_fn fn, void *ctx, int warmup, int reps, hw03_timing *out)
{
    (void)fn, (void)ctx, (void)warmup, (void)reps, (void)out;
    absent(__func__);
}

void hw03_speed_test(const size_t *Ns, size_t n, size_t d, int warmup, int reps, hw03_row *rows)
{
    (void)Ns, (void)n, (void)d, (void)warmup, (void)reps, (void)rows;
    absent(__func__);
}

uint64_t hw04_peak_hbm_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt, size_t M_bytes)
{
    (void)algo, (void)N, (void)d, (void)dt, (void)M_bytes;
    absent(__func__);
}

uint64_t hw04_predict_peak_bytes(attn_algo algo, size_t N, size_t d, dtype_t dt)
{
    (void)algo, (void)N, (void)d, (void)dt;
    absent(__func__);
}

double hw04_growth_exponent(size_t N1, uint64_t peak1, size_t N2, uint64_t peak2)
{
    (void)N1, (void)peak1, (void)N2, (void)peak2;
    absent(__func__);
}

void hw05_flash2_forward(mem_t *m, const attn_params *p, attn_tensors *t)
{
    (void)m, (void)p, (void)t;
    absent(__func__);
}

int hw06_split_merge(mem_t *m, hbm_tensor *o_split, hbm_tensor *l_split, hbm_tensor *o, hbm_tensor *lse, size_t Br)
{
    (void)m, (void)o_split, (void)l_split, (void)o, (void)lse, (void)Br;
    absent(__func__);
}

/* check_decode.c — decoding against a KV cache (lesson11): the counted ledger equals decode.h's closed form per
 * tensor on hundreds of random shapes (ragged N, S not dividing N, pages not dividing N, grouped and alone); o
 * equals an fp64 reference within decode_tolerance; splits, pages, grouping and threads change what they should and
 * nothing else; SRAM is the plan; bad input exits 2 with one line. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"   // defines: TCASE
#include "decode.h"
#include "decode_ref.h"
#include "lessons.h"
#include "proc.h"
#include "rng.h"
#include "summary.h"
#include "util.h"

#define RANDOM_SHAPES 400   /* count-only shapes per test run: each takes well under a millisecond */

/* One decode on a fresh model. M = exactly the plan's bytes for p->Bc (the SRAM must hold it, nothing more).
 * With data (q != NULL), o gets the result. table: paged (NULL: each sequence its own pages). */
static mem_t *run(const decode_params *p, dtype_t dt, const size_t *table, size_t npages, const float *q,
                  const float *k, const float *v, float *o)
{
    mem_t *m = mem_create(decode_sram_need(p, dt, p->Bc), q == NULL);
    decode_tensors t = decode_alloc(m, p, dt, table, npages);
    decode_upload(&t, p, q, k, v);
    decode_run(m, p, &t);
    if (o)
        hbm_download(t.o, o);
    decode_free(m, &t);
    return m;
}

static void assert_closed_form(const decode_params *p, const mem_t *m)
{
    decode_io io;
    decode_closed_form(p, &io);
    uint64_t rd = 0, wr = 0;
    for (size_t k = 0; k < io.n; k++) {
        io_count got = mem_io(m, io.row[k].tensor, NULL);
        ck_assert_msg(got.rd_elems == io.row[k].rd && got.wr_elems == io.row[k].wr,
                      "B=%zu N=%zu Hq=%zu Hkv=%zu d=%zu S=%zu P=%zu Bc=%zu grouped=%d: %s counted rd %llu wr %llu, "
                      "closed form rd %llu wr %llu", p->B, p->N, p->Hq, p->Hkv, p->d, p->splits, p->page_size, p->Bc,
                      p->grouped, io.row[k].tensor, (unsigned long long)got.rd_elems,
                      (unsigned long long)got.wr_elems, (unsigned long long)io.row[k].rd,
                      (unsigned long long)io.row[k].wr);
        rd += got.rd_elems;
        wr += got.wr_elems;
    }
    io_count tot = mem_io(m, NULL, NULL);   /* no tensor outside the closed form moved */
    ck_assert_uint_eq(tot.rd_elems, rd);
    ck_assert_uint_eq(tot.wr_elems, wr);
    ck_assert_uint_eq(io.rd, rd);
    ck_assert_uint_eq(io.wr, wr);
    ck_assert_uint_eq(mem_flops(m, NULL), io.flops);
    ck_assert_uint_eq(mem_exps(m, NULL), io.exps);
}

static decode_params random_shape(rng_t *r)
{
    decode_params p = {.B = 1 + rng_below(r, 3), .Hkv = 1 + rng_below(r, 4), .d = 1 + rng_below(r, 20),
                       .grouped = rng_below(r, 4) != 0, .threads = 1 + (int)rng_below(r, 2)};
    p.Hq = p.Hkv * (1 + rng_below(r, 5));
    p.N = 1 + rng_below(r, rng_below(r, 2) ? 40 : 700);
    p.splits = rng_below(r, 8) ? 1 + rng_below(r, min_size(p.N, 13)) : p.N;
    p.page_size = rng_below(r, 2) ? 1 + rng_below(r, 2 * p.N + 1) : 0;
    p.Bc = 1 + rng_below(r, ceil_div(p.N, p.splits) + 2);
    return p;
}

START_TEST(ledger_is_closed_form_on_random_shapes)
{
    rng_t r;
    rng_seed(&r, 12);
    size_t paged = 0, split = 0, cut = 0;
    for (int n = 0; n < RANDOM_SHAPES; n++) {
        decode_params p = random_shape(&r);
        size_t *table = NULL, npages = 0, pps = decode_pages_per_seq(&p);
        if (p.page_size && rng_below(&r, 2)) {   /* shared prefix, pages handed out backwards */
            table = malloc(p.B * pps * sizeof *table);
            npages = decode_table_shared(&p, rng_below(&r, pps + 1), table);
        }
        mem_t *m = run(&p, (dtype_t)rng_below(&r, 3), table, npages, NULL, NULL, NULL, NULL);
        assert_closed_form(&p, m);
        paged += p.page_size != 0;
        split += p.splits > 1 && p.N % p.splits;
        cut += p.page_size && p.N % p.page_size;
        mem_destroy(m);
        free(table);
    }
    ck_assert_uint_gt(paged, RANDOM_SHAPES / 4);   /* the draw covered what it must */
    ck_assert_uint_gt(split, RANDOM_SHAPES / 8);
    ck_assert_uint_gt(cut, RANDOM_SHAPES / 8);
}
END_TEST

/* The closed form itself, against numbers worked out by hand. */
START_TEST(closed_form_by_hand)
{
    /* N = 10, P = 4, S = 3: splits [0,3) [3,6) [6,10) touch pages {0}, {0,1}, {1,2}: 5 entries per pass. */
    decode_params p = {.B = 2, .N = 10, .Hq = 6, .Hkv = 3, .d = 4, .splits = 3, .page_size = 4, .Bc = 2,
                       .grouped = true};
    decode_io io;
    decode_closed_form(&p, &io);
    ck_assert_str_eq(io.row[3].tensor, "block_table");
    ck_assert_uint_eq(io.row[3].rd, 2 * 3 * 5);
    ck_assert_uint_eq(io.row[0].rd, 3 * 2 * 6 * 4);   /* Q: S·B·Hq·d */
    ck_assert_uint_eq(io.row[1].rd, 2 * 3 * 10 * 4);  /* K: B·Hkv·N·d */
    ck_assert_uint_eq(io.chunks, 2 + 2 + 2);          /* rows 3, 3, 4 in chunks of 2 */
    /* B·Hq = 12 rows: 12·(4Nd + 4N + C(d+2)) = 12·236, splits' ends 36·4 + 36, merge 36·17 + 12·4 (mem.h's rule) */
    ck_assert_uint_eq(io.flops, 12 * 236 + 36 * 4 + 36 + 36 * 17 + 12 * 4);
    ck_assert_uint_eq(io.exps, 12 * (10 + 6) + 36 + 2 * 36);
    /* The ledger with q counted once per split: reads = S·B·Hq·d + 2·B·Hkv·N·d + S·B·Hq·(d+1) (+ table). */
    ck_assert_uint_eq(io.rd, 3 * 2 * 6 * 4 + 2 * 2 * 3 * 10 * 4 + 3 * 2 * 6 * 5 + 30);
    ck_assert_uint_eq(io.wr, 2 * 6 * 4 + 3 * 2 * 6 * 5);
    p.splits = 1;
    p.page_size = 0;
    decode_closed_form(&p, &io);
    ck_assert_uint_eq(io.rd, 2 * 6 * 4 + 2 * 2 * 3 * 10 * 4);   /* S = 1: no partials */
    ck_assert_uint_eq(io.wr, 2 * 6 * 4);
    p.grouped = false;
    decode_closed_form(&p, &io);
    ck_assert_uint_eq(io.row[1].rd, 2 * 6 * 10 * 4);             /* alone: B·Hq·N·d */
}
END_TEST

/* Inputs as stored in dt; sequence 1 repeats sequence 0's first shared_rows tokens (a shared prefix). */
static void make_data(const decode_params *p, dtype_t dt, uint64_t seed, size_t shared_rows, float **q, float **k,
                      float **v)
{
    size_t nq = p->B * p->Hq * p->d, nkv = p->B * p->N * p->Hkv * p->d, row = p->Hkv * p->d;
    rng_t r;
    rng_seed(&r, seed);
    float **all[] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        size_t n = i ? nkv : nq;
        float *x = *all[i] = malloc(n * sizeof *x);
        rng_fill_normal(&r, x, n, 1.5f);
        for (size_t j = 0; j < n; j++)
            x[j] = dtype_round(dt, x[j]);
        for (size_t j = 0; i && p->B >= 2 && j < shared_rows * row; j++)
            x[p->N * row + j] = x[j];
    }
}

static const size_t OUT_SHAPES[][8] = {
    /* B, N,   Hq, Hkv, d,  S,  P,  Bc */
    {1, 1, 1, 1, 1, 1, 0, 1},      {2, 50, 8, 2, 8, 3, 0, 16},    {1, 97, 4, 4, 16, 5, 0, 7},
    {3, 33, 6, 1, 5, 33, 0, 1},    {2, 64, 8, 8, 32, 4, 16, 16},  {2, 77, 12, 3, 24, 6, 10, 9},
    {1, 300, 32, 8, 64, 7, 0, 32}, {2, 41, 4, 2, 8, 1, 7, 41},    {4, 20, 2, 1, 3, 20, 3, 1},
    {2, 129, 16, 4, 128, 9, 32, 13},
};

START_TEST(output_matches_fp64)
{
    const size_t *s = OUT_SHAPES[_i];
    for (int dt = 0; dt < 3; dt++)
        for (int grouped = 0; grouped < 2; grouped++) {
            decode_params p = {.B = s[0], .N = s[1], .Hq = s[2], .Hkv = s[3], .d = s[4], .splits = s[5],
                               .page_size = s[6], .Bc = s[7], .grouped = grouped};
            size_t pps = decode_pages_per_seq(&p), *table = NULL, npages = 0, shared = 0;
            if (p.page_size) {
                table = malloc(p.B * pps * sizeof *table);
                npages = decode_table_shared(&p, pps / 2, table);
                shared = pps / 2 * p.page_size;
            }
            float *q, *k, *v, *o = malloc(p.B * p.Hq * p.d * sizeof *o);
            make_data(&p, (dtype_t)dt, 100 + _i, shared, &q, &k, &v);
            mem_t *m = run(&p, (dtype_t)dt, table, npages, q, k, v, o);
            assert_closed_form(&p, m);   /* real runs count like count-only ones */
            bool ok;
            double err = decode_verify(&p, (dtype_t)dt, q, k, v, o, false, NULL, &ok);
            ck_assert_msg(ok && isfinite(err), "shape %d %s grouped=%d: max err %g", _i, dtype_name((dtype_t)dt),
                          grouped, err);
            mem_destroy(m);
            free(q), free(k), free(v), free(o), free(table);
        }
}
END_TEST

/* What must not change the result: grouping and paging change only where rows come from, not the arithmetic (bitwise
 * equal); threads change nothing (bitwise, counts equal). Splits change the order of the sums: close, not equal. */
START_TEST(same_answer_every_way)
{
    decode_params p = {.B = 3, .N = 111, .Hq = 12, .Hkv = 4, .d = 16, .splits = 4, .Bc = 10, .grouped = true,
                       .threads = 1};
    size_t n = p.B * p.Hq * p.d;
    float *q, *k, *v, *o[5];
    make_data(&p, DTYPE_FP32, 7, 0, &q, &k, &v);
    for (int i = 0; i < 5; i++)
        o[i] = malloc(n * sizeof *o[i]);
    mem_t *m0 = run(&p, DTYPE_FP32, NULL, 0, q, k, v, o[0]);
    decode_params a = p;
    a.grouped = false;
    mem_destroy(run(&a, DTYPE_FP32, NULL, 0, q, k, v, o[1]));
    decode_params pg = p;
    pg.page_size = 8;
    mem_destroy(run(&pg, DTYPE_FP32, NULL, 0, q, k, v, o[2]));
    decode_params t = p;
    t.threads = 2;
    mem_t *m3 = run(&t, DTYPE_FP32, NULL, 0, q, k, v, o[3]);
    decode_params s1 = p;
    s1.splits = 1;
    mem_destroy(run(&s1, DTYPE_FP32, NULL, 0, q, k, v, o[4]));
    for (int i = 1; i < 4; i++)
        ck_assert_msg(!memcmp(o[0], o[i], n * sizeof *o[0]), "run %d differs from the grouped contiguous one", i);
    for (size_t j = 0; j < mem_ntensors(m0); j++) {
        const char *name = mem_tensor_name(m0, j);
        ck_assert_uint_eq(mem_io(m0, name, NULL).rd_elems, mem_io(m3, name, NULL).rd_elems);
        ck_assert_uint_eq(mem_io(m0, name, NULL).wr_elems, mem_io(m3, name, NULL).wr_elems);
    }
    double worst = 0;
    for (size_t j = 0; j < n; j++)
        worst = fmax(worst, fabs((double)o[0][j] - o[4][j]));
    ck_assert_msg(worst < 1e-5, "S = 4 against S = 1: %g", worst);   /* fp32 sums regrouped: a few ulps of |v| */
    ck_assert_uint_eq(sram_peak(m0), decode_sram_need(&p, DTYPE_FP32, p.Bc));
    mem_destroy(m0);
    mem_destroy(m3);
    free(q), free(k), free(v);
    for (int i = 0; i < 5; i++)
        free(o[i]);
}
END_TEST

/* decode_choose_block: the most rows that fit, no more than the longest split; SRAM too small is an error. */
START_TEST(decode_blocks_chosen)
{
    char err[256];
    rng_t r;
    rng_seed(&r, 3);
    for (int n = 0; n < 200; n++) {
        decode_params p = random_shape(&r);
        dtype_t dt = (dtype_t)rng_below(&r, 3);
        size_t M = 64 + rng_below(&r, 64 * 1024);
        if (decode_choose_block(&p, M, dt, 0, err, sizeof err)) {
            ck_assert_msg(decode_sram_need(&p, dt, 1) > M, "refused though one row fits: %s", err);
            ck_assert_ptr_null(strchr(err, '\n'));
            continue;
        }
        ck_assert_uint_le(decode_sram_need(&p, dt, p.Bc), M);
        ck_assert_msg(p.Bc == ceil_div(p.N, p.splits) || decode_sram_need(&p, dt, p.Bc + 1) > M,
                      "Bc=%zu is not the most that fits", p.Bc);
    }
}
END_TEST

START_TEST(bad_shapes_are_refused)
{
    char err[256];
    decode_params ok = {.B = 1, .N = 10, .Hq = 8, .Hkv = 2, .d = 4, .splits = 10};
    ck_assert_int_eq(decode_check(&ok, err, sizeof err), 0);
    decode_params p = ok;
    p.Hkv = 3;
    ck_assert_int_eq(decode_check(&p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "multiple"));
    p = ok;
    p.splits = 11;
    ck_assert_int_eq(decode_check(&p, err, sizeof err), -1);
    p = ok;
    p.Hq = 0;
    ck_assert_int_eq(decode_check(&p, err, sizeof err), -1);
    p = ok;
    p.B = SIZE_MAX / 2;
    ck_assert_int_eq(decode_check(&p, err, sizeof err), -1);
}
END_TEST

START_TEST(splits_rule_and_cache_bytes)
{
    ck_assert_uint_eq(decode_suggest_splits(132, 1, 8, 4096, 2, 128), 32);   /* ⌊264/8⌋ = 33, capped at 4096/128 */
    ck_assert_uint_eq(decode_suggest_splits(132, 16, 8, 4096, 2, 128), 2);   /* ⌊264/128⌋ */
    ck_assert_uint_eq(decode_suggest_splits(108, 1, 32, 131072, 2, 128), 6); /* ⌊216/32⌋ */
    ck_assert_uint_eq(decode_suggest_splits(132, 64, 8, 4096, 2, 128), 1);   /* 512 pieces: no split */
    ck_assert_uint_eq(decode_suggest_splits(132, 1, 1, 50, 2, 128), 1);      /* never below 1 */
    /* the measured constants (one wave, 64 rows): 16 splits of 256 rows for the anchors' one sequence, 8 KV heads */
    ck_assert_uint_eq(decode_suggest_splits(132, 1, 8, 4096, DECODE_WAVES, DECODE_MIN_SPLIT_ROWS), 16);
    ck_assert_uint_eq(decode_suggest_splits(132, 1, 8, 512, DECODE_WAVES, DECODE_MIN_SPLIT_ROWS), 8);   /* 512/64 */
    /* The CUDA plan's splits on the anchors' shapes (H100, 132 SMs): one wave, splits of >= 64 rows. {B, Hkv, N, S} */
    static const size_t plan[][4] = {
        {1, 32, 4096, 4},   {1, 32, 32768, 4},  {1, 32, 131072, 4}, {1, 8, 4096, 16},  {1, 8, 32768, 16},
        {1, 8, 131072, 16}, {16, 8, 4096, 1},   {16, 8, 32768, 1},  {16, 8, 131072, 1}, {64, 8, 4096, 1},
        {64, 8, 32768, 1},  {64, 8, 131072, 1}, {8, 8, 4096, 2},    {8, 8, 32768, 2},   {8, 8, 131072, 2},
        {1, 1, 50, 1},      {1, 8, 512, 8},
    };
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++)
        ck_assert_uint_eq(decode_plan_splits(132, plan[i][0], plan[i][1], plan[i][2]), plan[i][3]);
    /* B = 2, N = 50, P = 16, Hkv = 2, d = 8, fp16: a token's K and V is 64 bytes; 4 pages a sequence. */
    decode_cache_bytes c = decode_cache_size(2, 50, 200, 16, 25, 2, 8, DTYPE_FP16);
    ck_assert_uint_eq(c.used, 2 * 50 * 64);
    ck_assert_uint_eq(c.contiguous, 2 * 200 * 64);
    ck_assert_uint_eq(c.paged, 8 * 16 * 64);
    ck_assert_uint_eq(c.paged_shared, 7 * 16 * 64);   /* one full page of the 25-token prefix stored once */
}
END_TEST

/* The lesson binary: default runs pass their own checks; bad input exits 2 with one line. */
static proc run_lesson11(const char *const *args)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/lesson11", BIN_DIR);
    return run_bin(bin, args, NULL);
}

START_TEST(lesson_runs_and_refuses)
{
    static const char *const good[][18] = {
        {NULL},
        {"--page-size", "16", NULL},
        {"--page-size", "7", "--splits", "4", "--batch", "3", "--dtype", "bf16", NULL},
        {"--heads", "4", "--kv-heads", "4", "--splits", "1", "--dtype", "fp32", NULL},
        {"--heads", "6", "--kv-heads", "1", "-N", "13", "--splits", "13", "--page-size", "5", NULL},
        {"-N", "4096", "-d", "128", "--heads", "32", "--kv-heads", "8", "--batch", "1", "--splits", "32", "-M",
         "227K", "--count-only", NULL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        proc p = run_lesson11(good[i]);
        char v[32] = "";
        const char *last = strstr(p.out, "summary: ");
        ck_assert_msg(p.status == 0 && last, "run %zu: exit %d, stderr %s", i, p.status, p.err);
        ck_assert(summary_get(last, "closed_form_ok", v, sizeof v) && !strcmp(v, "1"));
        ck_assert(summary_get(last, "algo", v, sizeof v) && !strcmp(v, "decode"));
        ck_assert(summary_get(last, "splits", v, sizeof v));
        proc_free(&p);
    }
    static const char *const bad[][8] = {
        {"--heads", "6", "--kv-heads", "4", NULL}, {"--splits", "51", NULL},     {"--page-size", "0", NULL},
        {"-M", "100", NULL},                       {"--kv-heads", "0", NULL},    {"--kv-heads", "x2", NULL},
        {"--splits", NULL},                        {"--kv-heads", "16", NULL},   {"--page-size=", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proc p = run_lesson11(bad[i]);
        size_t lines = 0;
        for (const char *c = p.err; *c; c++)
            lines += *c == '\n';
        ck_assert_msg(p.status == 2 && lines == 1 && strstr(p.err, "error"), "bad input %zu (%s): exit %d, stderr '%s'",
                      i, bad[i][0], p.status, p.err);
        proc_free(&p);
    }
}
END_TEST

Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    /* 400 shapes: a second here, tens under ASan */
    TCASE(s, "ClosedForm", 120, {ledger_is_closed_form_on_random_shapes}, {closed_form_by_hand});
    TCASE(s, "Output", 60, {output_matches_fp64, .loops = (int)(sizeof OUT_SHAPES / sizeof OUT_SHAPES[0])},
          {same_answer_every_way});
    TCASE(s, "Limits", 0, {decode_blocks_chosen}, {bad_shapes_are_refused}, {splits_rule_and_cache_bytes});
    TCASE(s, "Lesson", 60, {lesson_runs_and_refuses});
    return s;
}

/* check_roofline.c — lesson13's numbers against closed forms written here: the ridges from the datasheets, the softmax
 * kernel's 1 FLOP per byte, the paper's Figure 2 (left) recounted (bytes and FLOPs of both algorithms from
 * attn_io_closed_form, the ideal-L2 traffic from the tensors each kernel touches, the dropout mask, dQ on chip, the
 * paper's kernel blocks), FlashAttention-2's non-matmul saving, the warp split's exchange, and its .dat file; lesson05's
 * block-size sweep inside M (Figure 2, middle): the blocks that fit, the one that does not, the modelled time. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "check_util.h"   // defines: TCASE
#include "lessons.h"
#include "summary.h"
#include "util.h"

#ifndef BIN_DIR
#define BIN_DIR "."
#endif

/* %.6g in the summary: six significant digits */
#define REL6 5e-6

static char dir[64], line[8192];

static void run13(void)
{
    strcpy(dir, "/tmp/flashlab_roof_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[256], buf[8192];
    snprintf(cmd, sizeof cmd, "%s/lesson13 --quiet --out-dir %s", BIN_DIR, dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    line[0] = 0;
    while (fgets(buf, sizeof buf, p))
        if (!strncmp(buf, "summary: ", 9))
            strcpy(line, buf);
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(line[0], "lesson13 printed no summary line");
}

static double get(const char *key)
{
    char v[64];
    ck_assert_msg(summary_get(line, key, v, sizeof v), "summary lacks %s", key);
    return strtod(v, NULL);
}

static void near(const char *key, double want)
{
    double got = get(key);
    ck_assert_msg(fabs(got - want) <= REL6 * fabs(want), "%s = %.9g, closed form %.9g", key, got, want);
}

/* One pass of GPT-2 medium's shape (fp16, M = 192 KiB) by the closed form: bytes (statistics in fp32), work, dQ. */
typedef struct {
    double bytes, flops, dq;
} pass_t;
static pass_t closed(attn_algo a, bool backward, bool causal, size_t Br, size_t Bc)
{
    attn_params p = {.algo = a, .B = 64, .N = 1024, .H = 16, .d = 64, .causal = causal, .Br = Br, .Bc = Bc};
    block_choice bc;
    char err[256];
    if (!Br)
        ck_assert_int_eq(attn_choose_blocks(&p, backward, 192 * 1024, DTYPE_FP16, 0, 0, &bc, err, sizeof err), 0);
    attn_io io;
    attn_io_closed_form(&p, backward, &io);
    pass_t r = {0, (double)(io.flops_mm + io.flops_ew), 0};
    for (size_t k = 0; k < io.n; k++) {
        const char *t = io.row[k].tensor;
        bool f32 = !strcmp(t, "m") || !strcmp(t, "l") || !strcmp(t, "L") || !strcmp(t, "D");
        r.bytes += (double)(io.row[k].rd + io.row[k].wr) * (f32 ? 4 : 2);
        if (!strcmp(t, "dQ"))
            r.dq += (double)(io.row[k].rd + io.row[k].wr) * 2;
    }
    return r;
}

START_TEST(lesson13_numbers)
{
    run13();
    const double BH = 64 * 16, N = 1024, d = 64, NN = N * N, Nd = N * d;
    ck_assert_int_eq((int)get("closed_form_ok"), 1);
    near("ridge_a100_40gb", 312e12 / 1.555e12);
    near("ridge_a100_80gb", 312e12 / 2.039e12);
    near("ridge_h100", 989e12 / 3.35e12);
    near("ridge_h200", 989e12 / 4.8e12);
    near("ai_std_softmax", 1.0);   /* one pass: max, subtract, sum, divide per fp16 score read and written */
    ck_assert(get("ai_flash2") > 5 * get("ai_std") && get("ai_std") < get("ridge_a100_40gb"));

    pass_t sf = closed(ATTN_STANDARD, false, false, 0, 0), sb = closed(ATTN_STANDARD, true, false, 0, 0);
    pass_t ff = closed(ATTN_FLASH1, false, false, 0, 0), fb = closed(ATTN_FLASH1, true, false, 0, 0);
    pass_t pf = closed(ATTN_FLASH1, false, false, 16, 256), pb = closed(ATTN_FLASH1, true, false, 16, 256);
    pass_t cf = closed(ATTN_FLASH1, false, true, 0, 0), cb = closed(ATTN_FLASH1, true, true, 0, 0);
    near("gpt2_standard_gb", (sf.bytes + sb.bytes) / 1e9);
    near("gpt2_flash_gb", (ff.bytes + fb.bytes) / 1e9);
    near("gpt2_standard_gflops", (sf.flops + sb.flops) / 1e9);
    near("gpt2_flash_gflops", (ff.flops + fb.flops) / 1e9);
    near("gpt2_flash_paper_blocks_gb", (pf.bytes + pb.bytes) / 1e9);
    near("gpt2_flash_dq_on_chip_gb", (ff.bytes + fb.bytes - fb.dq + 2 * Nd * BH) / 1e9);
    near("gpt2_flash_causal_gb", (cf.bytes + cb.bytes) / 1e9);
    near("gpt2_flash_causal_gflops", (cf.flops + cb.flops) / 1e9);
    near("gpt2_standard_dropout_mask_gb", (sf.bytes + sb.bytes + 2 * NN * BH) / 1e9);
    /* Behind an ideal L2 every kernel reads each of its inputs once and writes each output once. Standard: S (Q, K
     * -> S), softmax (S -> P), PV (P, V -> O), then dV (P, dO), dP (dO, V -> dP), dS (P, dP -> dS), dQ (dS, K), dK (dS,
     * Q): 11 N x N and 12 N x d transfers, fp16. FlashAttention: forward Q, K, V in, O out, m, l out (fp32); backward
     * Q, K, V, O, dO, m, l in, dQ, dK, dV out (dQ's zeroing and re-reads stay in L2). */
    near("gpt2_standard_l2_gb", (11 * NN + 12 * Nd) * 2 * BH / 1e9);
    near("gpt2_flash_l2_gb", (12 * Nd * 2 + 4 * N * 4) * BH / 1e9);
    /* FA2's saving on 128 x 128 blocks (Tc = 8), and the warp split of one tile: 4 warps' partial O (fp32) and m, l */
    ck_assert_uint_eq((uint64_t)get("fa1_nonmatmul_flops") - (uint64_t)get("fa2_nonmatmul_flops"),
                      (uint64_t)BH * (3 * 8 * 1024 * 64 + 5 * 8 * 1024 - 1024 * 64 - 1024));
    ck_assert_uint_eq((uint64_t)get("split_k_exchange_elems"), 2 * 4 * 128 * 64 + 2 * 4 * 128 * 2);
    ck_assert_uint_eq((uint64_t)get("split_q_exchange_elems"), 0);

    /* the .dat: four GPUs, six kernels with 17 columns, the ridge column equal to the summary's */
    char path[128], buf[1024];
    snprintf(path, sizeof path, "%s/lesson13_roofline.dat", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int gpus = 0, kernels = 0, block = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, "# kernels", 9))
            block = 1;
        if (buf[0] == '#' || buf[0] == '\n')
            continue;
        int cols = 0;
        for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
            cols++;
        ck_assert_int_eq(cols, block ? 17 : 6);
        *(block ? &kernels : &gpus) += 1;
    }
    fclose(f);
    ck_assert_int_eq(gpus, 4);
    ck_assert_int_eq(kernels, 6);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* Figure 2 (middle) inside the SRAM: at M = 192 KiB, d = 64, b = 16 ... 256 fit and b = 512 does not, for both
 * algorithms; the resident block is b; the modelled time falls and then stops falling where the arithmetic takes over. */
START_TEST(lesson05_blocks_inside_M)
{
    strcpy(dir, "/tmp/flashlab_blk_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *argv[] = {"lesson05", "--quiet", "-N", "1024", "--out-dir", dir, NULL};
    cli_cfg cfg;
    ck_assert_int_eq(cli_parse(&lesson05_spec, 6, argv, &cfg), CLI_OK);
    ck_assert_int_eq(lesson05_run(&cfg), 0);
    char path[128], buf[1024];
    snprintf(path, sizeof path, "%s/lesson05_blocksize.dat", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int block = -1, rows[2] = {0, 0};
    double last_t[2] = {INFINITY, INFINITY}, first_t[2] = {0, 0};
    while (fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, "# algo: ", 8))
            block++;
        if (buf[0] == '#' || buf[0] == '\n')
            continue;
        double v[18];
        char *p = buf;
        for (int k = 0; k < 18; k++) {
            while (*p == ' ')
                p++;
            if (!strncmp(p, "na", 2) && (p[2] == ' ' || p[2] == '\n'))   /* column 15 where the bound fails */
                v[k] = NAN, p += 2;
            else
                v[k] = strtod(p, &p);
        }
        double b = block == 0 ? v[4] : v[3], other = block == 0 ? v[3] : v[4];   /* flash1: Bc, flash2: Br */
        ck_assert(v[2] == 192 * 1024 && b == 16 << rows[block] && other == (b < 64 ? b : 64));
        ck_assert_msg(v[16] <= last_t[block] * (1 + 1e-9), "modelled time grew at b = %g", b);
        if (!rows[block])
            first_t[block] = v[16];
        last_t[block] = v[16];
        rows[block]++;
    }
    fclose(f);
    ck_assert_int_eq(rows[0], 5);   /* 16 ... 256: b = 512 needs more than 192 KiB */
    ck_assert_int_eq(rows[1], 5);
    ck_assert(last_t[0] < first_t[0] / 8);
    unlink(path);
    static const char *const other[] = {"lesson05_seqlen.dat", "lesson05_headdim.dat", "lesson05_sram.dat"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, other[k]);
        unlink(path);
    }
    rmdir(dir);
}
END_TEST

Suite *roofline_suite(void)
{
    Suite *s = suite_create("roofline");
    TCASE(s, "Lesson13", 120, {lesson13_numbers}, {lesson05_blocks_inside_M});
    return s;
}

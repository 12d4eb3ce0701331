/* lab_show.c — the paper's listings, and one row of FlashAttention-2 walked block by block (include/lab/lab_show.h). */
#include "lab_show.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"     // defines: report_check
#include "tile_math.h"  // defines: tile_qkt
#include "util.h"

static const char *const LISTING[] = {
    [LAB_ALG0] =
        "  1  load Q, K by blocks, compute S = QK^T, write S to HBM          (phase S)\n"
        "  2  read S, compute P = softmax(S), write P to HBM                 (phase softmax)\n"
        "  3  load P and V by blocks, compute O = PV, write O to HBM         (phase PV)\n",
    [LAB_FA1_ALG1] =
        "   1  Bc = ⌈M/4d⌉, Br = min(⌈M/4d⌉, d)\n"
        "   2  initialize O = (0)Nxd, l = (0)N, m = (-inf)N in HBM\n"
        "   3  divide Q into Tr = ⌈N/Br⌉ blocks Qi (Br x d), K and V into Tc = ⌈N/Bc⌉ blocks Kj, Vj (Bc x d)\n"
        "   4  divide O into Tr blocks Oi, l into Tr blocks li, m into Tr blocks mi\n"
        "   5  for 1 <= j <= Tc:\n"
        "   6    load Kj, Vj from HBM to on-chip SRAM\n"
        "   7    for 1 <= i <= Tr:\n"
        "   8      load Qi, Oi, li, mi from HBM to on-chip SRAM\n"
        "   9      on chip, Sij = Qi Kj^T (Br x Bc)\n"
        "  10      on chip, m~ij = rowmax(Sij), P~ij = exp(Sij - m~ij), l~ij = rowsum(P~ij)\n"
        "  11      on chip, mi_new = max(mi, m~ij), li_new = e^(mi - mi_new) li + e^(m~ij - mi_new) l~ij\n"
        "  12      write Oi <- diag(li_new)^-1 (diag(li) e^(mi - mi_new) Oi + e^(m~ij - mi_new) P~ij Vj)\n"
        "  13      write li <- li_new, mi <- mi_new to HBM\n",
    [LAB_FA2_ALG1] =
        "   3  for 1 <= i <= Tr:\n"
        "   4    load Qi from HBM to on-chip SRAM\n"
        "   5    on chip, Oi = (0)Br x d, li = (0)Br, mi = (-inf)Br\n"
        "   6    for 1 <= j <= Tc:\n"
        "   7      load Kj, Vj from HBM to on-chip SRAM\n"
        "   8      on chip, Sij = Qi Kj^T\n"
        "   9      on chip, mi_new = max(mi, rowmax(Sij)), P~ij = exp(Sij - mi_new),\n"
        "          li = e^(mi - mi_new) li + rowsum(P~ij)\n"
        "  10      on chip, Oi = diag(e^(mi - mi_new)) Oi + P~ij Vj\n"
        "  12    on chip, Oi = diag(li)^-1 Oi\n"
        "  13    on chip, Li = mi + log(li)\n"
        "  14    write Oi to HBM\n"
        "  15    write Li to HBM\n",
};

void lab_listing_print(const lab_t *L, lab_listing which)
{
    if (L->say)
        fputs(LISTING[which], stdout);
}

size_t lab_row_most_rescaled(const attn_params *p, const float *q, const float *k, size_t rows)
{
    size_t N = p->N, hd = p->H * p->d, best = N - 1, most = 0;
    for (size_t row = 0; !p->causal && row < min_size(N, rows); row++) {
        size_t grows = 0;
        double m = -INFINITY;
        for (size_t j0 = 0; j0 < N; j0 += p->Bc) {
            double mx = -INFINITY;
            for (size_t c = j0; c < min_size(j0 + p->Bc, N); c++) {
                double s = 0;
                for (size_t x = 0; x < p->d; x++)
                    s += (double)q[row * hd + x] * k[c * hd + x];
                mx = fmax(mx, s);
            }
            grows += j0 > 0 && mx > m;
            m = fmax(m, mx);
        }
        if (grows > most) {
            most = grows;
            best = row;
        }
    }
    return best;
}

bool lab_flash2_row_walk(const lab_attn *r, const lab_inputs *in, size_t row, size_t cols)
{
    const float *q = in->x[0], *k = in->x[1], *v = in->x[2];
    size_t N = r->p.N, d = r->p.d, hd = r->p.H * d, Bc = r->p.Bc, show = min_size(d, cols);
    float scale = (float)(1.0 / sqrt((double)d)), m = -INFINITY, l = 0;
    float *O = xcalloc(d, sizeof *O), *s = xmalloc(Bc * sizeof *s), *Vj = xmalloc(Bc * d * sizeof *Vj);
    float *Kj = xmalloc(Bc * d * sizeof *Kj);
    printf("  row %zu of head 0, key block by key block (FA2 lines 8-10, then 12-13):\n", row);
    printf("    %3s %11s %11s %11s %13s %11s   O (unnormalized, first %zu columns)\n", "j", "m_old", "rowmax S",
           "m_new", "e^(m_old-m_new)", "l", show);
    for (size_t j = 0; j < r->Tc; j++) {
        size_t k0 = j * Bc, kc = min_size(Bc, N - k0);
        float m_old = m, rowmax = -INFINITY;
        for (size_t c = 0; c < kc; c++) {   /* Kj, Vj: rows of head (0, 0) are H·d apart */
            memcpy(Kj + c * d, k + (k0 + c) * hd, d * sizeof *Kj);
            memcpy(Vj + c * d, v + (k0 + c) * hd, d * sizeof *Vj);
        }
        tile_qkt(q + row * hd, Kj, 1, kc, d, scale, s);   /* line 8: S = scale q Kj^T, the simulator's kernel */
        for (size_t c = 0; c < kc; c++)
            rowmax = fmaxf(rowmax, s[c]);
        attn_flash2_row_update(s, kc, Vj, d, &m, &l, O);   /* lines 9-10: the simulator's own code */
        printf("    %3zu %11.5g %11.5g %11.5g %13.5g %11.5g  ", j, m_old, rowmax, m, expf(m_old - m), l);
        for (size_t x = 0; x < show; x++)
            printf(" %10.5g", O[x]);
        putchar('\n');
    }
    bool same = true;
    printf("    line 12: O = O / l =");
    for (size_t x = 0; x < d; x++) {
        float o = dtype_round(r->cfg.dtype, O[x] / l);
        same = same && o == r->o[row * hd + x];
        if (x < show)
            printf(" %10.5g", o);
    }
    float L = m + logf(l);
    same = same && L == r->lse[row];
    printf("%s\n    line 13: L = m + log l = %.7g\n", d > show ? " ..." : "", L);
    printf("    the simulator's row %zu of O and its L: %s\n", row, same ? "the same, bit for bit ✓" : "DIFFERENT ✗");
    free(O), free(s), free(Vj), free(Kj);
    return same;
}

void lab_attn_go_shown(lab_t *L, lab_attn *r, const lab_inputs *in, bool brief, const char *intro)
{
    if (brief)
        lab_say(L, "%s", intro);
    lab_attn_open(L, r, in);
    if (brief)
        lab_attn_walk(r, TILEWALK_BRIEF, NULL, NULL);
    lab_attn_run(L, r);
    if (!brief)   /* the brief walk's map is not shown again */
        lab_attn_print_map(L, r, "", true);
}

bool lab_flash2_ledger_report(const lab_t *L, const lab_attn *r)
{
    uint64_t heads = r->p.B * r->p.H, N = r->p.N, Nd = N * r->p.d, Tr = r->Tr;
    io_count t = mem_io(r->m, NULL, NULL);
    const char *kv = r->p.causal ? "line 7: key rows visited·d" : "line 7: Tr·N·d";
    bool ok = r->closed_ok;
    lab_say(L, "\n  FlashAttention-2's ledger from its lines%s, against the count (elements):\n",
            heads > 1 ? " (per head, times B·H)" : "");
    ok &= report_check(L->say, 14, "Q reads", "line 4: N·d, once", heads * Nd, mem_io(r->m, "Q", NULL).rd_elems);
    ok &= report_check(L->say, 14, "K reads", kv, lab_io_row(&r->io, "K").rd, mem_io(r->m, "K", NULL).rd_elems);
    ok &= report_check(L->say, 14, "V reads", kv, lab_io_row(&r->io, "V").rd, mem_io(r->m, "V", NULL).rd_elems);
    ok &= report_check(L->say, 14, "O writes", "line 14: N·d, once", heads * Nd, mem_io(r->m, "O", NULL).wr_elems);
    ok &= report_check(L->say, 14, "L writes", "line 15: N, once", heads * N, mem_io(r->m, "L", NULL).wr_elems);
    if (!r->p.causal)
        ok &= report_check(L->say, 14, "total reads", "Nd + 2Nd·Tr", heads * (Nd + 2 * Nd * Tr), t.rd_elems);
    ok &= report_check(L->say, 14, "total writes", "Nd + N", heads * (Nd + N), t.wr_elems);
    return ok;
}

void lab_attn_print_map(const lab_t *L, const lab_attn *r, const char *what, bool blank)
{
    if (!L->show || !r->map)
        return;
    printf("  the %zu x %zu tiles of head 0%s:\n", r->Tr, r->Tc, what);
    tilemap_print(r->map, stdout, "  ");
    if (blank)
        putchar('\n');
}

void lab_attn_print_plan(const lab_t *L, const lab_attn *r)
{
    if (!L->say)
        return;
    sram_plan pl;
    dtype_t dt = r->cfg.dtype;
    attn_sram_plan(r->p.algo, r->backward, r->p.Br, r->p.Bc, r->p.d, dt, &pl);
    printf("  %-8s Br=%zu, Bc=%zu (Tr=%zu, Tc=%zu): %s\n           SRAM:", attn_algo_name(r->p.algo), r->p.Br,
           r->p.Bc, r->Tr, r->Tc, r->bc.rule);
    for (size_t k = 0; k < pl.n; k++)
        printf(" %s%s", pl.buf[k].name, pl.buf[k].dt == DTYPE_FP32 && dt != DTYPE_FP32 ? "(fp32)" : "");
    printf(" = %zu bytes\n", pl.bytes);
}

bool lab_attn_peaks(const lab_attn *const *runs, size_t n, size_t N, uint64_t *peak)
{
    for (size_t a = 0; a < n; a++) {
        cli_cfg c = runs[a]->cfg;
        c.N = N;
        c.count_only = true;
        c.trace = TRACE_NONE;
        c.Br = min_size(c.Br, N);
        c.Bc = min_size(c.Bc, N);
        lab_attn r = lab_attn_plan(&c, runs[a]->p.algo, runs[a]->backward, NULL);
        if (6.0 * (double)r.Tr * (double)r.Tc * (double)(c.B * c.H) > (double)LAB_SWEEP_MAX_TILES)
            return false;
        lab_attn_go(NULL, &r, NULL);
        peak[a] = mem_hbm_peak(r.m);
        lab_attn_free(&r);
    }
    return true;
}

void lab_attn_peak_table(const lab_t *L, const lab_attn *const *runs, size_t n, int sizes)
{
    if (!L->say)
        return;
    char b[32];
    printf("  %8s", "N");
    for (size_t a = 0; a < n; a++)
        printf(" %14s", attn_algo_name(runs[a]->p.algo));
    printf(" %12s\n", n > 1 ? "std / flash" : "");
    for (int k = 0; k < sizes; k++) {
        uint64_t peak[8];
        size_t N = runs[0]->p.N << k;
        if (n > 8 || !lab_attn_peaks(runs, n, N, peak)) {
            printf("  %8zu  (not run: too many tiles to walk)\n", N);
            continue;
        }
        printf("  %8zu", N);
        for (size_t a = 0; a < n; a++)
            printf(" %14s", fmt_bytes(peak[a], b, sizeof b));
        if (n > 1)
            printf(" %12.1f", (double)peak[0] / (double)peak[n - 1]);
        printf("\n");
    }
}

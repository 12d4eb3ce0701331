/* cuda_run.c — lesson08's harness around the teaching kernels (see cuda_run.h). */
#include "cuda_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab.h"   // defines: lab_sum_u64, lab_sum_f64
#include "util.h"

/* The pass's comparison of run `counting` with the reference. */
static void check_pass(const attn_params *p, bool backward, float *const x[4], float *const out[3], const float *lse,
                       bool has_lse, cuda_run *g, int counting)
{
    if (backward) {
        cuda_attn_check_grads(p, x[0], x[1], x[2], x[3], out, CUDA_RUN_GRAD_HEADS, &g->gs[counting]);
        return;
    }
    size_t rows = p->N * p->N * p->d <= ((size_t)1 << 24) ? 0 : CUDA_RUN_CHECK_ROWS;   /* every row when cheap */
    cuda_attn_check(p, x[0], x[1], x[2], out[0], has_lse ? lse : NULL, CUDA_RUN_CHECK_HEADS, rows, &g->st[counting]);
}

int cuda_run_gpu(const attn_params *p, const cuda_attn_plan *pl, bool backward, uint64_t seed, cuda_run *g,
                 char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    g->backward = backward;
    g->checked = !backward || (double)p->N * p->N * p->d <= CUDA_RUN_GRAD_MAX_N2D;
    size_t n = p->B * p->N * p->H * p->d, nl = p->B * p->H * p->N;
    float *x[4], *out[3], *L = xmalloc(nl * sizeof *L);
    for (int t = 0; t < 4; t++)
        x[t] = t < 3 || backward ? xmalloc(n * sizeof(float)) : NULL;
    for (int t = 0; t < 3; t++)
        out[t] = t == 0 || backward ? xmalloc(n * sizeof(float)) : NULL;
    cuda_attn_inputs_dout(p, seed, x[0], x[1], x[2], x[3]);
    cuda_attn_session *s = NULL;
    int rc = cuda_attn_open(pl, x[0], x[1], x[2], &s, err, errlen);
    if (!rc && backward)   /* the forward pass leaves O and L (or P) for the backward */
        rc = cuda_attn_set_dout(s, x[3], err, errlen);
    if (!rc && backward)
        rc = cuda_attn_exec(s, false, NULL, err, errlen);
    for (int counting = 1; !rc && counting >= 0; counting--) {   /* the counting twin, then the plain kernels */
        bool has_lse = false;
        rc = cuda_attn_run(s, backward, counting, counting ? &g->gpu : NULL, err, errlen);
        if (!rc)
            rc = backward ? cuda_attn_download_grads(s, out[0], out[1], out[2], err, errlen)
                          : cuda_attn_download(s, out[0], L, &has_lse, err, errlen);
        if (!rc && g->checked)
            check_pass(p, backward, x, out, L, has_lse, g, counting);
    }
    g->dev_bytes = s ? cuda_attn_device_bytes(s) : 0;
    g->reps = p->N >= 8192 ? 5 : 10;
    if (!rc)
        rc = cuda_attn_time_pass_ms(s, backward, 2, g->reps, &g->ms, err, errlen);
    char ignored[8];
    int rc_close = cuda_attn_close(s, rc ? ignored : err, rc ? sizeof ignored : errlen);
    for (int t = 0; t < 4; t++)
        free(x[t]);
    for (int t = 0; t < 3; t++)
        free(out[t]);
    free(L);
    return rc ? rc : rc_close;
}

bool cuda_run_ok(const cuda_run *g)
{
    if (!g->checked)
        return true;
    return g->backward ? g->gs[0].ok && g->gs[1].ok : g->st[0].ok && g->st[1].ok;
}

double cuda_run_max_err(const cuda_run *g)
{
    if (!g->checked)
        return NAN;
    double e = 0;
    for (int c = 0; c < 2; c++)
        for (int x = 0; x < 3; x++)
            e = fmax(e, g->backward ? g->gs[c].max_abs[x] : x ? 0 : g->st[c].max_abs_O);
    return e;
}

void cuda_print_plan(const cuda_attn_plan *pl, bool backward)
{
    const cuda_kernel_plan *k = backward ? pl->kb : pl->k;
    for (int x = 0; x < (backward ? pl->nbwd : pl->nkernels); x++) {
        printf("  kernel %-12s %llu blocks x %u threads, %zu bytes of shared memory:", k[x].name,
               (unsigned long long)k[x].blocks, k[x].threads, k[x].dyn_bytes + k[x].static_bytes);
        for (size_t b = 0; b < k[x].plan.n; b++)
            printf(" %s@%zu", k[x].plan.buf[b].name, k[x].off[b]);
        printf(k[x].static_bytes ? " (+%zu B reduction scratch)\n" : "\n", k[x].static_bytes);
    }
}

void cuda_print_ledgers(const cuda_counts *sim, const cuda_counts *gpu, bool have)
{
    printf("\n  %-6s %16s %16s   %16s %16s   %s\n", "tensor", "simulator reads", "writes", "kernel reads", "writes",
           "match");
    for (int t = 0; t < CT_NTENSORS; t++) {
        if (!sim->rd[t] && !sim->wr[t] && (!have || (!gpu->rd[t] && !gpu->wr[t])))
            continue;
        printf("  %-6s %16llu %16llu   ", cuda_tensor_name(t), (unsigned long long)sim->rd[t],
               (unsigned long long)sim->wr[t]);
        if (have)
            printf("%16llu %16llu   %s\n", (unsigned long long)gpu->rd[t], (unsigned long long)gpu->wr[t],
                   gpu->rd[t] == sim->rd[t] && gpu->wr[t] == sim->wr[t] ? "✓" : "✗");
        else
            printf("%16s %16s   %s\n", "-", "-", "-");
    }
    printf("  (elements; bytes = elements x 4, fp32)\n");
}

void cuda_print_run(const attn_params *p, const cuda_run *g, bool match)
{
    printf("  counters %s the simulator's ledger\n", match ? "EQUAL" : "DIFFER FROM");
    if (!g->checked) {
        printf("  dQ, dK, dV not compared: the CPU reference would take minutes at N^2 d = %.3g (> %.3g); the\n"
               "  CUDA suites compare them on smaller shapes\n", (double)p->N * p->N * p->d, CUDA_RUN_GRAD_MAX_N2D);
    } else if (g->backward) {
        const cuda_grad_stats *gs = g->gs;
        printf("  dQ, dK, dV vs the double reference (%zu heads): max |err| %.3g %.3g %.3g (counting kernels %.3g "
               "%.3g %.3g) -> %s (atol %g, rtol %g)\n", gs[0].heads, gs[0].max_abs[0], gs[0].max_abs[1],
               gs[0].max_abs[2], gs[1].max_abs[0], gs[1].max_abs[1], gs[1].max_abs[2], cuda_run_ok(g) ? "OK" : "FAIL",
               CUDA_GRAD_ATOL, CUDA_GRAD_RTOL);
    } else {
        const cuda_check_stats *st = g->st;
        printf("  O vs the double reference (%zu rows): max |err| %.3g (counting kernels %.3g)", st[0].rows,
               st[0].max_abs_O, st[1].max_abs_O);
        if (p->algo != ATTN_STANDARD)   /* standard attention writes no log-sum-exp */
            printf(", L %.3g", st[0].max_abs_L);
        printf(" -> %s (atol %g, rtol %g)\n", cuda_run_ok(g) ? "OK" : "FAIL", CUDA_ATOL, CUDA_RTOL);
    }
    /* matmul FLOPs of the forward, 4 B H N^2 d (halved when causal); the backward's are 2.5 times as many */
    double flops = 4.0 * p->B * p->H * (double)p->N * p->N * p->d * (p->causal ? 0.5 : 1.0) * (g->backward ? 2.5 : 1);
    char b1[32];
    printf("  time: %.3f ms (%s, median of %d after 2 warm-ups, CUDA events), %.2f TFLOP/s; device memory %s\n",
           g->ms, g->backward ? "backward alone" : "forward", g->reps, flops / g->ms / 1e9,
           fmt_bytes(g->dev_bytes, b1, sizeof b1));
}

/* How blockIdx.x maps to the tiles: one block per head and query block, (b*H + h)*Tr + i; per head and key block,
 * (b*H + h)*Tc + j; per head, b*H + h; per query row (v01's softmax), (b*H + h)*N + r (hence N= and Br=). */
void cuda_trace_kernels(trace_t *tr, const cuda_attn_plan *pl, bool backward)
{
    static const char *const std_phase[] = {"S", "softmax", "PV"}, *const std_bwd[] = {"dV", "dP", "dS", "dQ", "dK"},
                             *const std_grid[] = {"kblock", "qblock", "qblock", "qblock", "kblock"};
    const bool std_ = pl->p.algo == ATTN_STANDARD;
    const cuda_kernel_plan *k = backward ? pl->kb : pl->k;
    for (int x = 0; x < (backward ? pl->nbwd : pl->nkernels); x++) {
        const char *phase = backward ? (std_ ? std_bwd[x] : x ? "backward" : "backward_D")
                                     : std_ ? std_phase[x] : "forward";
        const char *grid = backward ? (std_ ? std_grid[x] : x ? "head" : "qblock")
                                    : pl->p.algo == ATTN_FLASH1 ? "head" : std_ && x == 1 ? "row" : "qblock";
        char line[320];
        snprintf(line, sizeof line, "kernel=%s phase=%s grid=%s blocks=%llu threads=%u smem=%zu H=%zu Tr=%zu Tc=%zu "
                 "N=%zu Br=%zu", k[x].name, phase, grid, (unsigned long long)k[x].blocks, k[x].threads,
                 k[x].dyn_bytes + k[x].static_bytes, pl->p.H, ceil_div(pl->p.N, pl->p.Br), ceil_div(pl->p.N, pl->p.Bc),
                 pl->p.N, pl->p.Br);
        trace_meta(tr, "cuda_kernel", line);
    }
}

void cuda_summary_gpu(summary_t *s, const cuda_run *g, bool have, bool match, const char *device)
{
    uint64_t rd = 0, wr = 0;
    for (int t = 0; t < CT_NTENSORS; t++)
        rd += g->gpu.rd[t], wr += g->gpu.wr[t];
    lab_sum_u64(s, "gpu_rd_elems", have, rd);
    lab_sum_u64(s, "gpu_wr_elems", have, wr);
    lab_sum_u64(s, "counters_match", have, match);
    lab_sum_f64(s, "gpu_ms", have, g->ms);
    if (have)
        summary_u64(s, "gpu_bytes", g->dev_bytes);
    lab_sum_f64(s, "max_abs_err", have, cuda_run_max_err(g));
    summary_str(s, "device", device);
}

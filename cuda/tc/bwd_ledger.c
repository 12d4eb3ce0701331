/* bwd_ledger.c — the tensor-core backward's counters against the simulator's flash2 backward (bwd_ledger.h). */
#include "bwd_ledger.h"

#include <string.h>

#include "attention.h"  // defines: attn_params, attn_alloc, attn_backward, attn_io_closed_form
#include "util.h"

static uint64_t closed_of(const attn_io *io, const char *tensor, bool wr)
{
    for (size_t r = 0; r < io->n; r++)
        if (!strcmp(io->row[r].tensor, tensor))
            return wr ? io->row[r].wr : io->row[r].rd;
    return 0;
}

mem_t *tc_bwd_sim(const tc_bwd_shape *s, size_t Br, size_t Bc)
{
    /* A block larger than N holds N rows either way; the simulator wants blocks <= N. */
    attn_params ap = {.algo = ATTN_FLASH2, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = s->causal,
                      .Br = min_size(Br, s->N), .Bc = min_size(Bc, s->N)};
    mem_t *m = mem_create(attn_sram_need(ATTN_FLASH2, true, ap.Br, ap.Bc, s->d, s->dt), true);
    attn_tensors t = attn_alloc(m, &ap, s->dt, true);
    attn_backward(m, &ap, &t);   /* only the backward's phases are counted */
    attn_free(m, &t);
    return m;
}

void tc_bwd_ledger_fill(const tc_bwd_shape *s, size_t Br, size_t Bc, const uint64_t *kern, tc_bwd_ledger *out)
{
    memset(out, 0, sizeof *out);
    mem_t *m = tc_bwd_sim(s, Br, Bc);
    attn_params ap = {.algo = ATTN_FLASH2, .B = s->B, .N = s->N, .H = s->H, .d = s->d, .causal = s->causal,
                      .Br = min_size(Br, s->N), .Bc = min_size(Bc, s->N)};
    out->Br = ap.Br, out->Bc = ap.Bc;
    attn_io io;
    attn_io_closed_form(&ap, true, &io);
    out->tiles = io.tiles;
    const uint64_t Nd = (uint64_t)s->B * s->H * s->N * s->d;
    static const struct {
        const char *name, *tensor;
        bool wr;
        int cnt, cnt2;   /* kernel counters summed (cnt2 = -1: none) */
    } map[TC_BWD_ROWS] = {
        {"Q read", "Q", false, TC_BWD_CNT_Q_RD, -1},
        {"K read", "K", false, TC_BWD_CNT_K_RD, -1},
        {"V read", "V", false, TC_BWD_CNT_V_RD, -1},
        {"O read", "O", false, TC_BWD_CNT_O_RD, -1},
        {"dO read", "dO", false, TC_BWD_CNT_DO_RD, -1},
        {"L read", "L", false, TC_BWD_CNT_L_RD, -1},
        {"D read", "D", false, TC_BWD_CNT_D_RD, -1},
        {"D write", "D", true, TC_BWD_CNT_D_WR, -1},
        {"dQ read (atomics)", "dQ", false, TC_BWD_CNT_DQ_ATOMIC, -1},
        {"dQ write (0 + atomics)", "dQ", true, TC_BWD_CNT_DQ_ZERO, TC_BWD_CNT_DQ_ATOMIC},
        {"dK write", "dK", true, TC_BWD_CNT_DK_WR, -1},
        {"dV write", "dV", true, TC_BWD_CNT_DV_WR, -1},
        {"dQ conversion read", NULL, false, TC_BWD_CNT_DQ_ACC_RD, -1},
        {"dQ conversion write", NULL, true, TC_BWD_CNT_DQ_WR, -1},
    };
    out->ok = kern != NULL;
    for (int r = 0; r < TC_BWD_ROWS; r++) {
        tc_bwd_row *w = &out->row[r];
        w->name = map[r].name;
        w->no_sim = map[r].tensor == NULL;
        if (w->no_sim) {
            w->sim = w->closed = Nd;
        } else {
            io_count ic = mem_io(m, map[r].tensor, NULL);
            w->sim = map[r].wr ? ic.wr_elems : ic.rd_elems;
            w->closed = closed_of(&io, map[r].tensor, map[r].wr);
        }
        if (kern)
            w->kern = kern[map[r].cnt] + (map[r].cnt2 >= 0 ? kern[map[r].cnt2] : 0);
        out->ok = out->ok && w->kern == w->sim && w->sim == w->closed;
    }
    mem_destroy(m);
}

void tc_bwd_ledger_print(const tc_bwd_ledger *lg, bool measured, FILE *f)
{
    fprintf(f, "global traffic, elements          simulator       kernel  closed form\n");
    for (int r = 0; r < TC_BWD_ROWS; r++) {
        const tc_bwd_row *w = &lg->row[r];
        char sim[24], kern[24];
        snprintf(sim, sizeof sim, w->no_sim ? "(no such pass)" : "%llu", (unsigned long long)w->sim);
        snprintf(kern, sizeof kern, measured ? "%llu" : "na", (unsigned long long)w->kern);
        fprintf(f, "  %-24s %14s %12s %12llu  %s\n", w->name, sim, kern, (unsigned long long)w->closed,
                !measured ? "" : w->kern == w->sim && w->sim == w->closed ? "✓" : "✗");
    }
}

void tc_bwd_schedule_counts(const tc_bwd_shape *s, size_t Br, size_t Bc, uint64_t out[TC_BWD_NCOUNT])
{
    memset(out, 0, TC_BWD_NCOUNT * sizeof *out);
    const uint64_t N = s->N, d = s->d, heads = (uint64_t)s->B * s->H, Nd = heads * N * d;
    const size_t Tr = ceil_div(s->N, Br), Tc = ceil_div(s->N, Bc);
    uint64_t R = 0;   /* query rows loaded over all key blocks, one head */
    for (size_t j = 0; j < Tc; j++)
        for (size_t i = s->causal ? j * Bc / Br : 0; i < Tr; i++)
            R += min_size(Br, s->N - i * Br);
    out[TC_BWD_CNT_Q_RD] = out[TC_BWD_CNT_L_RD] = out[TC_BWD_CNT_D_RD] = heads * R;
    out[TC_BWD_CNT_Q_RD] *= d;
    out[TC_BWD_CNT_K_RD] = out[TC_BWD_CNT_V_RD] = Nd;
    out[TC_BWD_CNT_O_RD] = Nd;
    out[TC_BWD_CNT_DO_RD] = Nd + heads * R * d;   /* preprocess, then per visited tile */
    out[TC_BWD_CNT_D_WR] = heads * N;
    out[TC_BWD_CNT_DQ_ZERO] = Nd;
    out[TC_BWD_CNT_DQ_ATOMIC] = heads * R * d;
    out[TC_BWD_CNT_DQ_ACC_RD] = out[TC_BWD_CNT_DQ_WR] = Nd;
    out[TC_BWD_CNT_DK_WR] = out[TC_BWD_CNT_DV_WR] = Nd;
}

/* lab_sweep.c — count-only sweeps and their .dat files (include/lab/lab_sweep.h). */
#define _POSIX_C_SOURCE 200809L
#include "lab_sweep.h"

#include <stdio.h>
#include <string.h>

#include "lab_roof.h" // defines: LAB_GPU, lab_kernel_time (the roofline of the modelled runtime)
#include "outfile.h"  // defines: outfile_open, outfile_commit, outfile_mkdirs (all-or-nothing files, exit 3)
#include "util.h"

attn_params lab_sweep_plan(const lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M, size_t Br_req,
                           size_t Bc_req)
{
    const cli_cfg *cfg = s->cfg;
    attn_params p = {.algo = c->algo, .B = cfg->B, .N = N, .H = cfg->H, .d = d, .causal = c->causal,
                     .threads = cfg->threads};
    block_choice choice;
    char err[512];
    block_rule rule = c->fa1_rule ? BLOCK_RULE_KV_OUTER : attn_block_rule(c->algo, false);
    if (attn_choose_blocks_rule(&p, false, M, cfg->dtype, min_size(Br_req, N), min_size(Bc_req, N), rule, &choice,
                                err, sizeof err))
        fl_fatal("%s at N=%zu, d=%zu, M=%zu bytes: %s", c->label, N, d, M, err);
    uint64_t tiles = (uint64_t)ceil_div(N, p.Br) * ceil_div(N, p.Bc) * cfg->B * cfg->H;
    if (tiles > LAB_SWEEP_MAX_TILES)
        fl_fatal("%s at N=%zu with M=%zu bytes gets blocks %zu x %zu: %llu tiles to walk, more than this sweep's "
                 "%llu; use a larger -M, a smaller -N or fewer heads", c->label, N, M, p.Br, p.Bc,
                 (unsigned long long)tiles, (unsigned long long)LAB_SWEEP_MAX_TILES);
    return p;
}

void lab_sweep_measure(lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M, size_t Br_req, size_t Bc_req,
                       lab_point *out, mem_t **keep, const char *what, size_t value)
{
    const cli_cfg *cfg = s->cfg;
    s->done++;
    if (s->progress)
        fprintf(stderr, "\r%s: %-9s = %-7zu %-14s (%zu/%zu)  ", cfg->lesson ? cfg->lesson : "lab", what, value,
                c->label, s->done, s->total);
    attn_params p = lab_sweep_plan(s, c, N, d, M, Br_req, Bc_req);
    mem_t *m = mem_create(M, true);
    if (s->watch)
        lab_watch(s->watch, m);
    attn_tensors t = attn_alloc(m, &p, cfg->dtype, false);
    attn_forward(m, &p, &t);
    attn_free(m, &t);
    attn_io cf;
    attn_io_closed_form(&p, false, &cf);

    double heads = (double)cfg->B * (double)cfg->H, Nd = (double)N * (double)d;
    double M_el = (double)(M / dtype_size(cfg->dtype));
    *out = (lab_point){.N = N, .d = d, .M_bytes = M, .Br = p.Br, .Bc = p.Bc, .io = mem_io(m, NULL, NULL),
                       .closed_rd = cf.rd, .closed_wr = cf.wr, .tiles = cf.tiles, .skipped = cf.skipped,
                       .closed_flops = cf.flops_mm + cf.flops_ew, .closed_exps = cf.exps, .flops_mm = cf.flops_mm,
                       .fits = true,
                       .hbm_peak = mem_hbm_peak(m), .flops = mem_flops(m, NULL), .exps = mem_exps(m, NULL),
                       .theta_std = heads * (Nd + (double)N * (double)N), .theta_flash = heads * Nd * Nd / M_el,
                       .in_range = (double)d <= M_el && M_el <= Nd};
    if (!lab_point_exact(out))
        s->mismatches++;
    if (keep)
        *keep = m;
    else
        mem_destroy(m);
}

void lab_sweep_axis(lab_sweep *s, const lab_case *const *cases, size_t ncases, lab_axis axis, const size_t *values,
                    size_t nvalues, size_t N, size_t d, size_t M, size_t Br, size_t Bc, lab_point *pts, size_t stride)
{
    static const char *const name[] = {"N", "d", "M", "block"};
    for (size_t k = 0; k < nvalues; k++)
        for (size_t a = 0; a < ncases; a++) {
            size_t v = values[k], n = axis == LAB_AXIS_N ? v : N, dd = axis == LAB_AXIS_D ? v : d;
            size_t m = axis == LAB_AXIS_M ? v : M, br = Br, bc = Bc;
            if (axis == LAB_AXIS_BLOCK) {   /* the resident block is v, the other min(v, d); a plan too big is noted */
                bool kv = cases[a]->fa1_rule || attn_block_rule(cases[a]->algo, false) == BLOCK_RULE_KV_OUTER;
                br = kv ? min_size(v, dd) : v;
                bc = kv ? v : min_size(v, dd);
                size_t need = attn_sram_need(cases[a]->algo, false, br, bc, dd, s->cfg->dtype);
                if (need > m) {
                    if (pts)
                        pts[a * stride + k] = (lab_point){.N = n, .d = dd, .M_bytes = need, .Br = br, .Bc = bc};
                    continue;
                }
            }
            if (pts)
                lab_sweep_measure(s, cases[a], n, dd, m, br, bc, &pts[a * stride + k], NULL, name[axis], v);
            else
                lab_sweep_plan(s, cases[a], n, dd, m, br, bc);
        }
}

mem_t *lab_sweep_model(const lab_sweep *s, const lab_case *c, size_t N, size_t d, size_t M, size_t Br, size_t Bc)
{
    lab_sweep quiet = *s;
    lab_point p;
    mem_t *m;
    quiet.progress = false;
    lab_sweep_measure(&quiet, c, N, d, M, Br, Bc, &p, &m, "", 0);
    return m;
}

void lab_sweep_done(lab_sweep *s)
{
    if (s->progress)
        fputs("\r\033[K", stderr);
}

uint64_t lab_point_elems(const lab_point *p) { return p->io.rd_elems + p->io.wr_elems; }
uint64_t lab_point_bytes(const lab_point *p) { return p->io.rd_bytes + p->io.wr_bytes; }
bool lab_point_exact(const lab_point *p)
{
    return !p->fits || (p->io.rd_elems == p->closed_rd && p->io.wr_elems == p->closed_wr &&
                        p->flops == p->closed_flops && p->exps == p->closed_exps);
}

double lab_point_ratio(const lab_case *c, const lab_point *p)
{
    return (double)lab_point_elems(p) / (c->algo == ATTN_STANDARD ? p->theta_std : p->theta_flash);
}

double lab_point_model_us(const lab_point *p, bool *memory_bound)
{
    lab_kernel k = {"", "", p->flops_mm, p->flops - p->flops_mm, p->exps, lab_point_bytes(p), 0};
    return lab_kernel_time(&k, &LAB_GPU[LAB_A100_40], false, memory_bound) * 1e6;
}

void lab_sweep_table_head(FILE *o, const char *what, int w, const char *first, const char *const *heads, size_t n)
{
    fprintf(o, "%*s  %12s", w, what, first);
    for (size_t c = 0; c < n; c++)
        fprintf(o, "  %15s %7s %9s", heads[c], "ratio", "Br x Bc");
    fprintf(o, "  %s\n", "closed form");
}

void lab_sweep_table_row(FILE *o, const char *value, int w, const lab_case *const *cases, size_t ncases,
                         const lab_point *pts, size_t stride, size_t k, const size_t *show, size_t nshow)
{
    bool all = true;
    for (size_t a = 0; a < ncases; a++)
        all = all && lab_point_exact(&pts[a * stride + k]);
    fprintf(o, "%*s  %12llu", w, value, (unsigned long long)lab_point_elems(&pts[k]));
    for (size_t c = 0; c < nshow; c++) {
        const lab_point *p = &pts[show[c] * stride + k];
        char bb[48];
        snprintf(bb, sizeof bb, "%zux%zu", p->Br, p->Bc);
        fprintf(o, "  %15llu %7.2f%s%9s", (unsigned long long)lab_point_elems(p), lab_point_ratio(cases[show[c]], p),
                p->in_range ? " " : "*", bb);
    }
    fprintf(o, "  %s\n", all ? "=" : "MISMATCH");
}

void lab_sweep_out_dir(const cli_cfg *cfg)
{
    outfile_mkdirs(cfg->out_dir);   /* parents too; one that cannot be made stops before the sweeps (exit 3) */
}

static void dat_header(FILE *f, const cli_cfg *cfg, const char *name, const char *what)
{
    fprintf(f, "# %s — %s\n", name, what);
    char dir[4096];   /* escaped: a newline in the path must not end the comment line */
    fprintf(f, "# command: ./lesson05 -N %zu -d %zu --sram %zu --dtype %s --batch %zu --heads %zu --out-dir %s\n",
            cfg->N, cfg->d, cfg->M_bytes, dtype_name(cfg->dtype), cfg->B, cfg->H,
            fl_escape(cfg->out_dir, dir, sizeof dir));
    fprintf(f, "# flashlab %s, count-only memory model; storage dtype %s (%zu bytes); counts over B*H = %zu heads\n",
            FLASHLAB_VERSION, dtype_name(cfg->dtype), dtype_size(cfg->dtype), cfg->B * cfg->H);
    fputs("# columns (one row per configuration; one block per algorithm, blocks separated by two blank lines,\n"
          "#          so gnuplot's `index k` picks the k-th algorithm named in the block's '# algo:' line):\n"
          "#  1 N              sequence length (tokens)\n"
          "#  2 d              head dimension (elements)\n"
          "#  3 M_bytes        SRAM capacity M (bytes)\n"
          "#  4 Br             query rows per block\n"
          "#  5 Bc             key rows per block\n"
          "#  6 read_elems     counted HBM->SRAM reads (elements)\n"
          "#  7 write_elems    counted SRAM->HBM writes (elements)\n"
          "#  8 hbm_bytes      counted reads + writes (bytes, each tensor at its own dtype)\n"
          "#  9 closed_elems   reads + writes by the closed form attn_io_closed_form (elements; equals 6 + 7)\n"
          "# 10 hbm_peak_bytes most bytes of HBM tensors allocated at once (bytes)\n"
          "# 11 flops          counted floating-point operations\n"
          "# 12 exps           counted exp() calls\n"
          "# 13 theta_std      (N d + N^2) * dtype bytes: Theta(Nd + N^2) with constant 1 (bytes)\n"
          "# 14 theta_flash    N^2 d^2 / M * dtype bytes, M in elements: Theta(N^2 d^2 / M), constant 1 (bytes)\n"
          "# 15 lower_bound    the same N^2 d^2 / M where Proposition 3 holds (d <= M <= N d), else na (bytes)\n"
          "# 16 floor_bytes    4 N d * dtype bytes: read Q, K, V and write O once, the least any algorithm moves\n"
          "# 17 model_us       MODELLED runtime on an A100 40GB's roofline, not measured: max(bytes / 1.555 TB/s, "
          "matmul FLOPs / 312 T + other FLOPs / 19.5 T + exps / 2.44 T per s) (us)\n"
          "# 18 ratio          (6 + 7) / the algorithm's Theta shape in elements (standard: Nd + N^2; flash: N^2 d^2 / "
          "M)\n", f);
}

static void dat_row(FILE *f, const cli_cfg *cfg, const lab_case *c, const lab_point *p)
{
    double sz = (double)dtype_size(cfg->dtype);
    double floor_b = 4.0 * (double)p->N * (double)p->d * sz * (double)(cfg->B * cfg->H);
    fprintf(f, "%zu %zu %zu %zu %zu %llu %llu %llu %llu %llu %llu %llu %.6g %.6g ", p->N, p->d, p->M_bytes, p->Br,
            p->Bc, (unsigned long long)p->io.rd_elems, (unsigned long long)p->io.wr_elems,
            (unsigned long long)lab_point_bytes(p), (unsigned long long)(p->closed_rd + p->closed_wr),
            (unsigned long long)p->hbm_peak, (unsigned long long)p->flops, (unsigned long long)p->exps,
            p->theta_std * sz, p->theta_flash * sz);
    if (p->in_range)
        fprintf(f, "%.6g ", p->theta_flash * sz);
    else
        fputs("na ", f);
    fprintf(f, "%.6g %.6g %.6g\n", floor_b, lab_point_model_us(p, NULL), lab_point_ratio(c, p));
}

void lab_sweep_write(const lab_sweep *s, const char *name, const char *what, const lab_case *const *cases,
                     size_t ncases, const lab_point *pts, size_t stride, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->cfg->out_dir, name);
    outfile *o = outfile_open(path);   /* all or nothing: a failed write is exit 3 and leaves no file */
    FILE *f = outfile_stream(o);
    dat_header(f, s->cfg, name, what);
    for (size_t a = 0; a < ncases; a++) {
        const lab_case *c = cases[a];
        const char *note = c->causal ? " (causal mask)"
                         : c->fa1_rule ? " (flash1's block rule: Bc = ceil(M/4d), Br = min(Bc, d))" : "";
        fprintf(f, "%s# algo: %s%s\n", a == 0 ? "" : "\n\n", c->label, note);
        for (size_t k = 0; k < n; k++)
            if (pts[a * stride + k].fits)   /* a block plan that did not fit M was not run */
                dat_row(f, s->cfg, c, &pts[a * stride + k]);
    }
    outfile_commit(o);
}

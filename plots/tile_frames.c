/* tile_frames — figure 6's data: lesson03's CSV trace turned into one picture per tile, for gnuplot's animated GIF.
 *
 *   ./lesson03 --quiet --trace csv --trace-file plots/out/data/lesson03_trace.csv
 *   build/rel/plots/tile_frames plots/out/data/lesson03_trace.csv plots/out/data/lesson03_tiles.dat
 *
 * Each frame is the state after one tile (a 'step' event and the loads, arithmetic and stores that follow it, up to
 * the next load or free after its last computation or store: the next key block's Kj, Vj load before the next step
 * belongs to the next frame, and the buffers freed after the last tile are still in its picture): which rows of Q, K, V and O sit in SRAM (the last rows loaded into the buffers Qi, Kj, Vj, Oi
 * that are still allocated), which score tiles S_ij are done, which one is current (tile (i, j) of the step: rows
 * i*Br.., columns j*Bc.., the last ones ragged), and the running HBM counts. A trace holding several runs
 * (lesson03 runs tiled QK^T V, then FlashAttention; the sequence number starts again at 1) gives one run after the
 * other. Output: per frame, rectangles "x1 y1 x2 y2 0xRRGGBB" then labels "x y "text"", as gnuplot blocks (`index`).
 * The layout is Q | K | V | S = Q K^T | O, rows downward, one unit per element.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "util.h"

#define MAX_FIELDS 17
#define MAX_EVENTS 100000
#define MAX_TILES 4096

typedef struct {
    long seq, r0, r1, c0, c1, rd, wr, sram;
    char kind[16], tensor[24], name[200];
} event;

/* A CSV line into fields (RFC 4180 quotes, as trace.c writes them). */
static int split(char *line, char *field[MAX_FIELDS])
{
    int n = 0;
    char *p = line, *out = line;
    while (n < MAX_FIELDS) {
        field[n++] = out;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
                *out++ = *p == '"' ? *++p : *p;
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '\n')
                *out++ = *p++;
        }
        char delim = *p;   /* read before the terminator: out may have caught up with p */
        *out++ = 0;
        if (delim != ',')
            break;
        p++;
    }
    return n;
}

static long num(const char *s) { return *s ? strtol(s, NULL, 10) : -1; }

/* What SRAM holds: the rows the buffer's last load brought, until it is freed. */
typedef struct {
    const char *buf, *tensor;
    long r0, r1;
    bool live;
} resident;

typedef struct { long r0, r1, c0, c1; } tile;

static const struct { const char *name; double x; unsigned color; } MATS[] = {
    {"Q", 0, 0x4c9be8}, {"K", 1, 0xf2a541}, {"V", 2, 0x59b359}, {"S", 3, 0}, {"O", 4, 0x9d6fd0}};

#define MAX_RUNS 8

static FILE *out;
static long N, d, Br, Bc;   /* Br, Bc: the rows of the run's first Q and K loads, for the grid of S */

static double mat_x(int k) { return k < 4 ? MATS[k].x * (d + 2) : 3 * (d + 2) + N + 2; }

static void rect(double x1, double y1, double x2, double y2, unsigned color)
{
    fprintf(out, "%g %g %g %g 0x%06x\n", x1, -y1, x2, -y2, color);
}

static void frame(const char *title, const char *step, const event *e, resident *res, size_t nres, const tile *done,
                  size_t ndone, const tile *cur, bool first)
{
    fprintf(out, "%s", first ? "" : "\n\n");
    for (int k = 0; k < 5; k++) {
        if (k == 3) {   /* S: pending white, done grey, current red */
            double x = mat_x(3);
            for (long r = 0; r < N; r += Br)
                for (long c = 0; c < N; c += Bc)
                    rect(x + c, r, x + (c + Bc < N ? c + Bc : N), r + Br < N ? r + Br : N, 0xffffff);
            for (size_t t = 0; t < ndone; t++)
                rect(x + done[t].c0, done[t].r0, x + done[t].c1, done[t].r1, 0xbbbbbb);
            if (cur)
                rect(x + cur->c0, cur->r0, x + cur->c1, cur->r1, 0xe8574c);
            continue;
        }
        double x = mat_x(k);
        for (long r = 0; r < N; r++) {
            bool in = false;
            for (size_t b = 0; b < nres; b++)
                in |= res[b].live && !strcmp(res[b].tensor, MATS[k].name) && r >= res[b].r0 && r < res[b].r1;
            rect(x, r, x + d, r + 1, in ? MATS[k].color : 0xf4f4f4);
        }
    }
    fprintf(out, "\n\n");
    static const char *const heads[] = {"Q (N x d)", "K (N x d)", "V (N x d)", "S = Q K^T (N x N): tiles S_{ij}", "O (N x d)"};
    for (int k = 0; k < 5; k++)
        fprintf(out, "%g %g \"%s\"\n", mat_x(k), 0.8, heads[k]);
    fprintf(out, "%g %g \"%s\"\n", 0.0, -(double)N - 1.2, title);
    fprintf(out, "%g %g \"tile: %s\"\n", 0.0, -(double)N - 2.4, step);
    fprintf(out, "%g %g \"HBM so far: %ld elements read, %ld written; SRAM in use: %ld bytes\"\n", 0.0,
            -(double)N - 3.6, e->rd, e->wr, e->sram);
}

int main(int argc, char **argv)
{
    fl_set_progname("tile_frames");
    if (argc != 3)
        fl_fatal("usage: tile_frames TRACE.csv FRAMES.dat (the CSV of ./lesson03 --trace csv --trace-file ...)");
    FILE *in = fopen(argv[1], "r");
    if (!in)
        fl_fatal("cannot read '%s'", argv[1]);
    event *ev = xcalloc(MAX_EVENTS, sizeof *ev);
    size_t n = 0, runs = 0;
    long run_Br[MAX_RUNS] = {0}, run_Bc[MAX_RUNS] = {0};
    char line[1024], *f[MAX_FIELDS];
    while (fgets(line, sizeof line, in)) {
        if (!strncmp(line, "seq,", 4) || !strncmp(line, "summary:", 8))
            continue;
        if (split(line, f) < MAX_FIELDS || n == MAX_EVENTS)
            fl_fatal("'%s' is not a flashlab CSV trace (or has more than %d events)", argv[1], MAX_EVENTS);
        event *e = &ev[n++];
        e->seq = num(f[0]);
        snprintf(e->kind, sizeof e->kind, "%s", f[1]);
        snprintf(e->tensor, sizeof e->tensor, "%s", f[2]);
        snprintf(e->name, sizeof e->name, "%s", f[3]);
        e->r0 = num(f[6]), e->r1 = num(f[7]), e->c0 = num(f[8]), e->c1 = num(f[9]);
        e->rd = num(f[14]), e->wr = num(f[15]), e->sram = num(f[16]);
        if (n == 1 || e->seq <= ev[n - 2].seq)   /* a new run: its sequence numbers start again */
            if (runs++ == MAX_RUNS)
                fl_fatal("'%s' holds more than %d runs", argv[1], MAX_RUNS);
        if (!strcmp(e->kind, "load") || !strcmp(e->kind, "store")) {
            N = e->r1 > N ? e->r1 : N;
            d = !strcmp(e->tensor, "Q") && e->c1 > d ? e->c1 : d;
            if (!strcmp(e->kind, "load") && !run_Br[runs - 1] && !strcmp(e->tensor, "Q"))
                run_Br[runs - 1] = e->r1 - e->r0;
            if (!strcmp(e->kind, "load") && !run_Bc[runs - 1] && !strcmp(e->tensor, "K"))
                run_Bc[runs - 1] = e->r1 - e->r0;
        }
    }
    fclose(in);
    Br = run_Br[0];
    Bc = run_Bc[0];
    if (!N || !d || !Br || !Bc)
        fl_fatal("'%s' has no loads of Q: is it lesson03's trace?", argv[1]);
    outfile *dat = outfile_open(argv[2]);   /* all or nothing: a failed write is exit 3 and no file */
    char a1[1024], a2[1024];                /* the paths, escaped: a newline must not end the comment line */
    out = outfile_stream(dat);
    fprintf(out, "# lesson03_tiles.dat — figure 6: lesson03's tile schedule, one frame per tile\n"
                 "# command: build/rel/plots/tile_frames %s %s\n"
                 "# N = %ld, d = %ld, Br = %ld, Bc = %ld. Each frame is two gnuplot blocks: rectangles (index 2f: x1 y1 x2 y2 colour, y "
                 "downward = -row),\n# then labels (index 2f+1: x y \"text\"). Layout: Q | K | V | S = Q K^T | O; "
                 "coloured rows are in SRAM.\n", fl_escape(argv[1], a1, sizeof a1), fl_escape(argv[2], a2, sizeof a2),
            N, d, Br, Bc);

    resident res[16];
    tile *done = xcalloc(MAX_TILES, sizeof *done), cur = {0};
    size_t nres = 0, ndone = 0, frames = 0, run = 0;
    bool have_cur = false, worked = false;   /* a tile is pending; it has computed or stored since its step */
    char title[200] = "part 1: tiled O = Q K^T V (no softmax)", step[260] = "";
    for (size_t k = 0; k <= n; k++) {
        const event *e = k < n ? &ev[k] : NULL;
        bool new_run = e && k > 0 && e->seq <= ev[k - 1].seq;
        /* The pending tile's frame: at the next step or the run's end, or at the first load after its work (the next
         * key block's Kj, Vj come before the next step, and must not show in this tile's picture). */
        bool ends = !e || new_run || !strcmp(e->kind, "step") ||
                    (worked && (!strcmp(e->kind, "load") || !strcmp(e->kind, "sram_free")));
        if (ends && have_cur) {
            frame(title, step, &ev[k - 1], res, nres, done, ndone, &cur, frames++ == 0);
            done[ndone < MAX_TILES - 1 ? ndone++ : ndone] = cur;
            have_cur = worked = false;
        }
        if (!e || new_run) {   /* the run's last picture: every tile done, SRAM empty */
            snprintf(step, sizeof step, "all %zu tiles done", ndone);
            frame(title, step, &ev[k - 1], res, 0, done, ndone, NULL, frames++ == 0);
            if (!e)
                break;
            nres = ndone = 0;
            run++;
            Br = run_Br[run] ? run_Br[run] : Br;
            Bc = run_Bc[run] ? run_Bc[run] : Bc;
            snprintf(title, sizeof title, "part 2");
        }
        if (!strcmp(e->kind, "note") && !strncmp(e->name, "part ", 5))
            snprintf(title, sizeof title, "%.*s", (int)strcspn(e->name, ","), e->name);
        else if (!strcmp(e->kind, "step")) {   /* tile (i, j): rows i*Br.., columns j*Bc.., ragged at N */
            snprintf(step, sizeof step, "(i=%ld, j=%ld) %s", e->r0, e->c0, e->name);
            have_cur = true;
            cur = (tile){e->r0 * Br, e->r0 * Br + Br < N ? e->r0 * Br + Br : N, e->c0 * Bc,
                         e->c0 * Bc + Bc < N ? e->c0 * Bc + Bc : N};
        } else if (!strcmp(e->kind, "compute") || !strcmp(e->kind, "store")) {
            worked = have_cur;
        } else if (!strcmp(e->kind, "load")) {
            size_t b = 0;
            while (b < nres && strcmp(res[b].buf, e->name))
                b++;
            if (b == nres && nres < 16)
                nres++;
            res[b] = (resident){ev[k].name, ev[k].tensor, e->r0, e->r1, true};
        } else if (!strcmp(e->kind, "sram_free")) {
            for (size_t b = 0; b < nres; b++)
                if (!strcmp(res[b].buf, e->name))
                    res[b].live = false;
        }
    }
    outfile_commit(dat);
    printf("tile_frames: %zu frames of N = %ld, d = %ld written to %s\n", frames, N, d, argv[2]);
    free(ev);
    free(done);
    outfile_check_stdout();
    return 0;
}

/* tilemap.c — the ASCII tile map and the walk-through observer (see include/course/tilemap.h). */
#include "tilemap.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct tilemap {
    size_t Tr, Tc;
    unsigned char *s;          /* tile_state per tile, row-major */
    bool has_current;
    size_t ci, cj;             /* the current tile */
};

tilemap *tilemap_create(size_t Tr, size_t Tc)
{
    size_t n;
    if (Tr == 0 || Tc == 0 || !size_mul_ok(Tr, Tc, &n))
        fl_fatal("internal: a tile map of %zu x %zu tiles", Tr, Tc);
    tilemap *t = xcalloc(1, sizeof *t);
    t->Tr = Tr;
    t->Tc = Tc;
    t->s = xcalloc(n, 1);   /* TILE_PENDING is 0 */
    return t;
}

void tilemap_free(tilemap *t)
{
    if (!t)
        return;
    free(t->s);
    free(t);
}

size_t tilemap_rows(const tilemap *t) { return t->Tr; }
size_t tilemap_cols(const tilemap *t) { return t->Tc; }

static unsigned char *at(const tilemap *t, size_t i, size_t j)
{
    if (i >= t->Tr || j >= t->Tc)
        fl_fatal("internal: tile (%zu, %zu) is outside a %zu x %zu map", i, j, t->Tr, t->Tc);
    return &t->s[i * t->Tc + j];
}

void tilemap_set(tilemap *t, size_t i, size_t j, tile_state s)
{
    *at(t, i, j) = (unsigned char)s;
    if (s == TILE_CURRENT) {
        t->has_current = true;
        t->ci = i;
        t->cj = j;
    } else if (t->has_current && t->ci == i && t->cj == j) {
        t->has_current = false;
    }
}

tile_state tilemap_get(const tilemap *t, size_t i, size_t j) { return (tile_state)*at(t, i, j); }

void tilemap_finish(tilemap *t)
{
    if (t->has_current && *at(t, t->ci, t->cj) == TILE_CURRENT)
        *at(t, t->ci, t->cj) = TILE_DONE;
    t->has_current = false;
}

void tilemap_visit(tilemap *t, size_t i, size_t j)
{
    at(t, i, j);   /* check the indices before changing anything */
    tilemap_finish(t);
    tilemap_set(t, i, j, TILE_CURRENT);
}

size_t tilemap_count(const tilemap *t, tile_state s)
{
    size_t n = 0;
    for (size_t k = 0; k < t->Tr * t->Tc; k++)
        n += t->s[k] == s;
    return n;
}

/* ---- drawing ----------------------------------------------------------------------------------------------------- */

static bool wide(const tilemap *t) { return t->Tc <= TILEMAP_WIDE_MAX; }

static size_t digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Row labels: " i  0  ", "    1  ": 3 + digits + 2 characters before the first cell. */
static size_t prefix(const tilemap *t) { return 3 + digits(t->Tr - 1) + 2; }

size_t tilemap_lines(const tilemap *t) { return 1 + t->Tr; }
size_t tilemap_width(const tilemap *t) { return prefix(t) + (wide(t) ? 3 : 1) * t->Tc; }

void tilemap_line(const tilemap *t, size_t k, char *buf, size_t len)
{
    static const char *const cell3[] = {"[ ]", "[#]", "[x]", "[-]", "[/]"};
    static const char cell1[] = {'.', '#', 'x', '-', '/'};
    size_t w = tilemap_width(t), p = prefix(t);
    char *line = xmalloc(w + 1);
    memset(line, ' ', w);
    line[w] = 0;
    if (k == 0) {                                  /* column header: j and the column indices */
        line[p - 2] = 'j';
        for (size_t j = 0; j < t->Tc; j++) {
            size_t col = wide(t) ? p + 3 * j + 1 : p + j;
            if (!wide(t) && j % 10)
                continue;
            char num[24];
            int n = snprintf(num, sizeof num, "%zu", j);
            if (col + (size_t)n <= w)
                memcpy(line + col, num, (size_t)n);
        }
    } else {
        size_t i = k - 1;
        char lab[32];
        int n = snprintf(lab, sizeof lab, "%s%*zu", i == 0 ? " i " : "   ", (int)digits(t->Tr - 1), i);
        memcpy(line, lab, (size_t)n);
        for (size_t j = 0; j < t->Tc; j++) {
            tile_state s = tilemap_get(t, i, j);
            if (wide(t))
                memcpy(line + p + 3 * j, cell3[s], 3);
            else
                line[p + j] = cell1[s];
        }
    }
    snprintf(buf, len, "%s", line);
    free(line);
}

const char *tilemap_legend(const tilemap *t)
{
    if (tilemap_count(t, TILE_PARTIAL))
        return wide(t) ? "[#] computing  [x] done  [/] done, partly masked  [ ] to do  [-] skipped"
                       : "# computing  x done  / done, partly masked  . to do  - skipped";
    return wide(t) ? "[#] computing  [x] done  [ ] to do  [-] skipped" : "# computing  x done  . to do  - skipped";
}

void tilemap_print(const tilemap *t, FILE *out, const char *indent)
{
    size_t len = tilemap_width(t) + 1;
    char *buf = xmalloc(len);
    for (size_t k = 0; k < tilemap_lines(t); k++) {
        tilemap_line(t, k, buf, len);
        size_t n = strlen(buf);
        while (n && buf[n - 1] == ' ')
            buf[--n] = 0;
        fprintf(out, "%s%s\n", indent ? indent : "", buf);
    }
    fprintf(out, "%s%s\n", indent ? indent : "", tilemap_legend(t));
    free(buf);
}

void tilemap_paint_step(const mem_event *ev, void *map)
{
    if (ev->kind != MEM_EV_STEP)
        return;
    if (ev->i < 0 || ev->j < 0 || (size_t)ev->i >= tilemap_rows(map) || (size_t)ev->j >= tilemap_cols(map))
        fl_fatal("internal: mem_step(%ld, %ld) is outside the tile map", ev->i, ev->j);
    if (ev->name && !strcmp(ev->name, MEM_STEP_SKIP))
        tilemap_set(map, (size_t)ev->i, (size_t)ev->j, TILE_SKIPPED);
    else if (tilemap_get(map, (size_t)ev->i, (size_t)ev->j) != TILE_SKIPPED)
        tilemap_set(map, (size_t)ev->i, (size_t)ev->j, TILE_DONE);
}

void tilemap_mark_masked(tilemap *t, const attn_params *p)
{
    for (size_t i = 0; i < t->Tr; i++)
        for (size_t j = 0; j < t->Tc; j++)
            if (tilemap_get(t, i, j) == TILE_DONE && attn_tile_mask(p, i, j) == ATTN_TILE_PARTIAL)
                tilemap_set(t, i, j, TILE_PARTIAL);
}

/* ---- the walk-through view ----------------------------------------------------------------------------------- */

#define WALK_TEXT 256
#define WALK_EV_W 52       /* width of an event's text before the running totals */

typedef struct {
    mem_ev_kind kind;
    char text[WALK_TEXT];       /* the event as one line (full view) */
    char name[MEM_NAME_LEN];    /* load, store: the tile's name */
    uint64_t flops, exps;       /* compute */
    uint64_t rd, wr;            /* running HBM totals after the event, elements */
} walk_line;

struct tilewalk {
    mem_t *m;
    tilemap *map;
    tilewalk_view view;
    FILE *out;
    tilewalk_fn after_tile;
    void *ctx;
    walk_line *line;
    size_t n, cap;
    bool in_tile;
    long ti, tj;
    char what[160];
};

static walk_line *push(tilewalk *w, const mem_event *ev)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        walk_line *grown = xmalloc(w->cap * sizeof *grown);
        if (w->n)
            memcpy(grown, w->line, w->n * sizeof *grown);
        free(w->line);
        w->line = grown;
    }
    walk_line *l = &w->line[w->n++];
    io_count tot = mem_io(ev->mem, NULL, NULL);
    *l = (walk_line){.kind = ev->kind, .flops = ev->flops, .exps = ev->exps, .rd = tot.rd_elems,
                     .wr = tot.wr_elems};
    snprintf(l->name, sizeof l->name, "%s", ev->name ? ev->name : "");
    return l;
}

static bool ends_work(const walk_line *l) { return l->kind == MEM_EV_COMPUTE || l->kind == MEM_EV_STORE; }

/* One line for lines 0 .. k-1: the tiles loaded and stored, the work, and the HBM totals after them. */
static void brief_line(const tilewalk *w, size_t k, const char *title)
{
    char ld[64] = "", st[64] = "";
    uint64_t flops = 0, exps = 0, rd = 0, wr = 0;
    for (size_t r = 0; r < k; r++) {
        const walk_line *l = &w->line[r];
        char *dst = l->kind == MEM_EV_LOAD ? ld : l->kind == MEM_EV_STORE ? st : NULL;
        if (dst && strlen(dst) + strlen(l->name) + 2 < sizeof ld)
            strcat(strcat(dst, *dst ? " " : ""), l->name);
        flops += l->flops;
        exps += l->exps;
        if (l->kind != MEM_EV_NOTE) {
            rd = l->rd;
            wr = l->wr;
        }
    }
    fprintf(w->out, "  %-16s load %-20s store %-14s %7llu FLOP %5llu exp | HBM rd %7llu wr %7llu\n", title, ld, st,
            (unsigned long long)flops, (unsigned long long)exps, (unsigned long long)rd, (unsigned long long)wr);
}

/* Print lines 0 .. k-1 (as tile (ti, tj) when tile is set, else as lines outside every tile); keep the rest. */
static void flush(tilewalk *w, size_t k, bool tile, const char *outside)
{
    size_t mw = tilemap_width(w->map), ml = tilemap_lines(w->map);
    char title[WALK_TEXT];
    if (w->view == TILEWALK_BRIEF) {
        snprintf(title, sizeof title, "tile (%ld, %ld)", w->ti, w->tj);
        if (tile || k)
            brief_line(w, k, tile ? title : outside);
    } else if (tile) {
        snprintf(title, sizeof title, "tile (i=%ld, j=%ld)%s%s", w->ti, w->tj, *w->what ? ": " : "", w->what);
        char *mline = xmalloc(mw + 1);
        for (size_t r = 0; r < max_size(ml, 1 + k); r++) {
            if (r < ml)
                tilemap_line(w->map, r, mline, mw + 1);
            else
                memset(mline, ' ', mw), mline[mw] = 0;
            char row[2 * WALK_TEXT];
            if (r == 0)
                snprintf(row, sizeof row, "%s   %-*s %7s %7s", mline, WALK_EV_W, title, "HBM rd", "wr");
            else
                snprintf(row, sizeof row, "%s   %s", mline, r - 1 < k ? w->line[r - 1].text : "");
            size_t n = strlen(row);
            while (n && row[n - 1] == ' ')   /* no trailing blanks below a short tile */
                row[--n] = 0;
            fprintf(w->out, "%s\n", row);
        }
        fputc('\n', w->out);
        free(mline);
    } else if (k) {
        for (size_t r = 0; r < k; r++)
            fprintf(w->out, "%*s   %s\n", (int)mw, "", w->line[r].text);
        fputc('\n', w->out);
    }
    if (k < w->n)   /* (memmove with a null line buffer is undefined even for 0 bytes) */
        memmove(w->line, w->line + k, (w->n - k) * sizeof *w->line);
    w->n -= k;
    fflush(w->out);
    if (tile && w->after_tile)
        w->after_tile(w->ctx);
}

/* How many buffered lines belong to the tile before: everything up to its last computation or store. */
static size_t tile_part(const tilewalk *w)
{
    size_t k = w->n;
    while (k && !ends_work(&w->line[k - 1]))
        k--;
    return k;
}

static void walk_observe(const mem_event *ev, void *ctx)
{
    tilewalk *w = ctx;
    char win[64], by[32], text[192];
    walk_line *l;
    switch (ev->kind) {
    case MEM_EV_LOAD:
    case MEM_EV_STORE: {
        bool ld = ev->kind == MEM_EV_LOAD;
        if (ev->b || ev->h)
            snprintf(win, sizeof win, "%s(b%zu,h%zu)[%zu:%zu, %zu:%zu]", ev->tensor, ev->b, ev->h, ev->r0,
                     ev->r0 + ev->nrows, ev->c0, ev->c0 + ev->ncols);
        else
            snprintf(win, sizeof win, "%s[%zu:%zu, %zu:%zu]", ev->tensor, ev->r0, ev->r0 + ev->nrows, ev->c0,
                     ev->c0 + ev->ncols);
        l = push(w, ev);
        snprintf(text, sizeof text, "%-5s %-16s %s %-6s %4llu el %7s", ld ? "load" : "store", win, ld ? "->" : "<-",
                 l->name, (unsigned long long)ev->elems, fmt_bytes(ev->bytes, by, sizeof by));
        snprintf(l->text, sizeof l->text, "%-*s %7llu %7llu", WALK_EV_W, text, (unsigned long long)l->rd,
                 (unsigned long long)l->wr);
        break;
    }
    case MEM_EV_COMPUTE:
        l = push(w, ev);
        if (ev->exps)
            snprintf(l->text, sizeof l->text, "calc  %-26s %6llu FLOP %4llu exp", ev->name,
                     (unsigned long long)ev->flops, (unsigned long long)ev->exps);
        else
            snprintf(l->text, sizeof l->text, "calc  %-26s %6llu FLOP", ev->name, (unsigned long long)ev->flops);
        break;
    case MEM_EV_NOTE:
        l = push(w, ev);
        snprintf(l->text, sizeof l->text, "-- %s", ev->name);
        break;
    case MEM_EV_STEP:
        if (ev->i < 0 || ev->j < 0)
            fl_fatal("internal: mem_step(%ld, %ld) is outside the tile map", ev->i, ev->j);
        if (ev->name && !strcmp(ev->name, MEM_STEP_SKIP)) {   /* no traffic to show: just paint it */
            tilemap_set(w->map, (size_t)ev->i, (size_t)ev->j, TILE_SKIPPED);
            break;
        }
        flush(w, tile_part(w), w->in_tile, "before the tiles");
        tilemap_visit(w->map, (size_t)ev->i, (size_t)ev->j);
        w->in_tile = true;
        w->ti = ev->i;
        w->tj = ev->j;
        snprintf(w->what, sizeof w->what, "%s", ev->name ? ev->name : "");
        break;
    default:   /* allocations and phases are in the full trace (--trace text) */
        break;
    }
}

tilewalk *tilewalk_open(mem_t *m, size_t Tr, size_t Tc, tilewalk_view view, FILE *out, tilewalk_fn after_tile,
                        void *ctx)
{
    tilewalk *w = xcalloc(1, sizeof *w);
    w->m = m;
    w->map = tilemap_create(Tr, Tc);
    w->view = view;
    w->out = out;
    w->after_tile = after_tile;
    w->ctx = ctx;
    mem_observe(m, walk_observe, w);
    return w;
}

tilemap *tilewalk_map(tilewalk *w) { return w->map; }

tilemap *tilewalk_close(tilewalk *w)
{
    mem_unobserve(w->m, walk_observe, w);
    if (w->in_tile)
        flush(w, tile_part(w), true, NULL);
    flush(w, w->n, false, w->in_tile ? "after the tiles" : "no tiles");
    tilemap_finish(w->map);
    tilemap *map = w->map;
    free(w->line);
    free(w);
    return map;
}

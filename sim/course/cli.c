/* cli.c — the common command line, parsed once for every lesson (see include/course/cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Upper bounds that keep every later product (N*N, N*d, B*H*N*d) inside 64 bits and a lesson inside reason. */
#define CLI_MAX_N ((size_t)1 << 24)
#define CLI_MAX_D ((size_t)1 << 14)
#define CLI_MAX_BH ((size_t)1 << 16)
#define CLI_MAX_M ((size_t)1 << 40)

static int fail(const cli_spec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const cli_spec *spec, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", spec->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try --help)\n", stderr);
    return CLI_ERROR;
}

/* A decimal count: digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = v;
    return true;
}

bool cli_parse_bytes(const char *s, size_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return false;
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"", 0}, {"B", 0}, {"K", 10}, {"KB", 10}, {"KiB", 10}, {"k", 10}, {"M", 20}, {"MB", 20}, {"MiB", 20},
        {"G", 30}, {"GB", 30}, {"GiB", 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].suffix)) {
            if (v > (SIZE_MAX >> units[i].shift))
                return false;
            *out = (size_t)v << units[i].shift;
            return true;
        }
    return false;
}

static void usage(const cli_spec *spec, FILE *f)
{
    const cli_cfg *d = &spec->defaults;
    fprintf(f, "%s — %s\n\nusage: ./%s [options]\n\n", spec->name, spec->title, spec->name);
    fprintf(f,
            "  -N, --seq-len N        sequence length (default %zu)\n"
            "  -d, --head-dim D       head dimension (default %zu)\n"
            "  -M, --sram BYTES       SRAM capacity M; suffixes K/KiB, M/MiB, G/GiB are powers of 1024 (default %zu)\n"
            "      --block-rows BR    query rows per block Br (default: the paper's rule, fitted to M)\n"
            "      --block-cols BC    key rows per block Bc (default: Bc = ceil(M/4d), fitted to M)\n"
            "      --dtype T          storage type in HBM: fp32, fp16 or bf16 (default %s)\n"
            "      --batch B          batch size (default %zu)\n"
            "      --heads H          number of heads (default %zu)\n",
            d->N, d->d, d->M_bytes, dtype_name(d->dtype), d->B, d->H);
    if (spec->extra & CLI_OPT_CAUSAL)
        fprintf(f, "      --causal           mask keys after the query (autoregressive attention)\n");
    if (spec->extra & CLI_OPT_ALGO) {
        fprintf(f, "      --algo NAME        one of:");
        for (const char *const *a = spec->algos; a && *a; a++)
            fprintf(f, " %s", *a);
        fprintf(f, " (default %s)\n", d->algo ? d->algo : "all");
    }
    fprintf(f,
            "      --trace FMT        none, text, csv or json (Chrome trace, for Perfetto) (default %s)\n"
            "      --trace-file PATH  write the trace there instead of stdout\n"
            "      --seed S           random seed for the inputs (default %llu)\n"
            "      --count-only       run the loops and count, without arithmetic or data\n"
            "      --quiet            print only the summary line\n",
            trace_fmt_name(d->trace), (unsigned long long)d->seed);
    for (const cli_own_opt *o = spec->own; o->name; o++) {
        char opt[40];
        snprintf(opt, sizeof opt, "--%s %s", o->name, o->meta);
        fprintf(f, "      %-19s%s\n", opt, o->help);
    }
    if (spec->extra & CLI_OPT_THREADS)
        fprintf(f, "      --threads T        OpenMP threads (default: OMP_NUM_THREADS or all cores)\n");
    if (spec->extra & CLI_OPT_STEP)
        fprintf(f, "      --step             pause after each step (only when run in a terminal)\n");
    if (spec->extra & CLI_OPT_OUT_DIR)
        fprintf(f, "      --out-dir DIR      where to write data files (default %s)\n", d->out_dir ? d->out_dir : ".");
    fprintf(f, "  -h, --help             this text\n      --version          print the version\n");
    if (spec->details)
        fprintf(f, "\n%s\n", spec->details);
    fprintf(f, "\nThe last line of output is always 'summary: key=value ...'. Bad input exits with status 2.\n");
}

/* Option table: long name, short letter (or 0), takes a value, and the CLI_OPT_* bit it needs (0: common). */
typedef struct {
    const char *lng;
    char shrt;
    bool value;
    unsigned needs;
} opt_def;

static const opt_def OPTS[] = {
    {"seq-len", 'N', true, 0},      {"head-dim", 'd', true, 0},     {"sram", 'M', true, 0},
    {"block-rows", 0, true, 0},     {"block-cols", 0, true, 0},     {"dtype", 0, true, 0},
    {"batch", 0, true, 0},          {"heads", 0, true, 0},          {"causal", 0, false, CLI_OPT_CAUSAL},
    {"trace", 0, true, 0},          {"trace-file", 0, true, 0},     {"seed", 0, true, 0},
    {"count-only", 0, false, 0},    {"quiet", 0, false, 0},         {"threads", 0, true, CLI_OPT_THREADS},
    {"algo", 0, true, CLI_OPT_ALGO}, {"step", 0, false, CLI_OPT_STEP}, {"out-dir", 0, true, CLI_OPT_OUT_DIR},
    {"help", 'h', false, 0},        {"version", 0, false, 0},
};

static int set_size(const cli_spec *spec, const char *opt, const char *val, size_t max, size_t *dst)
{
    uint64_t v;
    if (!parse_u64(val, &v))
        return fail(spec, "--%s needs a positive whole number, got '%s'", opt, val);
    if (v == 0)
        return fail(spec, "--%s must be at least 1, got 0", opt);
    if (v > max)
        return fail(spec, "--%s %s is too large (at most %zu)", opt, val, max);
    *dst = (size_t)v;
    return CLI_OK;
}

static int apply(const cli_spec *spec, const opt_def *o, const char *val, cli_cfg *cfg)
{
    const char *n = o->lng;
    if (!strcmp(n, "seq-len")) return set_size(spec, n, val, CLI_MAX_N, &cfg->N);
    if (!strcmp(n, "head-dim")) return set_size(spec, n, val, CLI_MAX_D, &cfg->d);
    if (!strcmp(n, "block-rows")) return set_size(spec, n, val, CLI_MAX_N, &cfg->Br);
    if (!strcmp(n, "block-cols")) return set_size(spec, n, val, CLI_MAX_N, &cfg->Bc);
    if (!strcmp(n, "batch")) return set_size(spec, n, val, CLI_MAX_BH, &cfg->B);
    if (!strcmp(n, "heads")) return set_size(spec, n, val, CLI_MAX_BH, &cfg->H);
    if (!strcmp(n, "sram")) {
        size_t b;
        if (!cli_parse_bytes(val, &b))
            return fail(spec, "--sram needs a byte count like 65536, 64K or 1MiB, got '%s'", val);
        if (b == 0)
            return fail(spec, "--sram must be at least 1 byte");
        if (b > CLI_MAX_M)
            return fail(spec, "--sram %s is too large (at most 1 TiB)", val);
        cfg->M_bytes = b;
        return CLI_OK;
    }
    if (!strcmp(n, "dtype"))
        return dtype_parse(val, &cfg->dtype) ? fail(spec, "--dtype must be fp32, fp16 or bf16, got '%s'", val) : CLI_OK;
    if (!strcmp(n, "trace"))
        return trace_fmt_parse(val, &cfg->trace) ? fail(spec, "--trace must be none, text, csv or json, got '%s'", val)
                                                   : CLI_OK;
    if (!strcmp(n, "trace-file")) {
        if (!*val)
            return fail(spec, "--trace-file needs a path");
        cfg->trace_file = val;
        return CLI_OK;
    }
    if (!strcmp(n, "out-dir")) {
        if (!*val)
            return fail(spec, "--out-dir needs a path");
        cfg->out_dir = val;
        return CLI_OK;
    }
    if (!strcmp(n, "seed")) {
        uint64_t v;
        if (!parse_u64(val, &v))
            return fail(spec, "--seed needs a whole number from 0 to 2^64-1, got '%s'", val);
        cfg->seed = v;
        return CLI_OK;
    }
    if (!strcmp(n, "threads")) {
        size_t t;
        int rc = set_size(spec, n, val, 1024, &t);
        cfg->threads = (int)t;
        return rc;
    }
    if (!strcmp(n, "algo")) {
        for (const char *const *a = spec->algos; a && *a; a++)
            if (!strcmp(*a, val)) {
                cfg->algo = *a;
                return CLI_OK;
            }
        char names[256] = "";
        size_t len = 0;
        for (const char *const *a = spec->algos; a && *a && len < sizeof names - 32; a++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", *a);
        return fail(spec, "--algo must be one of %s, got '%s'", names, val);
    }
    if (!strcmp(n, "causal")) cfg->causal = true;
    else if (!strcmp(n, "count-only")) cfg->count_only = true;
    else if (!strcmp(n, "quiet")) cfg->quiet = true;
    else if (!strcmp(n, "step")) cfg->step = true;
    return CLI_OK;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_cfg *cfg)
{
    *cfg = spec->defaults;
    cfg->lesson = spec->name;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const opt_def *o = NULL;
        char name[32];
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {                     /* --name or --name=value */
            const char *eq = strchr(arg + 2, '=');
            size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            if (len >= sizeof name)
                return fail(spec, "unknown option '%s'", arg);
            memcpy(name, arg + 2, len);
            name[len] = 0;
            for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
                if (!strcmp(OPTS[k].lng, name))
                    o = &OPTS[k];
            if (eq)
                val = eq + 1;
            for (size_t k = 0; !o && k < CLI_MAX_OWN && spec->own[k].name; k++)
                if (!strcmp(spec->own[k].name, name)) {                   /* one of the lesson's own */
                    if (!val && i + 1 >= argc)
                        return fail(spec, "--%s needs a value", name);
                    const cli_own_opt *w = &spec->own[k];
                    int rc = set_size(spec, w->name, val ? val : argv[++i], w->max, &cfg->own[k]);
                    if (rc != CLI_OK)
                        return rc;
                    if (cfg->own[k] < w->min)
                        return fail(spec, "--%s must be at least %zu, got %zu", w->name, w->min, cfg->own[k]);
                    goto next;
                }
        } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {              /* -N 16 or -N16 */
            for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
                if (OPTS[k].shrt && OPTS[k].shrt == arg[1])
                    o = &OPTS[k];
            if (o && arg[2]) {
                if (!o->value)
                    return fail(spec, "unknown option '%s'", arg);
                val = arg + 2;
            }
        } else {
            return fail(spec, "unexpected argument '%s'", arg);
        }
        if (!o || (o->needs && !(spec->extra & o->needs))) {
            if (o && o->needs == CLI_OPT_CAUSAL)
                return fail(spec, "--causal is not meaningful for %s", spec->name);
            return fail(spec, "unknown option '%s'", arg);
        }
        if (!o->value && val)
            return fail(spec, "--%s takes no value", o->lng);
        if (o->value && !val) {
            if (i + 1 >= argc)
                return fail(spec, "--%s needs a value", o->lng);
            val = argv[++i];
        }
        if (!strcmp(o->lng, "help")) {
            usage(spec, stdout);
            return CLI_DONE;
        }
        if (!strcmp(o->lng, "version")) {
            printf("%s (flashlab) %s\n", spec->name, FLASHLAB_VERSION);
            return CLI_DONE;
        }
        int rc = apply(spec, o, val, cfg);
        if (rc != CLI_OK)
            return rc;
    next:;
    }
    if (cfg->Br > cfg->N)
        return fail(spec, "--block-rows %zu is larger than the sequence length N = %zu", cfg->Br, cfg->N);
    if (cfg->Bc > cfg->N)
        return fail(spec, "--block-cols %zu is larger than the sequence length N = %zu", cfg->Bc, cfg->N);
    if (cfg->trace_file && cfg->trace == TRACE_NONE)
        return fail(spec, "--trace-file needs --trace text, csv or json");
    return CLI_OK;
}

int cli_main(const cli_spec *spec, int argc, char **argv, lesson_fn run)
{
    cli_cfg cfg;
    fl_set_progname(spec->name);
    int rc = cli_parse(spec, argc, argv, &cfg);
    if (rc == CLI_DONE)
        return 0;
    if (rc == CLI_ERROR)
        return FL_EXIT_USAGE;
    return run(&cfg);
}

trace_t *cli_trace_open(const cli_cfg *cfg, mem_t *m)
{
    if (cfg->trace == TRACE_NONE)
        return NULL;
    FILE *f = stdout;
    if (cfg->trace_file) {
        f = fopen(cfg->trace_file, "w");
        if (!f)
            fl_fatal("cannot write the trace to '%s': %s", cfg->trace_file, strerror(errno));
    }
    return trace_open(m, cfg->trace, f);
}

void cli_trace_close(const cli_cfg *cfg, trace_t *t)
{
    if (!t)
        return;
    FILE *f = trace_close(t);
    if (cfg->trace_file && fclose(f) != 0)
        fl_fatal("cannot finish the trace file '%s': %s", cfg->trace_file, strerror(errno));
}

void cli_pause(const cli_cfg *cfg, const char *prompt)
{
    if (!cfg->step || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return;
    printf("%s [Enter] ", prompt ? prompt : "");
    fflush(stdout);
    int c;
    while ((c = getchar()) != '\n' && c != EOF)
        ;
}

/* decode_bytes — figure 7's data: HBM bytes per decoded token against the cache length, for MHA, GQA and MQA,
 * counted by lesson11's decode on the memory model (count-only) and held to its closed form.
 *
 *   build/rel/plots/decode_bytes [--out-dir plots/data]      writes decode_bytes.dat; exit 1 if a count differs,
 *                                                            3 if the file cannot be written (outfile.h)
 *
 * One token for one sequence (B = 1), Hq = 32 query heads, d = 128, fp16, an H100's SRAM per SM (227 KiB), S from
 * decode.h's rule for its 132 SMs. Per configuration a gnuplot block (index 0 MHA Hkv = 32, 1 GQA Hkv = 8, 2 MQA
 * Hkv = 1) of lines: N S Bc read_bytes write_bytes bytes kv_bytes alone_bytes closed_form_ok, where kv_bytes =
 * 2·Hkv·N·d·2 (K and V once) and alone_bytes is the same decode with each query head reading its KV head alone.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "exitcode.h"
#include "outfile.h"
#include "util.h"

#define HQ 32
#define D 128
#define SRAM (227 * 1024)   /* H100: shared memory a block may use */
#define SMS 132
#define N_MIN 256
#define N_MAX 131072

/* Count-only decode of one shape: total bytes read and written; *ok &= ledger == closed form. */
static uint64_t bytes_of(decode_params *p, uint64_t *rd, uint64_t *wr, bool *ok)
{
    char err[256];
    if (decode_choose_block(p, SRAM, DTYPE_FP16, 0, err, sizeof err))
        fl_fatal("%s", err);
    mem_t *m = mem_create(SRAM, true);
    decode_tensors t = decode_alloc(m, p, DTYPE_FP16, NULL, 0);
    decode_run(m, p, &t);
    decode_io cf;
    decode_closed_form(p, &cf);
    io_count io = mem_io(m, NULL, NULL);
    *ok &= io.rd_elems == cf.rd && io.wr_elems == cf.wr;
    *rd = io.rd_bytes;
    *wr = io.wr_bytes;
    decode_free(m, &t);
    mem_destroy(m);
    return *rd + *wr;
}

int main(int argc, char **argv)
{
    fl_set_progname("decode_bytes");
    const char *dir = "plots/data";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out-dir") && i + 1 < argc)
            dir = argv[++i];
        else
            fl_fatal("unknown argument '%s' (usage: decode_bytes [--out-dir DIR])", argv[i]);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/decode_bytes.dat", dir);
    outfile *o = outfile_open(path);   /* all or nothing: a failed write exits 3 and leaves no partial file */
    FILE *f = outfile_stream(o);
    fprintf(f, "# decode_bytes (plots/decode_bytes.c): lesson11's decode, count-only, B = 1, Hq = %d, d = %d, fp16, "
               "M = %d bytes, S = decode_suggest_splits(%d SMs, waves 2, 128 rows)\n"
               "# columns: N S Bc read_bytes write_bytes bytes kv_bytes alone_bytes closed_form_ok\n",
            HQ, D, SRAM, SMS);
    static const size_t HKV[] = {32, 8, 1};
    static const char *const NAME[] = {"MHA", "GQA", "MQA"};
    bool all = true;
    for (int c = 0; c < 3; c++) {
        fprintf(f, "%s# %s: Hkv = %zu (G = %zu)\n", c ? "\n\n" : "", NAME[c], HKV[c], HQ / HKV[c]);
        for (size_t N = N_MIN; N <= N_MAX; N *= 2) {
            size_t S = decode_suggest_splits(SMS, 1, HKV[c], N, 2, 128);
            decode_params p = {.B = 1, .N = N, .Hq = HQ, .Hkv = HKV[c], .d = D, .splits = S, .grouped = true},
                          a = p;
            a.grouped = false;
            uint64_t rd, wr, ard, awr;
            bool ok = true;
            uint64_t bytes = bytes_of(&p, &rd, &wr, &ok), alone = bytes_of(&a, &ard, &awr, &ok);
            fprintf(f, "%zu %zu %zu %llu %llu %llu %llu %llu %d\n", N, S, p.Bc, (unsigned long long)rd,
                    (unsigned long long)wr, (unsigned long long)bytes, (unsigned long long)(2ull * HKV[c] * N * D * 2),
                    (unsigned long long)alone, ok);
            all &= ok;
        }
    }
    outfile_commit(o);
    printf("decode_bytes: wrote %s (closed forms %s)\n", path, all ? "equal" : "DIFFERENT");
    return all ? FL_EXIT_OK : FL_EXIT_CHECK;
}

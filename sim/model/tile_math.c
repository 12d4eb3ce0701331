/* tile_math.c — fast arithmetic on SRAM tiles (see include/model/tile_math.h).
 *
 * Why this shape: the kernels are written once (tile_math_kernels.inc) in GNU C vector extensions and compiled
 * three times: portable (16-byte vectors, which gcc and clang lower to SSE2 on any x86-64, NEON on ARM, plain
 * scalars elsewhere), AVX2 + FMA and AVX-512 (x86-64 only, through target attributes, so the rest of the program
 * keeps the baseline flags and runs on any x86-64). The widest set the CPU supports is picked once at run time.
 * Vector extensions rather than `omp simd` loops: register blocking needs the accumulators named, which a pragma
 * cannot promise; rather than an sgemm from a BLAS: tiles are small (tens of rows), come in every ragged shape, and
 * a library call per tile would add a dependency to every build for no gain at these sizes.
 * No -ffast-math: the only reassociation is the blocked order of the sums, done on purpose and tested.
 */
#include "tile_math.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define TM_X86 1
#include <immintrin.h>
#else
#define TM_X86 0
#endif

/* The product's epilogue: C = bs b[i] acc (set), or C = as a[i] C + bs b[i] acc; a, b NULL mean 1. With load, the
 * sums start from C's values instead of 0 (a sum split in chunks stays one chain). */
typedef struct {
    bool set, load;
    const float *a, *b;
    float as, bs;
} tm_epi;

typedef struct {
    const char *name;
    void (*gemm)(float *C, size_t ldc, const float *A, size_t sai, size_t sat, const float *B, size_t ldb, size_t m,
                 size_t n, size_t k, bool bpad, const tm_epi *e);
    void (*qkt)(const float *A, const float *B, size_t rows, size_t cols, size_t d, float scale, float *S);
    void (*exp)(float *y, const float *x, size_t n);
    float (*row_max)(const float *x, size_t n, float init);
    float (*exp_sub_sum)(float *x, size_t n, float m);
    void (*exp_affine)(float *x, size_t n, float a, float b, float c);
    float (*dot)(const float *a, const float *b, size_t n);
    void (*div)(float *x, size_t n, float c);
    void (*dsoftmax_row)(float *ds, const float *p, size_t n, float D);
    void (*softmax_pv_update)(float *S, size_t rows, size_t kc, const float *V, size_t d, float *mi, float *li,
                              float *O);
} tm_ops;

/* Depth of one packed chunk of Kj^T in tile_qkt (a longer d is summed in chunks): the pack is TM_KC x NV*VW floats
 * on the stack, 32 KiB for AVX-512. */
#define TM_KC 128
/* tile_softmax_pv_update takes rows in chunks of TM_ROWS, so their rescale factors fit on the stack. */
#define TM_ROWS 64

/* exp's constants: log2(e); 1.5 * 2^23, whose addition rounds to an integer; ln 2 = LN2_HI + LN2_LO with LN2_HI
 * short enough (16 bits) that k * LN2_HI is exact for |k| < 256; a degree-6 minimax polynomial for
 * (e^r - 1 - r) / r^2 on |r| <= ln2/2 (Cephes' expf coefficients). */
#define TM_LOG2E 1.44269504088896341f
#define TM_ROUND_MAGIC 12582912.0f
#define TM_LN2_HI 0.693359375f
#define TM_LN2_LO -2.12194440e-4f
#define TM_EXP_C7 1.9875691500e-4f
#define TM_EXP_C6 1.3981999507e-3f
#define TM_EXP_C5 8.3334519073e-3f
#define TM_EXP_C4 4.1665795894e-2f
#define TM_EXP_C3 1.6666665459e-1f
#define TM_EXP_C2 5.0000001201e-1f

/* ---- the portable build: 16-byte vectors, a*b + c rounded twice (C11 does not contract it) --------------------- */
typedef float tm_v4 __attribute__((vector_size(16)));
typedef int tm_i4 __attribute__((vector_size(16)));
#define TM(name) tm_##name##_generic
#define TM_ATTR
#define TM_NAME "generic"
#define V tm_v4
#define VI tm_i4
#define VW 4
#define VFMA(a, b, c) ((a) * (b) + (c))
#define MR 6
#define NV 2
#include "tile_math_kernels.inc"

#if TM_X86
/* Both transposes begin alike, inside each 128-bit lane: the n rows r interleaved in pairs into t (unpacklo/hi),
 * then pairs of pairs into out (shuffle 0x44, 0xEE): a 4 x 4 transpose per lane. W is the width's intrinsic prefix
 * (_mm256, _mm512); out may be r. */
#define TM_TRANSPOSE_IN_LANES(W, r, t, out, n)                                                                       \
    do {                                                                                                             \
        for (int i_ = 0; i_ < (n) / 2; i_++) {                                                                       \
            t[2 * i_] = W##_unpacklo_ps(r[2 * i_], r[2 * i_ + 1]);                                                  \
            t[2 * i_ + 1] = W##_unpackhi_ps(r[2 * i_], r[2 * i_ + 1]);                                              \
        }                                                                                                            \
        for (int i_ = 0; i_ < (n) / 4; i_++) {                                                                       \
            out[4 * i_] = W##_shuffle_ps(t[4 * i_], t[4 * i_ + 2], 0x44);                                           \
            out[4 * i_ + 1] = W##_shuffle_ps(t[4 * i_], t[4 * i_ + 2], 0xEE);                                       \
            out[4 * i_ + 2] = W##_shuffle_ps(t[4 * i_ + 1], t[4 * i_ + 3], 0x44);                                   \
            out[4 * i_ + 3] = W##_shuffle_ps(t[4 * i_ + 1], t[4 * i_ + 3], 0xEE);                                   \
        }                                                                                                            \
    } while (0)

/* ---- AVX2 + FMA: 8 lanes, 16 registers: 6 x 2 accumulators ------------------------------------------------------ */
typedef float tm_v8 __attribute__((vector_size(32)));
typedef int tm_i8 __attribute__((vector_size(32)));
__attribute__((target("avx2,fma"))) static inline float tm_reduce_add_avx2(tm_v8 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
__attribute__((target("avx2,fma"))) static inline float tm_reduce_max_avx2(tm_v8 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}
/* 8 x 8 in place: pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped into place. */
__attribute__((target("avx2,fma"))) static inline void tm_transpose_avx2(tm_v8 *r)
{
    __m256 t[8], u[8];
    TM_TRANSPOSE_IN_LANES(_mm256, r, t, u, 8);
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x20);
        r[4 + k] = _mm256_permute2f128_ps(u[k], u[4 + k], 0x31);
    }
}
/* All ones in the first n lanes; the masked load fills the others. */
__attribute__((target("avx2,fma"))) static inline __m256i tm_lanes_avx2(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
__attribute__((target("avx2,fma"))) static inline tm_v8 tm_masked_load_avx2(const float *p, size_t n, float fill)
{
    __m256i m = tm_lanes_avx2(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
#define TM(name) tm_##name##_avx2
#define TM_ATTR __attribute__((target("avx2,fma")))
#define TM_NAME "avx2"
#define V tm_v8
#define VI tm_i8
#define VW 8
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VHSUM(v) tm_reduce_add_avx2(v)
#define VHMAX(v) tm_reduce_max_avx2(v)
#define VTRANSPOSE(r) tm_transpose_avx2(r)
#define VLD_PART(p, n, fill) tm_masked_load_avx2((p), (n), (fill))
#define VST_PART(p, v, n) _mm256_maskstore_ps((p), tm_lanes_avx2(n), (v))
#define MR 6
#define NV 2
#include "tile_math_kernels.inc"

/* ---- AVX-512: 16 lanes, 32 registers: 6 x 4 accumulators (a 64-column block: Bc = 64 at d = 64) ----------------- */
typedef float tm_v16 __attribute__((vector_size(64)));
typedef int tm_i16 __attribute__((vector_size(64)));
/* 16 x 16 in place: within 128-bit lanes as in tm_transpose_avx2, then the lanes gathered in two rounds. */
__attribute__((target("avx2,fma,avx512f"))) static inline void tm_transpose_avx512(tm_v16 *r)
{
    __m512 t[16];
    TM_TRANSPOSE_IN_LANES(_mm512, r, t, r, 16);   /* r[4i + k], 128-bit lane L: element 4L + k of rows 4i .. 4i+3 */
    for (int k = 0; k < 4; k++) {
        t[k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
        t[4 + k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
        t[8 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD);
        r[12 + k] = _mm512_shuffle_f32x4(t[4 + k], t[12 + k], 0xDD);
    }
}
#define TM(name) tm_##name##_avx512
#define TM_ATTR __attribute__((target("avx2,fma,avx512f")))
#define TM_NAME "avx512"
#define V tm_v16
#define VI tm_i16
#define VW 16
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define VHMAX(v) _mm512_reduce_max_ps(v)
#define VSCALE2K(p, k, t) _mm512_scalef_ps((p), (k))   /* p 2^k, rounded once, subnormals included */
#define VTRANSPOSE(r) tm_transpose_avx512(r)
#define VLD_PART(p, n, fill) _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << (n)) - 1), (p))
#define VST_PART(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define MR 6
#define NV 4
#include "tile_math_kernels.inc"
#endif

/* ---- picking a kernel set ------------------------------------------------------------------------------------ */

static const tm_ops *const all_ops[] = {
#if TM_X86
    &tm_ops_avx512, &tm_ops_avx2,
#endif
    &tm_ops_generic};
#define NOPS (sizeof all_ops / sizeof all_ops[0])

static bool cpu_runs(const tm_ops *o)
{
#if TM_X86
    if (o == &tm_ops_avx512)
        return __builtin_cpu_supports("avx512f");
    if (o == &tm_ops_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return o == &tm_ops_generic;
}

static const tm_ops *best(void)
{
    const char *want = getenv("FLASHLAB_TILE_ISA");   /* run everything on other kernels (tests of the portable set) */
    for (size_t i = 0; want && i < NOPS; i++)
        if (!strcmp(want, all_ops[i]->name) && cpu_runs(all_ops[i]))
            return all_ops[i];
    for (size_t i = 0; i < NOPS; i++)
        if (cpu_runs(all_ops[i]))
            return all_ops[i];
    return &tm_ops_generic;
}

static _Atomic(const tm_ops *) current;

static const tm_ops *ops(void)
{
    const tm_ops *o = atomic_load_explicit(&current, memory_order_acquire);
    if (!o) {   /* the first call on any thread: every thread that races here stores the same pointer */
        o = best();
        atomic_store_explicit(&current, o, memory_order_release);
    }
    return o;
}

const char *tile_math_isa(void) { return ops()->name; }

const char *tile_math_isa_name(int i) { return i >= 0 && (size_t)i < NOPS ? all_ops[i]->name : NULL; }

int tile_math_select(const char *name)
{
    const tm_ops *o = NULL;
    if (!strcmp(name, "auto"))
        o = best();
    for (size_t i = 0; !o && i < NOPS; i++)
        if (!strcmp(name, all_ops[i]->name) && cpu_runs(all_ops[i]))
            o = all_ops[i];
    if (!o)
        return -1;
    atomic_store_explicit(&current, o, memory_order_release);
    return 0;
}

/* ---- the public kernels ---------------------------------------------------------------------------------------- */

void tile_qkt(const float *A, const float *B, size_t rows, size_t cols, size_t d, float scale, float *S)
{
    if (d == 0) {   /* an empty sum */
        for (size_t i = 0; i < rows * cols; i++)
            S[i] = scale * 0.0f;
        return;
    }
    ops()->qkt(A, B, rows, cols, d, scale, S);
}

void tile_pv_acc(const float *P, const float *V, size_t rows, size_t kc, size_t d, const float *alpha, float *O)
{
    tm_epi e = {.a = alpha, .as = 1.0f, .bs = 1.0f};
    ops()->gemm(O, d, P, kc, 1, V, d, rows, kc, d, false, &e);
}

void tile_pv_rescale(const float *P, const float *V, size_t rows, size_t kc, size_t d, const float *a, const float *b,
                     float *O)
{
    tm_epi e = {.a = a, .b = b, .as = 1.0f, .bs = 1.0f};
    ops()->gemm(O, d, P, kc, 1, V, d, rows, kc, d, false, &e);
}

void tile_ab_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha)
{
    tm_epi e = {.as = 1.0f, .bs = alpha};
    ops()->gemm(C, k, A, n, 1, B, k, m, n, k, false, &e);
}

void tile_atb_acc(float *C, const float *A, const float *B, size_t m, size_t n, size_t k, float alpha)
{
    tm_epi e = {.as = 1.0f, .bs = alpha};
    ops()->gemm(C, k, A, 1, n, B, k, n, m, k, false, &e);   /* C's row c is column c of A */
}

void tile_rowdot(float *D, const float *A, const float *B, size_t rows, size_t d)
{
    const tm_ops *o = ops();
    for (size_t r = 0; r < rows; r++)
        D[r] = o->dot(A + r * d, B + r * d, d);
}

void tile_dsoftmax(float *dS, const float *P, const float *D, size_t rows, size_t cols)
{
    const tm_ops *o = ops();
    for (size_t r = 0; r < rows; r++)
        o->dsoftmax_row(dS + r * cols, P + r * cols, cols, D[r]);
}

float tile_dot(const float *a, const float *b, size_t n) { return ops()->dot(a, b, n); }

void tile_div(float *x, size_t n, float c) { ops()->div(x, n, c); }

float tile_exp1(float x)
{
    float y;
    ops()->exp(&y, &x, 1);
    return y;
}

void tile_exp(float *y, const float *x, size_t n) { ops()->exp(y, x, n); }

float tile_row_max(const float *x, size_t n, float init) { return ops()->row_max(x, n, init); }

float tile_exp_sub_sum(float *x, size_t n, float m) { return ops()->exp_sub_sum(x, n, m); }

void tile_exp_affine(float *x, size_t n, float a, float b, float c) { ops()->exp_affine(x, n, a, b, c); }

void tile_softmax_pv_update(float *S, size_t rows, size_t kc, const float *V, size_t d, float *mi, float *li,
                            float *O)
{
    ops()->softmax_pv_update(S, rows, kc, V, d, mi, li, O);
}

/* One fused pass over the rows of a chunk: the per-column sums the profile needs.
 *
 * autolik.analysis.profiling.kernel.accumulate_numpy is the reference implementation, in numpy, of exactly
 * this contract; tests/test_kernel.py checks the two agree. The kernel exists because the numpy
 * version makes about fifteen passes over each block (min, max, shift, square, four sums, zeros,
 * NaN/inf, integer and lattice checks) and was 6x slower than a plain min/max pass; here every
 * value is loaded once and each per-row loop is vectorised by the compiler.
 *
 * accumulate(x, k, lattice, j0, j1, check_int, lo, hi, sums, counts, out_j, out_v) -> n
 *   x        (m, d) float32 or float64, C-contiguous (a memory-mapped chunk is read in place)
 *   k        (d,)   shift per column, same dtype
 *   lattice  (7, d) same dtype: a, b, v0, inv_h, step, divisor, use (1: test the column, 0: skip);
 *            only columns j0..j1-1 are read
 *   lo, hi   (d,)   same dtype; running min / max of the finite values, updated in place
 *   sums     (4, d) float64; += sum over finite values of (x - k)^p, p = 1..4
 *   counts   (6, d) int64; += NaN, +inf, -inf, zeros, finite non-integers (when check_int),
 *                   finite values off the lattice (columns j0..j1-1)
 *   out_j    (cap,) int64 and out_v (cap,) same dtype: (column, value) of each finite value off
 *            the lattice (in no particular order), while there is room; n is their number
 *            (n > cap: the lists are incomplete)
 * Power sums and counts are accumulated in the data's dtype over blocks of BLOCK rows (float32
 * counts are exact to 2^24) and added to the float64 totals after each block.
 * A finite value v of a column in use is off the lattice unless a <= v <= b and
 *   rint((v - v0) * inv_h) * step / divisor + v0 == v
 * evaluated in the data's dtype (built with -ffp-contract=off so no operation is fused).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#define restrict __restrict /* MSVC's C compiler spells it this way */
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define BLOCK 256
#define NACC 10 /* per-block accumulators: 4 power sums, NaN, +inf, -inf, zeros, non-integers, off-lattice */

/* The three per-row loops take restrict pointers as parameters (what lets the compiler vectorise
 * them); DEFINE_KERNEL instantiates them for float and double. */
#define DEFINE_KERNEL(T, SUF, RINT)                                                                \
CLONES static void moments_##SUF(const T *restrict row, Py_ssize_t d, const T *restrict k,         \
        T *restrict s1, T *restrict s2, T *restrict s3, T *restrict s4, T *restrict lo,            \
        T *restrict hi, T *restrict cnan, T *restrict cpos, T *restrict cneg, T *restrict czero)   \
{                                                                                                  \
    for (Py_ssize_t j = 0; j < d; j++) {                                                           \
        T v = row[j], kj = k[j]; /* loaded unconditionally: a conditional load becomes a slow   \
                                    masked load */                                                 \
        int fin = v - v == 0;                                                                      \
        T dv = v - kj;                                                                             \
        dv = fin ? dv : (T)0;                                                                      \
        T q = dv * dv;                                                                             \
        s1[j] += dv; s2[j] += q; s3[j] += q * dv; s4[j] += q * q;                                  \
        lo[j] = fin & (v < lo[j]) ? v : lo[j];                                                     \
        hi[j] = fin & (v > hi[j]) ? v : hi[j];                                                     \
        cnan[j] += (T)(v != v);                                                                    \
        cpos[j] += (T)(v == (T)INFINITY);                                                          \
        cneg[j] += (T)(v == -(T)INFINITY);                                                         \
        czero[j] += (T)(v == 0);                                                                   \
    }                                                                                              \
}                                                                                                  \
CLONES static void nonint_##SUF(const T *restrict row, Py_ssize_t d, T *restrict c)                \
{                                                                                                  \
    for (Py_ssize_t j = 0; j < d; j++) {                                                           \
        T v = row[j];                                                                              \
        c[j] += (T)((v - v == 0) & (RINT(v) != v));                                                \
    }                                                                                              \
}                                                                                                  \
CLONES static int offlattice_##SUF(const T *restrict row, Py_ssize_t n, const T *restrict a,       \
        const T *restrict b, const T *restrict v0, const T *restrict inv_h,                        \
        const T *restrict step, const T *restrict divisor, const T *restrict use, T *restrict c)   \
{                                                                                                  \
    int any = 0;                                                                                   \
    for (Py_ssize_t j = 0; j < n; j++) {                                                           \
        T v = row[j];                                                                              \
        T t = RINT((v - v0[j]) * inv_h[j]) * step[j] / divisor[j] + v0[j];                         \
        int off = (use[j] != 0) & (v - v == 0) & !((v >= a[j]) & (v <= b[j]) & (t == v));          \
        c[j] += (T)off;                                                                            \
        any |= off;                                                                                \
    }                                                                                              \
    return any;                                                                                    \
}                                                                                                  \
/* Append (column, value) of the row's finite values off the lattice, while there is room. */      \
static void record_##SUF(const T *row, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t d, const T *lat,   \
                         int64_t *out_j, T *out_v, Py_ssize_t cap, Py_ssize_t *n_out)              \
{                                                                                                  \
    for (Py_ssize_t j = j0; j < j1; j++) {                                                         \
        T v = row[j];                                                                              \
        T t = RINT((v - lat[2 * d + j]) * lat[3 * d + j]) * lat[4 * d + j] / lat[5 * d + j]        \
              + lat[2 * d + j];                                                                    \
        if ((lat[6 * d + j] != 0) & (v - v == 0) & !((v >= lat[j]) & (v <= lat[d + j]) & (t == v))) { \
            if (*n_out < cap) { out_j[*n_out] = j; out_v[*n_out] = v; }                            \
            (*n_out)++;                                                                            \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
static int accumulate_##SUF(const T *x, Py_ssize_t m, Py_ssize_t d, const T *k, const T *lat,      \
                            Py_ssize_t j0, Py_ssize_t j1, int check_int, T *lo, T *hi,             \
                            double *sums, int64_t *counts, int64_t *out_j, T *out_v,               \
                            Py_ssize_t cap, Py_ssize_t *n_out)                                     \
{                                                                                                  \
    T *acc = (T *)malloc(NACC * (size_t)d * sizeof(T));                                            \
    if (!acc) return -1;                                                                           \
    T *c = acc + 4 * (size_t)d; /* counters: NaN, +inf, -inf, zero, non-integer, off-lattice */    \
    Py_ssize_t nl = j1 - j0;                                                                       \
    for (Py_ssize_t r0 = 0; r0 < m; r0 += BLOCK) {                                                 \
        Py_ssize_t r1 = r0 + BLOCK < m ? r0 + BLOCK : m;                                           \
        memset(acc, 0, NACC * (size_t)d * sizeof(T));                                              \
        for (Py_ssize_t i = r0; i < r1; i++) {                                                     \
            const T *row = x + i * d;                                                              \
            moments_##SUF(row, d, k, acc, acc + d, acc + 2 * d, acc + 3 * d, lo, hi,               \
                          c, c + d, c + 2 * d, c + 3 * d);                                         \
            if (check_int) nonint_##SUF(row, d, c + 4 * d);                                        \
            if (nl > 0 && offlattice_##SUF(row + j0, nl, lat + j0, lat + d + j0, lat + 2 * d + j0, \
                                           lat + 3 * d + j0, lat + 4 * d + j0, lat + 5 * d + j0,   \
                                           lat + 6 * d + j0, c + 5 * d + j0))                      \
                record_##SUF(row, j0, j1, d, lat, out_j, out_v, cap, n_out);                       \
        }                                                                                          \
        for (Py_ssize_t j = 0; j < 4 * d; j++) sums[j] += (double)acc[j];                          \
        for (Py_ssize_t j = 0; j < 6 * d; j++) counts[j] += (int64_t)c[j];                         \
    }                                                                                              \
    free(acc);                                                                                     \
    return 0;                                                                                      \
}

DEFINE_KERNEL(float, f32, rintf)
DEFINE_KERNEL(double, f64, rint)

/* ------------------------------------------------------------------ argument checking */

static int get(PyObject *obj, Py_buffer *view, int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Format(PyExc_ValueError, "accumulate: %s must be a C-contiguous%s array", name,
                     writable ? " writable" : "");
        return -1;
    }
    return 0;
}

static int check(Py_buffer *v, const char *name, char fmt, Py_ssize_t rows, Py_ssize_t cols)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    Py_ssize_t want = rows < 0 ? cols : rows * cols;
    int ndim_ok = rows < 0 ? v->ndim == 1 : v->ndim == 2 && v->shape[0] == rows;
    if (f[0] != fmt || f[1] != 0 || !ndim_ok || v->len != want * v->itemsize) {
        PyErr_Format(PyExc_ValueError, "accumulate: %s has the wrong dtype or shape", name);
        return -1;
    }
    return 0;
}

static PyObject *py_accumulate(PyObject *self, PyObject *args)
{
    enum { NBUF = 9 };
    static const char *names[NBUF] = {"x", "k", "lattice", "lo", "hi", "sums", "counts", "out_j", "out_v"};
    PyObject *o[NBUF];
    Py_ssize_t j0, j1, n_out = 0;
    int check_int;
    if (!PyArg_ParseTuple(args, "OOOnnpOOOOOO", &o[0], &o[1], &o[2], &j0, &j1, &check_int, &o[3],
                          &o[4], &o[5], &o[6], &o[7], &o[8]))
        return NULL;
    Py_buffer b[NBUF];
    int got = 0, rc = -1;
    for (; got < NBUF; got++)
        if (get(o[got], &b[got], got >= 3, names[got]) < 0) goto done;
    if (b[0].ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "accumulate: x must be 2-D");
        goto done;
    }
    Py_ssize_t m = b[0].shape[0], d = b[0].shape[1], cap = b[7].ndim == 1 ? b[7].shape[0] : -1;
    const char *xf = b[0].format;
    char fmt = xf[0] == '<' || xf[0] == '=' || xf[0] == '@' ? xf[1] : xf[0];
    char i64 = sizeof(long) == 8 ? 'l' : 'q';
    if (fmt != 'f' && fmt != 'd') {
        PyErr_SetString(PyExc_ValueError, "accumulate: x must be float32 or float64");
        goto done;
    }
    if (check(&b[0], "x", fmt, m, d) || check(&b[1], "k", fmt, -1, d) || check(&b[2], "lattice", fmt, 7, d)
        || check(&b[3], "lo", fmt, -1, d) || check(&b[4], "hi", fmt, -1, d) || check(&b[5], "sums", 'd', 4, d)
        || check(&b[6], "counts", i64, 6, d) || check(&b[7], "out_j", i64, -1, cap)
        || check(&b[8], "out_v", fmt, -1, cap))
        goto done;
    if (j0 < 0 || j1 > d || j0 > j1) {
        PyErr_SetString(PyExc_ValueError, "accumulate: lattice columns out of range");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (fmt == 'f')
        rc = accumulate_f32(b[0].buf, m, d, b[1].buf, b[2].buf, j0, j1, check_int, b[3].buf, b[4].buf,
                            b[5].buf, b[6].buf, b[7].buf, b[8].buf, cap, &n_out);
    else
        rc = accumulate_f64(b[0].buf, m, d, b[1].buf, b[2].buf, j0, j1, check_int, b[3].buf, b[4].buf,
                            b[5].buf, b[6].buf, b[7].buf, b[8].buf, cap, &n_out);
    Py_END_ALLOW_THREADS
    if (rc) PyErr_NoMemory();
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    if (rc) return NULL;
    return PyLong_FromSsize_t(n_out);
}

static PyMethodDef methods[] = {
    {"accumulate", py_accumulate, METH_VARARGS,
     "accumulate(x, k, lattice, j0, j1, check_int, lo, hi, sums, counts, out_j, out_v) -> n: see _kernel.c."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernel",
                                    "Fused per-column statistics pass (see autolik.analysis.profiling.kernel).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&module); }

/* mlp — see include/shelfcast/mlp.h. */
#include "shelfcast/mlp.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Up to this many rows a layer runs through layer_small, not BLAS: up to
 * there it is the faster of the two (bench/bench_engine's 16-item case).
 */
#define MLP_SMALL_ROWS 64

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MLP_X86 1
#include <immintrin.h>
/*
 * One copy per instruction set, chosen once when the program loads (an
 * ifunc): x86-64-v3 (AVX2 and FMA) and the baseline.  The v3 copy fuses
 * a * b + c into one rounding (fp-contract; C17 mode turns it off
 * elsewhere), as OpenBLAS's kernels do: results move by about one float
 * rounding, well inside what the tests against the naive loop allow.
 */
#define MLP_CLONES \
	__attribute__((target_clones("arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#else
#define MLP_CLONES
#endif

void mlp_param_name(char *buf, size_t size, size_t layer, enum mlp_param which)
{
	snprintf(buf, size, "dense.%zu.%s", layer, which == MLP_PARAM_WEIGHT ? "weight" : "bias");
}

size_t mlp_params_count(const size_t *dims, size_t n_layers)
{
	size_t l, n = 0;
	for (l = 0; l < n_layers; l++)
		n += dims[l + 1] * dims[l] + dims[l + 1];
	return n;
}

void mlp_bind(struct mlp *m, const size_t *dims, size_t n_layers, const float *params)
{
	size_t l;

	memset(m, 0, sizeof *m);
	m->n_layers = n_layers;
	for (l = 0; l < n_layers; l++) {
		struct mlp_layer *L = &m->layer[l];
		L->in = dims[l];
		L->out = dims[l + 1];
		L->w = params;
		L->b = params + L->out * L->in;
		params = L->b + L->out;
	}
}

size_t mlp_output_size(const struct mlp *m)
{
	return m->layer[m->n_layers - 1].out;
}

static size_t max_hidden(const struct mlp *m)
{
	size_t l, w = 1;
	for (l = 0; l + 1 < m->n_layers; l++)
		if (m->layer[l].out > w)
			w = m->layer[l].out;
	return w;
}

size_t mlp_scratch_floats(const struct mlp *m, size_t B)
{
	/* Two ping-pong activation buffers of the widest hidden layer. */
	return 2 * B * max_hidden(m);
}

MLP_CLONES static void relu(float *a, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		a[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

/* y: (B, O) = x: (B, I) . w^T + b, through BLAS. */
static void layer_blas(const struct mlp_layer *L, const float *x, size_t B, float *y)
{
	size_t r;
	for (r = 0; r < B; r++)
		memcpy(y + r * L->out, L->b, L->out * sizeof *y);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)L->out, (int)L->in, 1.0f,
		    x, (int)L->in, L->w, (int)L->in, 1.0f, y, (int)L->out);
}

/*
 * A layer over a few rows (rows <= MLP_SMALL_ROWS), by hand: at these sizes
 * cblas_sgemm's fixed cost (argument checks, dispatch, packing) is most of
 * its time.  Four rows by sixteen outputs are accumulated at once in eight
 * vectors of eight floats (GNU vector extensions: a ymm register each where
 * the clone has AVX2) that stay in registers; narrow outputs (the heads)
 * are dot products with eight partial sums.
 */
#define SMALL_ROWS 4
#define SMALL_COLS 16
typedef float v8f __attribute__((vector_size(8 * sizeof(float))));
typedef float v16f __attribute__((vector_size(16 * sizeof(float))));
typedef int v16i __attribute__((vector_size(16 * sizeof(int))));
typedef int v8i __attribute__((vector_size(8 * sizeof(int))));
/* an unaligned load; a macro, so that it is compiled for each clone's vector width */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(v8f))

/* max(v, 0) lane by lane; a lane of -0.0 or NaN becomes +0.0 */
#define RELU8(v) ((v) = (v8f)((v8i)(v) & ((v) > (v8f){0})))

MLP_CLONES static void block_rows8(const struct mlp_layer *L, const float *x, size_t rows, size_t o0,
				  int relu_out, float *y)
{
	size_t n_in = L->in, n_out = L->out, i, r;
	const float *xr[SMALL_ROWS];
	v8f lo[SMALL_ROWS], hi[SMALL_ROWS];

	for (r = 0; r < SMALL_ROWS; r++) {
		xr[r] = x + (r < rows ? r : 0) * n_in; /* a missing row repeats row 0, unstored */
		LOAD8(lo[r], L->b + o0);
		LOAD8(hi[r], L->b + o0 + 8);
	}
	for (i = 0; i < n_in; i++) {
		const float *w = L->wt + i * n_out + o0;
		v8f wl, wh;
		LOAD8(wl, w);
		LOAD8(wh, w + 8);
		for (r = 0; r < SMALL_ROWS; r++) {
			lo[r] += xr[r][i] * wl;
			hi[r] += xr[r][i] * wh;
		}
	}
	for (r = 0; r < rows && r < SMALL_ROWS; r++) {
		if (relu_out) {
			RELU8(lo[r]);
			RELU8(hi[r]);
		}
		memcpy(y + r * n_out + o0, &lo[r], sizeof lo[r]);
		memcpy(y + r * n_out + o0 + 8, &hi[r], sizeof hi[r]);
	}
}

#ifdef MLP_X86
/*
 * The same tile where AVX-512 is there: one vector of sixteen floats per
 * row (one zmm register), half the instructions for the same multiply-adds,
 * in the same order per output (the same results).  A function of its own:
 * in an AVX2 copy, sixteen-float vectors go through memory.
 */
#define RELU16(v) ((v) = (v16f)((v16i)(v) & ((v) > (v16f){0})))

__attribute__((target("arch=x86-64-v4"), optimize("fp-contract=fast"))) static void
block_rows16(const struct mlp_layer *L, const float *x, size_t rows, size_t o0, int relu_out, float *y)
{
	size_t n_in = L->in, n_out = L->out, i, r;
	const float *xr[SMALL_ROWS];
	v16f acc[SMALL_ROWS];

	for (r = 0; r < SMALL_ROWS; r++) {
		xr[r] = x + (r < rows ? r : 0) * n_in;
		memcpy(&acc[r], L->b + o0, sizeof acc[r]);
	}
	for (i = 0; i < n_in; i++) {
		v16f w;
		memcpy(&w, L->wt + i * n_out + o0, sizeof w);
		for (r = 0; r < SMALL_ROWS; r++)
			acc[r] += xr[r][i] * w;
	}
	for (r = 0; r < rows && r < SMALL_ROWS; r++) {
		if (relu_out)
			RELU16(acc[r]);
		memcpy(y + r * n_out + o0, &acc[r], sizeof acc[r]);
	}
}
#endif

static bool avx512_cpu, use_avx512;

#ifdef MLP_X86
/* Once, when the program loads: what x86-64-v4 adds, all of it (a CPU with AVX-512F alone would fault). */
__attribute__((constructor)) static void detect_avx512(void)
{
	__builtin_cpu_init();
	avx512_cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
		     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
		     __builtin_cpu_supports("avx512cd");
	use_avx512 = avx512_cpu;
}
#endif

void mlp_allow_avx512(bool on)
{
	use_avx512 = on && avx512_cpu;
}

static void block_rows(const struct mlp_layer *L, const float *x, size_t rows, size_t o0, int relu_out,
		       float *y)
{
#ifdef MLP_X86
	if (use_avx512) {
		block_rows16(L, x, rows, o0, relu_out, y);
		return;
	}
#endif
	block_rows8(L, x, rows, o0, relu_out, y);
}

MLP_CLONES static float dot(const float *a, const float *b, size_t n)
{
	v8f acc = {0};
	float sum = 0.0f, tail = 0.0f;
	size_t i, j;

	for (i = 0; i + 8 <= n; i += 8) {
		v8f va, vb;
		LOAD8(va, a + i);
		LOAD8(vb, b + i);
		acc += va * vb;
	}
	for (; i < n; i++)
		tail += a[i] * b[i];
	for (j = 0; j < 8; j++)
		sum += acc[j];
	return sum + tail;
}

/* Columns [from, wide) of a layer over `rows` rows, in blocks of SMALL_ROWS rows by SMALL_COLS columns. */
static void layer_blocks(const struct mlp_layer *L, const float *x, size_t rows, size_t from, size_t wide,
			 int relu_out, float *y)
{
	size_t r0, o;

	for (r0 = 0; r0 < rows; r0 += SMALL_ROWS) {
		size_t R = rows - r0 < SMALL_ROWS ? rows - r0 : SMALL_ROWS;
		for (o = from; o < wide; o += SMALL_COLS)
			block_rows(L, x + r0 * L->in, R, o, relu_out, y + r0 * L->out);
	}
}

static void layer_small(const struct mlp_layer *L, const float *x, size_t rows, int relu_out,
			float *y)
{
	size_t n_in = L->in, n_out = L->out, o, r, wide = n_out - n_out % SMALL_COLS;

	layer_blocks(L, x, rows, 0, wide, relu_out, y);
	for (r = 0; r < rows; r++)
		for (o = wide; o < n_out; o++) {
			float v = L->b[o] + dot(x + r * n_in, L->w + o * n_in, n_in);
			y[r * n_out + o] = relu_out && !(v > 0.0f) ? 0.0f : v;
		}
}

void mlp_forward_layers(const struct mlp *m, const float *x, size_t B, float *const *act)
{
	const float *in = x;
	size_t l;

	for (l = 0; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		layer_blas(L, in, B, act[l]);
		if (l + 1 < m->n_layers)
			relu(act[l], B * L->out);
		in = act[l];
	}
}

/*
 * Layers from.. over `rows` rows of layer from-1's activations `in`: the hidden
 * ones take turns in bufs[l & 1], the last writes y.  Small batches through
 * layer_small, others through BLAS; for a search (its plan s), every batch
 * through layer_search.
 */
static void layer_search(const struct mlp_layer *L, const struct mlp_narrow *nw, const float *x, size_t rows,
			 int relu_out, float *y);

static void layers_from(const struct mlp *m, size_t from, const float *in, size_t rows,
			float *const bufs[2], float *y, const struct mlp_search *s)
{
	size_t l;

	for (l = from; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		int last = l + 1 == m->n_layers;
		float *out = last ? y : bufs[l & 1];
		if (s) {
			layer_search(L, &s->narrow[l], in, rows, !last, out);
		} else if (rows <= MLP_SMALL_ROWS) {
			layer_small(L, in, rows, !last, out);
		} else {
			layer_blas(L, in, rows, out);
			if (!last)
				relu(out, rows * L->out);
		}
		in = out;
	}
}

void mlp_forward_rest(const struct mlp *m, float *pre, size_t B, float *scratch, float *y)
{
	float *const bufs[2] = {scratch, scratch + B * max_hidden(m)};

	relu(pre, B * m->layer[0].out);
	layers_from(m, 1, pre, B, bufs, y, NULL);
}

/*
 * Columns [o0, out) of a layer, fewer than SMALL_COLS of them (what the
 * blocks leave, or the heads), over `rows` rows: eight columns of a row in
 * a vector, multiply-adds input by input, eight rows at once (eight
 * independent chains keep the multiply-add units busy), over the inputs
 * the plan lists (mlp_search_init).
 */
#define NARROW_ROWS 8
MLP_CLONES static void cols_narrow(const struct mlp_layer *L, const struct mlp_narrow *nw, const float *x,
				  size_t rows, int relu_out, float *y)
{
	size_t n_in = L->in, n_out = L->out, o0 = nw->o0, n = n_out - o0, j, o, r, k, h;

	for (r = 0; r < rows; r += NARROW_ROWS) {
		size_t R = rows - r < NARROW_ROWS ? rows - r : NARROW_ROWS;
		const float *xr[NARROW_ROWS];
		for (k = 0; k < NARROW_ROWS; k++) /* a missing row repeats row r, unstored */
			xr[k] = x + (r + (k < R ? k : 0)) * n_in;
		for (h = 0; h * 8 < n; h++) {
			v8f acc[NARROW_ROWS], b;
			LOAD8(b, nw->bias + h * 8);
			for (k = 0; k < NARROW_ROWS; k++)
				acc[k] = b;
			for (j = 0; j < nw->n_used; j++) {
				v8f w;
				LOAD8(w, nw->w + (j * 2 + h) * 8);
				for (k = 0; k < NARROW_ROWS; k++)
					acc[k] += xr[k][nw->used[j]] * w;
			}
			for (k = 0; k < R; k++)
				for (o = h * 8; o < n && o < h * 8 + 8; o++) {
					float v = acc[k][o % 8];
					y[(r + k) * n_out + o0 + o] = relu_out && !(v > 0.0f) ? 0.0f : v;
				}
		}
	}
}

#ifdef MLP_X86
/*
 * Columns [0, wide) of a layer, wide a multiple of 32, over `rows` rows,
 * where AVX-512 is there: eight rows by thirty-two columns at a time, in
 * sixteen vectors of sixteen floats (sixteen independent chains of
 * multiply-adds: the units stay busy, where block_rows16's four wait on
 * their own latency).  For the search, which scores hundreds of rows.
 */
#define WIDE_ROWS 8
__attribute__((target("arch=x86-64-v4"), optimize("fp-contract=fast"))) static void
layer_blocks_wide(const struct mlp_layer *L, const float *x, size_t rows, size_t wide, int relu_out, float *y)
{
	size_t n_in = L->in, n_out = L->out, r0, o0, i, k;

	for (r0 = 0; r0 < rows; r0 += WIDE_ROWS) {
		size_t R = rows - r0 < WIDE_ROWS ? rows - r0 : WIDE_ROWS;
		const float *xr[WIDE_ROWS];
		for (k = 0; k < WIDE_ROWS; k++) /* a missing row repeats row r0, unstored */
			xr[k] = x + (r0 + (k < R ? k : 0)) * n_in;
		for (o0 = 0; o0 < wide; o0 += 32) {
			v16f lo[WIDE_ROWS], hi[WIDE_ROWS];
			for (k = 0; k < WIDE_ROWS; k++) {
				memcpy(&lo[k], L->b + o0, sizeof lo[k]);
				memcpy(&hi[k], L->b + o0 + 16, sizeof hi[k]);
			}
			for (i = 0; i < n_in; i++) {
				v16f wl, wh;
				memcpy(&wl, L->wt + i * n_out + o0, sizeof wl);
				memcpy(&wh, L->wt + i * n_out + o0 + 16, sizeof wh);
				for (k = 0; k < WIDE_ROWS; k++) {
					lo[k] += xr[k][i] * wl;
					hi[k] += xr[k][i] * wh;
				}
			}
			for (k = 0; k < R; k++) {
				if (relu_out) {
					RELU16(lo[k]);
					RELU16(hi[k]);
				}
				memcpy(y + (r0 + k) * n_out + o0, &lo[k], sizeof lo[k]);
				memcpy(y + (r0 + k) * n_out + o0 + 16, &hi[k], sizeof hi[k]);
			}
		}
	}
}

/* Lane k: the sum of v[k]'s sixteen lanes. */
__attribute__((target("arch=x86-64-v4"))) static __m256 sums8(const __m512 v[8])
{
	__m256 h[8], a, b;
	size_t k;

	for (k = 0; k < 8; k++) /* sixteen lanes to eight */
		h[k] = _mm256_add_ps(_mm512_castps512_ps256(v[k]), _mm512_extractf32x8_ps(v[k], 1));
	/* a: the sums of v[0..3]'s lanes 0-3 in its low half, of lanes 4-7 in its high half; b: v[4..7]'s */
	a = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
	b = _mm256_hadd_ps(_mm256_hadd_ps(h[4], h[5]), _mm256_hadd_ps(h[6], h[7]));
	return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/*
 * cols_narrow by rows, where AVX-512 is there: each column's dot product with
 * eight rows at once, sixteen inputs at a time, the eight rows' sums across
 * lanes together.  Zero weights are read too: the plan chooses the cheaper.
 */
__attribute__((target("arch=x86-64-v4"), optimize("fp-contract=fast"))) static void
cols_narrow_rows(const struct mlp_layer *L, size_t o0, const float *x, size_t rows, int relu_out, float *y)
{
	size_t n_in = L->in, n_out = L->out, full = n_in - n_in % 16, r, k, o, i;
	__mmask16 tail = (__mmask16)((1u << (n_in % 16)) - 1);

	for (r = 0; r < rows; r += NARROW_ROWS) {
		size_t R = rows - r < NARROW_ROWS ? rows - r : NARROW_ROWS;
		const float *xr[NARROW_ROWS];
		for (k = 0; k < NARROW_ROWS; k++) /* a missing row repeats row r, unstored */
			xr[k] = x + (r + (k < R ? k : 0)) * n_in;
		for (o = o0; o < n_out; o++) {
			const float *w = L->w + o * n_in;
			__m512 acc[NARROW_ROWS], wv;
			float s[NARROW_ROWS];
			for (k = 0; k < NARROW_ROWS; k++)
				acc[k] = _mm512_setzero_ps();
			for (i = 0; i < full; i += 16) {
				wv = _mm512_loadu_ps(w + i);
				for (k = 0; k < NARROW_ROWS; k++)
					acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(xr[k] + i), wv, acc[k]);
			}
			if (tail) {
				wv = _mm512_maskz_loadu_ps(tail, w + full);
				for (k = 0; k < NARROW_ROWS; k++)
					acc[k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, xr[k] + full), wv, acc[k]);
			}
			_mm256_storeu_ps(s, _mm256_add_ps(sums8(acc), _mm256_set1_ps(L->b[o])));
			for (k = 0; k < R; k++)
				y[(r + k) * n_out + o] = relu_out && !(s[k] > 0.0f) ? 0.0f : s[k];
		}
	}
}
#endif

/*
 * One layer of a search: the multiples of 32 columns eight rows at a time
 * where AVX-512 is there, the other multiples of 16 in four-row blocks, the
 * rest in cols_narrow (or, where AVX-512 is there and the plan says so,
 * cols_narrow_rows).
 */
static void layer_search(const struct mlp_layer *L, const struct mlp_narrow *nw, const float *x, size_t rows,
			 int relu_out, float *y)
{
	size_t wide = L->out - L->out % SMALL_COLS, from = 0;

#ifdef MLP_X86
	if (use_avx512 && wide >= 32) {
		from = wide - wide % 32;
		layer_blocks_wide(L, x, rows, from, relu_out, y);
	}
#endif
	layer_blocks(L, x, rows, from, wide, relu_out, y);
	if (wide == L->out)
		return;
#ifdef MLP_X86
	if (use_avx512 && nw->by_rows) {
		cols_narrow_rows(L, nw->o0, x, rows, relu_out, y);
		return;
	}
#endif
	cols_narrow(L, nw, x, rows, relu_out, y);
}

bool mlp_search_init(struct mlp_search *s, const struct mlp *m)
{
	size_t l, i, o;

	memset(s, 0, sizeof *s);
	s->m = m;
	for (l = 1; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		struct mlp_narrow *nw = &s->narrow[l];
		size_t n;
		nw->o0 = L->out - L->out % SMALL_COLS;
		n = L->out - nw->o0;
		if (!n)
			continue;
		nw->used = malloc(L->in * sizeof *nw->used);
		nw->w = calloc(L->in * 16, sizeof *nw->w);
		if (!nw->used || !nw->w) {
			mlp_search_done(s);
			return false;
		}
		for (i = 0; i < L->in; i++) { /* input i's weights into the next two vectors, if any is not zero */
			bool any = false;
			for (o = 0; o < n; o++) {
				float w = L->wt[i * L->out + nw->o0 + o];
				nw->w[(nw->n_used * 2 + o / 8) * 8 + o % 8] = w;
				any |= w != 0.0f;
			}
			if (any) /* else the next input's weights take the slot */
				nw->used[nw->n_used++] = (uint32_t)i;
		}
		for (o = 0; o < n; o++)
			nw->bias[o] = L->b[nw->o0 + o];
		/* instructions a row: by columns, two per used input and eight columns; by rows, per
		   column two per sixteen inputs and about eight for its share of the sums across lanes */
		nw->by_rows = n * ((L->in + 15) / 16 * 2 + 8) < nw->n_used * 2 * ((n + 7) / 8);
	}
	return true;
}

void mlp_search_done(struct mlp_search *s)
{
	size_t l;

	for (l = 0; l < MLP_MAX_LAYERS; l++) {
		free(s->narrow[l].used);
		free(s->narrow[l].w);
	}
	memset(s, 0, sizeof *s);
}

void mlp_forward_search_from(const struct mlp_search *s, size_t from, const float *in, size_t B, float *scratch,
			     float *y)
{
	float *const bufs[2] = {scratch, scratch + B * max_hidden(s->m)};

	if (from == s->m->n_layers)
		memcpy(y, in, B * s->m->layer[from - 1].out * sizeof *y);
	layers_from(s->m, from, in, B, bufs, y, s);
}

void mlp_forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y)
{
	float *act[MLP_MAX_LAYERS];
	size_t l;

	/* the hidden layers take turns in two buffers; the last writes y */
	for (l = 0; l + 1 < m->n_layers; l++)
		act[l] = scratch + (l & 1) * B * max_hidden(m);
	act[m->n_layers - 1] = y;
	mlp_forward_layers(m, x, B, act);
}

void mlp_forward_naive(const struct mlp *m, const float *x, size_t B, float *scratch, float *y)
{
	const float *in = x;
	float *bufs[2] = {scratch, scratch + B * max_hidden(m)};
	size_t l, r, o, i;

	for (l = 0; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		int last = l + 1 == m->n_layers;
		float *out = last ? y : bufs[l & 1];
		for (r = 0; r < B; r++)
			for (o = 0; o < L->out; o++) {
				double acc = L->b[o];
				for (i = 0; i < L->in; i++)
					acc += (double)in[r * L->in + i] * (double)L->w[o * L->in + i];
				out[r * L->out + o] = !last && acc < 0 ? 0.0f : (float)acc;
			}
		in = out;
	}
}

size_t mlp_levels_scratch_floats(const struct mlp *m, size_t K)
{
	/* the tile's per-item first layer, then two ping-pong buffers of its rows */
	return MLP_TILE * m->layer[0].out + 2 * MLP_TILE * K * max_hidden(m);
}

/*
 * h: (O) = b + sum over the non-zero x_i of x_i * wt[i, :], wt: (I, O).
 * Most inputs are the zeros of one-hot blocks.  The non-zero ones are
 * listed first (eight inputs whose bits are all zero are passed over with
 * one test), then added in with 32 outputs at a time held in four vectors.
 */
#define SPARSE_BATCH 64

MLP_CLONES static void add_rows(const float *restrict wt, size_t O, const uint32_t *idx,
				const float *val, size_t n, float *restrict h)
{
	size_t o = 0, a;

	for (; o + 32 <= O; o += 32) {
		v8f s0, s1, s2, s3;
		LOAD8(s0, h + o);
		LOAD8(s1, h + o + 8);
		LOAD8(s2, h + o + 16);
		LOAD8(s3, h + o + 24);
		for (a = 0; a < n; a++) {
			const float *w = wt + idx[a] * O + o;
			v8f w0, w1, w2, w3;
			LOAD8(w0, w);
			LOAD8(w1, w + 8);
			LOAD8(w2, w + 16);
			LOAD8(w3, w + 24);
			s0 += val[a] * w0;
			s1 += val[a] * w1;
			s2 += val[a] * w2;
			s3 += val[a] * w3;
		}
		memcpy(h + o, &s0, sizeof s0);
		memcpy(h + o + 8, &s1, sizeof s1);
		memcpy(h + o + 16, &s2, sizeof s2);
		memcpy(h + o + 24, &s3, sizeof s3);
	}
	for (; o + 8 <= O; o += 8) {
		v8f s0;
		LOAD8(s0, h + o);
		for (a = 0; a < n; a++) {
			v8f w0;
			LOAD8(w0, wt + idx[a] * O + o);
			s0 += val[a] * w0;
		}
		memcpy(h + o, &s0, sizeof s0);
	}
	for (; o < O; o++)
		for (a = 0; a < n; a++)
			h[o] += val[a] * wt[idx[a] * O + o];
}

static void sparse_row(const struct mlp_layer *L, const float *restrict x, float *restrict h)
{
	size_t n_in = L->in, i0 = 0, i, n;
	uint32_t idx[SPARSE_BATCH];
	float val[SPARSE_BATCH];

	memcpy(h, L->b, L->out * sizeof *h);
	while (i0 < n_in) {
		for (n = 0; i0 < n_in && n + 8 <= SPARSE_BATCH;) {
			size_t end = n_in - i0 < 8 ? n_in : i0 + 8;
			if (end - i0 == 8) {
				uint64_t q[4];
				memcpy(q, x + i0, sizeof q);
				if (!(q[0] | q[1] | q[2] | q[3])) {
					i0 = end;
					continue;
				}
			}
			for (i = i0; i < end; i++)
				if (x[i] != 0.0f) {
					idx[n] = (uint32_t)i;
					val[n++] = x[i];
				}
			i0 = end;
		}
		add_rows(L->wt, L->out, idx, val, n, h);
	}
}

/* r: (K, H), row k = relu(h + lv[k, :]) */
MLP_CLONES static void level_rows(const float *restrict h, const float *restrict lv, size_t K,
				  size_t H, float *restrict r)
{
	size_t k, o;
	for (k = 0; k < K; k++)
		for (o = 0; o < H; o++) {
			float v = h[o] + lv[k * H + o];
			r[k * H + o] = v > 0.0f ? v : 0.0f;
		}
}

void mlp_forward_levels(const struct mlp *m, const float *base, size_t n, size_t level_offset,
			size_t K, float *scratch, float *y)
{
	const struct mlp_layer *L0 = &m->layer[0];
	size_t H = L0->out, W = max_hidden(m), O_last = mlp_output_size(m), t0, i, k, o;
	float *h1 = scratch, *bufs[2] = {scratch + MLP_TILE * H, scratch + MLP_TILE * H + MLP_TILE * K * W};

	for (t0 = 0; t0 < n; t0 += MLP_TILE) {
		size_t T = n - t0 < MLP_TILE ? n - t0 : MLP_TILE, rows = T * K;
		const float *in = bufs[0];

		for (i = 0; i < T; i++)
			sparse_row(L0, base + (t0 + i) * L0->in, h1 + i * H);
		/* row (i, k) of layer 1 = item i's part + level k's weight column, through the ReLU */
		for (i = 0; i < T; i++)
			level_rows(h1 + i * H, L0->wt + level_offset * H, K, H, bufs[0] + i * K * H);
		if (m->n_layers == 1) {
			/* a single layer: its output is the answer, no ReLU */
			for (i = 0; i < T; i++)
				for (k = 0; k < K; k++)
					for (o = 0; o < H; o++)
						y[((t0 + i) * K + k) * O_last + o] =
							h1[i * H + o] + L0->wt[(level_offset + k) * H + o];
			continue;
		}
		layers_from(m, 1, in, rows, bufs, y + t0 * K * O_last, NULL);
	}
}

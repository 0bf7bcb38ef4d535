/* mlp_sweep — see include/shelfcast/mlp_sweep.h. */
#include "shelfcast/mlp_sweep.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SWEEP_X86 1
#include <immintrin.h>
#endif

static size_t up8(size_t n)
{
	return (n + 7) / 8 * 8;
}

bool mlp_sweep_plan_init(struct mlp_sweep_plan *pl, const struct mlp *m, size_t P, const float *const *u)
{
	const struct mlp_layer *L;
	size_t k;

	memset(pl, 0, sizeof *pl);
	if (m->n_layers < 2)
		return false;
	L = &m->layer[1];
	pl->H = m->layer[0].out;
	pl->O = L->out;
	pl->P = P;
	pl->H8 = up8(pl->H);
	pl->O8 = up8(pl->O);
	pl->words = (pl->H + 63) / 64;
	pl->relu_out = m->n_layers > 2;
	pl->cols = L->wt;
	pl->u = calloc(P * pl->H8 + 1, sizeof *pl->u);
	pl->b = calloc(pl->O8, sizeof *pl->b);
	if (!pl->u || !pl->b) {
		mlp_sweep_plan_done(pl);
		return false;
	}
	for (k = 0; k < P; k++)
		memcpy(pl->u + k * pl->H8, u[k], pl->H * sizeof *pl->u);
	memcpy(pl->b, L->b, pl->O * sizeof *pl->b);
#ifdef SWEEP_X86
	pl->available = (P == 1 || P == 2) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	return true;
}

void mlp_sweep_plan_done(struct mlp_sweep_plan *pl)
{
	free(pl->u);
	free(pl->b);
	memset(pl, 0, sizeof *pl);
}

bool mlp_sweep_init(struct mlp_sweep *sw, const struct mlp_sweep_plan *pl)
{
	size_t floats = pl->H8 + (1 + pl->P) * pl->O8 + 3 * pl->H; /* a, cd, z */

	memset(sw, 0, sizeof *sw);
	sw->pl = pl;
	/* one block: the two bit patterns, then the floats, then list */
	sw->on = calloc(1, 2 * pl->words * sizeof *sw->on + floats * sizeof(float) + pl->H * sizeof *sw->list);
	if (!sw->on)
		return false;
	sw->now = sw->on + pl->words;
	sw->a = (float *)(sw->now + pl->words);
	sw->cd = sw->a + pl->H8;
	sw->z = sw->cd + (1 + pl->P) * pl->O8;
	sw->list = (uint32_t *)(sw->z + 3 * pl->H);
	return true;
}

void mlp_sweep_done(struct mlp_sweep *sw)
{
	free(sw->on);
	memset(sw, 0, sizeof *sw);
}

/* Every unit off: c = b, d = 0. */
static void all_off(struct mlp_sweep *sw)
{
	const struct mlp_sweep_plan *pl = sw->pl;

	sw->switched = 0;
	memset(sw->on, 0, pl->words * sizeof *sw->on);
	memcpy(sw->cd, pl->b, pl->O8 * sizeof *sw->cd);
	memset(sw->cd + pl->O8, 0, pl->P * pl->O8 * sizeof *sw->cd);
}

void mlp_sweep_start(struct mlp_sweep *sw, const float *a)
{
	memcpy(sw->a, a, sw->pl->H * sizeof *sw->a);
	all_off(sw);
}

#ifdef SWEEP_X86
/*
 * A row in AVX2 vectors of eight, one or two directions (P_, a constant
 * where inlined).  The switched units are listed with their coefficients
 * first; then for each vector of eight outputs, c and the d_k are read
 * once, every switched unit's column added in registers, and the output
 * computed from them before they are stored.  The padded arrays make every
 * loop whole vectors but those over a column of wt and the output row, whose
 * last vector is read and written under a mask.  Every field is read into a
 * local first: with -fno-strict-aliasing a float store may alias them.
 */
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

AVX2_INLINE void row_avx2(struct mlp_sweep *sw, const float *s, float *out, size_t P_)
{
	const struct mlp_sweep_plan *pl = sw->pl;
	size_t v, o, i, w, n = 0, H8 = pl->H8, O8 = pl->O8, O = pl->O, words = pl->words;
	const float *a = sw->a, *u0 = pl->u, *u1 = pl->u + H8, *cols = pl->cols;
	float *c = sw->cd, *d0 = c + O8, *d1 = c + 2 * O8, *zc = sw->z, *z0 = zc + pl->H, *z1 = z0 + pl->H;
	__m256 s0 = _mm256_set1_ps(s[0]), s1 = _mm256_set1_ps(P_ > 1 ? s[1] : 0.0f), zero = _mm256_setzero_ps();
	uint64_t *on = sw->on, *now = sw->now, bits = 0;
	uint32_t *list = sw->list;
	bool relu = pl->relu_out;

	for (v = 0; v < H8; v += 8) { /* the signs, eight units a vector, 64 a word */
		__m256 x = _mm256_fmadd_ps(s0, _mm256_loadu_ps(u0 + v), _mm256_loadu_ps(a + v));
		if (P_ > 1)
			x = _mm256_fmadd_ps(s1, _mm256_loadu_ps(u1 + v), x);
		bits |= (uint64_t)_mm256_movemask_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ)) << (v % 64);
		if (v % 64 == 56 || v + 8 == H8) {
			now[v / 64] = bits;
			bits = 0;
		}
	}
	for (w = 0; w < words; w++) { /* the switched units and their coefficients, signed */
		uint64_t diff = on[w] ^ now[w];
		for (; diff; diff &= diff - 1, n++) {
			size_t j = w * 64 + (size_t)__builtin_ctzll(diff);
			float sign = now[w] >> (j % 64) & 1 ? 1.0f : -1.0f;
			list[n] = (uint32_t)j;
			zc[n] = sign * a[j];
			z0[n] = sign * u0[j];
			z1[n] = P_ > 1 ? sign * u1[j] : 0.0f;
		}
		on[w] = now[w];
	}
	sw->switched += n;
	for (o = 0; o < O8; o += 8) {
		__m256 vc = _mm256_loadu_ps(c + o), v0 = _mm256_loadu_ps(d0 + o), v1 = zero, y;
		/* lanes [0, O - o): the columns are wt's rows, O floats each, and the output row */
		__m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(O - o)),
						  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
		bool whole = o + 8 <= O;
		if (P_ > 1)
			v1 = _mm256_loadu_ps(d1 + o);
		for (i = 0; i < n; i++) {
			const float *p = cols + (size_t)list[i] * O + o;
			__m256 col = whole ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
			vc = _mm256_fmadd_ps(_mm256_broadcast_ss(zc + i), col, vc);
			v0 = _mm256_fmadd_ps(_mm256_broadcast_ss(z0 + i), col, v0);
			if (P_ > 1)
				v1 = _mm256_fmadd_ps(_mm256_broadcast_ss(z1 + i), col, v1);
		}
		if (n) {
			_mm256_storeu_ps(c + o, vc);
			_mm256_storeu_ps(d0 + o, v0);
			if (P_ > 1)
				_mm256_storeu_ps(d1 + o, v1);
		}
		y = _mm256_fmadd_ps(s0, v0, vc);
		if (P_ > 1)
			y = _mm256_fmadd_ps(s1, v1, y);
		if (relu)
			y = _mm256_max_ps(y, zero);
		if (whole)
			_mm256_storeu_ps(out + o, y);
		else
			_mm256_maskstore_ps(out + o, mask, y);
	}
}

__attribute__((target("avx2,fma"))) static void row_avx2_1(struct mlp_sweep *sw, const float *s, float *out)
{
	row_avx2(sw, s, out, 1);
}

__attribute__((target("avx2,fma"))) static void row_avx2_2(struct mlp_sweep *sw, const float *s, float *out)
{
	row_avx2(sw, s, out, 2);
}
#endif

void mlp_sweep_row(struct mlp_sweep *sw, const float *s, float *out)
{
	if (sw->switched > MLP_SWEEP_RESTART * sw->pl->H) /* the rounding of the switches since: start again */
		all_off(sw);
#ifdef SWEEP_X86
	if (sw->pl->P == 1)
		row_avx2_1(sw, s, out);
	else
		row_avx2_2(sw, s, out);
#else
	(void)s;
	(void)out;
	abort(); /* unreachable: no plan is available without the x86 kernels */
#endif
}

/* mlp — see include/shelfcast/mlp.h. */
#include "shelfcast/mlp.h"

#include <cblas.h>
#include <string.h>

size_t mlp_input_size(const struct mlp *m)
{
	return m->layer[0].in;
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

static void relu(float *a, size_t n)
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

void mlp_forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y)
{
	const float *in = x;
	float *bufs[2] = {scratch, scratch + B * max_hidden(m)};
	size_t l;

	for (l = 0; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		int last = l + 1 == m->n_layers;
		float *out = last ? y : bufs[l & 1];
		layer_blas(L, in, B, out);
		if (!last)
			relu(out, B * L->out);
		in = out;
	}
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

/* h: (O) = b + sum over the non-zero x_i of x_i * wt[i, :], wt: (I, O) */
static void sparse_row(const struct mlp_layer *L, const float *restrict x, float *restrict h)
{
	size_t i, o, O = L->out;
	memcpy(h, L->b, O * sizeof *h);
	for (i = 0; i < L->in; i++) {
		const float xi = x[i];
		const float *restrict w = L->wt + i * O;
		if (xi == 0.0f)
			continue;
		for (o = 0; o < O; o++)
			h[o] += xi * w[o];
	}
}

void mlp_forward_levels(const struct mlp *m, const float *base, size_t n, size_t level_offset,
			size_t K, float *scratch, float *y)
{
	const struct mlp_layer *L0 = &m->layer[0];
	size_t H = L0->out, W = max_hidden(m), O_last = mlp_output_size(m), t0, i, k, o, l;
	float *h1 = scratch, *bufs[2] = {scratch + MLP_TILE * H, scratch + MLP_TILE * H + MLP_TILE * K * W};

	for (t0 = 0; t0 < n; t0 += MLP_TILE) {
		size_t T = n - t0 < MLP_TILE ? n - t0 : MLP_TILE, rows = T * K;
		const float *in = bufs[0];

		for (i = 0; i < T; i++)
			sparse_row(L0, base + (t0 + i) * L0->in, h1 + i * H);
		/* row (i, k) of layer 1 = item i's part + level k's weight column, through the ReLU */
		for (i = 0; i < T; i++)
			for (k = 0; k < K; k++) {
				const float *restrict lv = L0->wt + (level_offset + k) * H;
				const float *restrict hi = h1 + i * H;
				float *restrict r = bufs[0] + (i * K + k) * H;
				for (o = 0; o < H; o++) {
					float v = hi[o] + lv[o];
					r[o] = v > 0.0f ? v : 0.0f;
				}
			}
		if (m->n_layers == 1) {
			/* a single layer: its output is the answer, no ReLU */
			for (i = 0; i < T; i++)
				for (k = 0; k < K; k++)
					for (o = 0; o < H; o++)
						y[((t0 + i) * K + k) * O_last + o] =
							h1[i * H + o] + L0->wt[(level_offset + k) * H + o];
			continue;
		}
		for (l = 1; l < m->n_layers; l++) {
			const struct mlp_layer *L = &m->layer[l];
			int last = l + 1 == m->n_layers;
			float *out = last ? y + t0 * K * O_last : bufs[l & 1];
			layer_blas(L, in, rows, out);
			if (!last)
				relu(out, rows * L->out);
			in = out;
		}
	}
}

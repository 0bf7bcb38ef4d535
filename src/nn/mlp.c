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

/*
 * y: (B, O) = x: (B, I) . wt: (I, O) + b, row by row: the inner loop runs
 * over contiguous outputs (vectorizes without reassociation) and skips zero
 * inputs, which one-hot encodings are mostly made of.
 */
static void layer_loop(const struct mlp_layer *L, const float *x, size_t B, float *y)
{
	size_t r, i, o;
	for (r = 0; r < B; r++) {
		const float *xr = x + r * L->in;
		float *yr = y + r * L->out;
		memcpy(yr, L->b, L->out * sizeof *yr);
		for (i = 0; i < L->in; i++) {
			const float xi = xr[i];
			const float *w = L->wt + i * L->out;
			if (xi == 0.0f)
				continue;
			for (o = 0; o < L->out; o++)
				yr[o] += xi * w[o];
		}
	}
}

static void forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y,
		    int use_loop)
{
	const float *in = x;
	float *bufs[2] = {scratch, scratch + B * max_hidden(m)};
	size_t l;

	for (l = 0; l < m->n_layers; l++) {
		const struct mlp_layer *L = &m->layer[l];
		int last = l + 1 == m->n_layers;
		float *out = last ? y : bufs[l & 1];
		if (use_loop && L->wt)
			layer_loop(L, in, B, out);
		else
			layer_blas(L, in, B, out);
		if (!last)
			relu(out, B * L->out);
		in = out;
	}
}

void mlp_forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y)
{
	forward(m, x, B, scratch, y, B <= MLP_SMALL_BATCH);
}

void mlp_forward_blas(const struct mlp *m, const float *x, size_t B, float *scratch, float *y)
{
	forward(m, x, B, scratch, y, 0);
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

/* mlp_train — see include/shelfcast/mlp_train.h. */
#include "shelfcast/mlp_train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

void mlp_train_done(struct mlp_train *t)
{
	size_t l;
	if (!t)
		return;
	free(t->params);
	free(t->grad);
	free(t->input);
	for (l = 0; l < MLP_MAX_LAYERS; l++)
		free(t->act[l]);
	free(t->d_out);
	free(t->d_in);
	memset(t, 0, sizeof *t);
}

enum error_code mlp_train_init(struct mlp_train *t, const size_t *dims, size_t n_layers,
			       size_t max_rows, struct rng *r, struct error *err)
{
	size_t l, i, widest = dims[0];
	float *p;

	memset(t, 0, sizeof *t);
	if (n_layers < 1 || n_layers > MLP_MAX_LAYERS)
		return error_set(err, ERROR_INVALID, "architecture", "a network has 1 to %d layers",
				 MLP_MAX_LAYERS);
	memcpy(t->dims, dims, (n_layers + 1) * sizeof *dims);
	t->n_params = mlp_params_count(dims, n_layers);
	t->max_rows = max_rows;
	for (l = 1; l <= n_layers; l++)
		if (dims[l] > widest)
			widest = dims[l];
	t->params = util_alloc_array(t->n_params, sizeof(float));
	t->grad = util_alloc_array(t->n_params, sizeof(float));
	t->input = util_alloc_array(max_rows * dims[0], sizeof(float));
	t->d_out = util_alloc_array(max_rows * widest, sizeof(float));
	t->d_in = util_alloc_array(max_rows * widest, sizeof(float));
	if (!t->params || !t->grad || !t->input || !t->d_out || !t->d_in)
		goto nomem;
	for (l = 0; l < n_layers; l++)
		if (!(t->act[l] = util_alloc_array(max_rows * dims[l + 1], sizeof(float))))
			goto nomem;
	/* PyTorch's nn.Linear default: U(-1/sqrt(I), 1/sqrt(I)) for weights and biases. */
	p = t->params;
	for (l = 0; l < n_layers; l++) {
		double bound = 1.0 / sqrt((double)dims[l]);
		size_t count = dims[l + 1] * dims[l] + dims[l + 1];
		for (i = 0; i < count; i++)
			p[i] = (float)((2 * rng_uniform(r) - 1) * bound);
		p += count;
	}
	mlp_bind(&t->net, dims, n_layers, t->params);
	return ERROR_OK;
nomem:
	mlp_train_done(t);
	return error_nomem(err, "the network");
}

float *mlp_train_input(struct mlp_train *t)
{
	return t->input;
}

const float *mlp_train_output(const struct mlp_train *t)
{
	return t->act[t->net.n_layers - 1];
}

float *mlp_train_output_grad(struct mlp_train *t)
{
	return t->d_out;
}

void mlp_train_forward(struct mlp_train *t, size_t B)
{
	mlp_forward_layers(&t->net, t->input, B, t->act);
}

void mlp_train_backward(struct mlp_train *t, size_t B)
{
	float *dy = t->d_out, *dx = t->d_in;
	size_t l, r, o;

	for (l = t->net.n_layers; l-- > 0;) {
		const struct mlp_layer *L = &t->net.layer[l];
		const float *x = l ? t->act[l - 1] : t->input; /* this layer's input: (B, I) */
		int In = (int)L->in, Out = (int)L->out;
		float *gw = t->grad + (L->w - t->params), *gb = t->grad + (L->b - t->params);

		/* y = x W^T + b  =>  dW: (O, I) = dy^T: (O, B) . x: (B, I);  db = sum over rows of dy */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Out, In, (int)B, 1.0f, dy, Out, x, In,
			    0.0f, gw, In);
		memset(gb, 0, L->out * sizeof *gb);
		for (r = 0; r < B; r++)
			for (o = 0; o < L->out; o++)
				gb[o] += dy[r * L->out + o];
		if (l == 0)
			break;
		/* dx: (B, I) = dy: (B, O) . W: (O, I); then through the ReLU that made x = max(0, pre) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, In, Out, 1.0f, dy, Out, L->w,
			    In, 0.0f, dx, In);
		for (r = 0; r < B * L->in; r++)
			dx[r] = x[r] > 0 ? dx[r] : 0;
		{
			float *tmp = dy;
			dy = dx;
			dx = tmp;
		}
	}
}

void mlp_train_adam_step(struct mlp_train *t, struct adam *a, double lr, double wd)
{
	size_t l;

	adam_begin_step(a);
	for (l = 0; l < t->net.n_layers; l++) {
		const struct mlp_layer *L = &t->net.layer[l];
		size_t w_off = (size_t)(L->w - t->params), b_off = (size_t)(L->b - t->params);
		adam_update(a, t->params, t->grad, w_off, L->out * L->in, lr, wd);
		adam_update(a, t->params, t->grad, b_off, L->out, lr, 0); /* biases: no decay */
	}
}

float *mlp_train_swap_params(struct mlp_train *t, float *params_block)
{
	float *was = t->params;
	t->params = params_block;
	mlp_bind(&t->net, t->dims, t->net.n_layers, t->params);
	return was;
}

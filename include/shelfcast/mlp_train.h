/*
 * mlp_train — what training adds to an mlp: a parameter block it owns, the
 * activations of the last forward, gradients by backpropagation, and the
 * Adam update of that block.
 *
 * The forward is mlp_forward_layers (mlp.h) over `net`, which points into
 * `params`: training runs the network serving runs, not a copy of it.  The
 * caller writes a batch into mlp_train_input, calls mlp_train_forward,
 * reads mlp_train_output, writes dL/dY into mlp_train_output_grad and
 * calls mlp_train_backward, which leaves dL/dparams in `grad` (same layout
 * as `params`, see mlp.h).
 *
 * Thread-safety: one trainer per thread.
 */
#ifndef SHELFCAST_MLP_TRAIN_H
#define SHELFCAST_MLP_TRAIN_H

#include <stddef.h>

#include "shelfcast/adam.h"
#include "shelfcast/error.h"
#include "shelfcast/mlp.h"
#include "shelfcast/rng.h"

struct mlp_train {
	struct mlp net;                  /* borrows params */
	size_t dims[MLP_MAX_LAYERS + 1]; /* dims[0]: inputs; dims[l + 1]: layer l's outputs */
	size_t n_params;
	size_t max_rows;                 /* B at most */
	float *params, *grad;            /* owned: (n_params) each */
	float *input;                    /* owned: (max_rows, dims[0]) */
	float *act[MLP_MAX_LAYERS];      /* owned: act[l]: (max_rows, dims[l + 1]) */
	float *d_out, *d_in;             /* owned: (max_rows, widest layer) each: gradients in flight */
};

/*
 * Allocate a trainer for n_layers layers of widths dims (n_layers + 1 of
 * them) and batches of up to max_rows rows, with weights and biases drawn
 * like PyTorch's nn.Linear default, U(-1/sqrt(I), 1/sqrt(I)), from r.
 * On failure nothing is left to free.
 */
enum error_code mlp_train_init(struct mlp_train *t, const size_t *dims, size_t n_layers,
			       size_t max_rows, struct rng *r, struct error *err);
void mlp_train_done(struct mlp_train *t);

/* Borrowed: (max_rows, dims[0]), the batch to forward. */
float *mlp_train_input(struct mlp_train *t);
/* Borrowed: (B, O_last), the output of the last forward. */
const float *mlp_train_output(const struct mlp_train *t);
/* Borrowed: (max_rows, O_last), where the caller puts dL/dY before backward. */
float *mlp_train_output_grad(struct mlp_train *t);

/* The first B rows of the input through the network. */
void mlp_train_forward(struct mlp_train *t, size_t B);
/* grad = dL/dparams for the last forward over B rows, from dL/dY. */
void mlp_train_backward(struct mlp_train *t, size_t B);

/*
 * One Adam step on params from grad (a: sized n_params) with learning rate
 * lr and decoupled weight decay wd (AdamW) on the weights, not the biases.
 */
void mlp_train_adam_step(struct mlp_train *t, struct adam *a, double lr, double wd);

/*
 * Make params_block the live parameters (n_params floats, not owned) and
 * return the block that was live.  For evaluating another copy of the
 * weights (a running average) through the same trainer; swap back before
 * the next step and before mlp_train_done, which frees the live block.
 */
float *mlp_train_swap_params(struct mlp_train *t, float *params_block);

#endif

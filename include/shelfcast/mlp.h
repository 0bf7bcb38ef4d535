/*
 * mlp — the dense network: Linear -> ReLU -> ... -> Linear, float32,
 * weights in PyTorch nn.Linear layout (w: (O, I), b: (O)).
 *
 * mlp_forward runs one cblas_sgemm per layer over a row-major batch; for
 * small batches, where BLAS call overhead dominates, it runs a loop over
 * the transposed weights that skips zero inputs (one-hot inputs are mostly
 * zero).  Both paths compute the same function; mlp_forward_naive is the
 * plain reference loop the tests and benchmarks compare against.
 *
 * The struct only points at weights it does not own (the model owns one
 * contiguous block).  Scratch memory is the caller's, sized once with
 * mlp_scratch_floats: nothing is allocated per layer or per call.
 *
 * Thread-safety: an mlp is read-only; concurrent forwards with separate
 * scratch are safe.  BLAS must run single-threaded inside the server
 * (openblas_set_num_threads(1) at start).
 */
#ifndef SHELFCAST_MLP_H
#define SHELFCAST_MLP_H

#include <stddef.h>

#define MLP_MAX_LAYERS 9

struct mlp_layer {
	size_t in, out;   /* I, O */
	const float *w;   /* (O, I) */
	const float *b;   /* (O) */
	const float *wt;  /* (I, O): w transposed, for the small-batch path; may be NULL */
};

struct mlp {
	size_t n_layers; /* hidden layers + the output layer */
	struct mlp_layer layer[MLP_MAX_LAYERS];
};

/* Batches up to this many rows take the loop path when wt is available. */
#define MLP_SMALL_BATCH 16

size_t mlp_input_size(const struct mlp *m);
size_t mlp_output_size(const struct mlp *m);
/* Floats of scratch a forward over B rows needs. */
size_t mlp_scratch_floats(const struct mlp *m, size_t B);

/* x: (B, I), scratch: mlp_scratch_floats(m, B), y: (B, O_last). */
void mlp_forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y);
/* The same through BLAS regardless of B (benchmarks and tests). */
void mlp_forward_blas(const struct mlp *m, const float *x, size_t B, float *scratch, float *y);
/* Reference: textbook loops in double accumulation, no BLAS. */
void mlp_forward_naive(const struct mlp *m, const float *x, size_t B, float *scratch, float *y);

#endif

/*
 * mlp — the dense network: Linear -> ReLU -> ... -> Linear, float32,
 * weights in PyTorch nn.Linear layout (w: (O, I), b: (O)).
 *
 * mlp_forward runs one cblas_sgemm per layer over a row-major batch (bias,
 * ReLU between layers, none after the last).  mlp_forward_levels is the
 * serving path (see below): it uses cblas_sgemm too, except for a tile of at
 * most 64 rows (16 items at 4 levels, the common small request), where a
 * register-blocked loop avoids sgemm's fixed cost (bench/bench_engine times
 * both: docs/performance.md, "The engine").  That loop has an AVX-512 copy,
 * an AVX2+FMA copy and a plain one; the CPU picks.  The two paths round
 * differently in the last bits of a float.  mlp_forward_naive is the plain
 * reference loop the tests and benchmarks compare against.
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

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define MLP_MAX_LAYERS 9

struct mlp_layer {
	size_t in, out;   /* I, O */
	const float *w;   /* (O, I) */
	const float *b;   /* (O) */
	const float *wt;  /* (I, O): w transposed; read by mlp_forward_levels and mlp_forward_rest
			     (the sparse first layer, and small batches on every layer), the
			     search's plan and layer 1's by mlp_sweep (mlp_sweep.h) */
};

struct mlp {
	size_t n_layers; /* hidden layers + the output layer */
	struct mlp_layer layer[MLP_MAX_LAYERS];
};

/*
 * The parameter block: for each layer l, its weight (O, I) then its bias
 * (O), back to back in layer order, as the model and the trainer keep it.
 * dims: (n_layers + 1) widths, dims[0] the input.  mlp_bind points m's
 * layers into params (borrowed, for as long as m is used); wt stays NULL,
 * so neither mlp_forward_levels, mlp_forward_rest, mlp_search_init nor
 * mlp_sweep_plan_init can run on it.
 */
size_t mlp_params_count(const size_t *dims, size_t n_layers);
void mlp_bind(struct mlp *m, const size_t *dims, size_t n_layers, const float *params);

/*
 * The tensor names of layer l's parameters, spelled here only:
 * "dense.<l>.weight" and "dense.<l>.bias" (PyTorch's nn.Linear names
 * under a module called dense).
 */
enum mlp_param { MLP_PARAM_WEIGHT, MLP_PARAM_BIAS };
void mlp_param_name(char *buf, size_t size, size_t layer, enum mlp_param which);

size_t mlp_output_size(const struct mlp *m);
/* Floats of scratch a forward over B rows needs. */
size_t mlp_scratch_floats(const struct mlp *m, size_t B);

/* x: (B, I), scratch: mlp_scratch_floats(m, B), y: (B, O_last). */
void mlp_forward(const struct mlp *m, const float *x, size_t B, float *scratch, float *y);
/*
 * The same forward keeping every layer's output, for backpropagation:
 * act[l]: (B, O of layer l), after the ReLU for hidden layers; the last is
 * the network's output.  mlp_forward is this with two ping-pong buffers.
 */
void mlp_forward_layers(const struct mlp *m, const float *x, size_t B, float *const *act);
/*
 * The network after its first layer's affine map: pre (B, O of layer 0)
 * holds first-layer pre-activations (bias included) and is overwritten by
 * their ReLU; the other layers run as in mlp_forward_levels (they need wt).  For callers that
 * build first-layer pre-activations themselves, as sums of per-input parts
 * (explain.h).  scratch: mlp_scratch_floats(m, B); y: (B, O_last).
 */
void mlp_forward_rest(const struct mlp *m, float *pre, size_t B, float *scratch, float *y);
/*
 * A search's plan of a network (mlp_forward_search_from): for each layer
 * after the first, its columns past the multiples of 16 (the heads, the
 * packed ensemble's baseline units) laid out once for the many calls of the
 * searches (a model keeps one): per input with a weight that is not zero
 * among them, two vectors of eight (lanes past the columns zero).  The
 * recommendation search starts at layer 2 after its sweep, at layer 1 where
 * no sweep is available (mlp_sweep.h).  Owns its
 * memory; borrows m, which must outlive it and keep its weights.
 * mlp_search_init: false when out of memory.
 */
struct mlp_narrow {
	size_t o0, n_used; /* columns [o0, out); inputs listed in used */
	uint32_t *used;    /* (n_used) */
	float *w;          /* (n_used, 2, 8) */
	float bias[16];
	bool by_rows;      /* where AVX-512 is there: row by row, every input (cheaper for few columns) */
};
struct mlp_search {
	const struct mlp *m;
	struct mlp_narrow narrow[MLP_MAX_LAYERS];
};
bool mlp_search_init(struct mlp_search *s, const struct mlp *m);
void mlp_search_done(struct mlp_search *s);
/*
 * Layers from.. (1 <= from <= n_layers) of s's network over in: (B, that
 * layer's inputs), layer from - 1's output after its ReLU; y: (B, O_last).
 * from == n_layers copies in (layer from - 1 is the output layer, with no
 * ReLU after it).  mlp_forward_rest from layer `from` on, in
 * the engine's own kernels at any row count, no BLAS: the same function to
 * within float rounding (sums in another order), for a search whose chosen
 * numbers are computed again by the serving path (mlp_sweep.h computes
 * layer 1).  scratch: mlp_scratch_floats(m, B).
 */
void mlp_forward_search_from(const struct mlp_search *s, size_t from, const float *in, size_t B, float *scratch,
			     float *y);
/* Reference: textbook loops in double accumulation, no BLAS. */
void mlp_forward_naive(const struct mlp *m, const float *x, size_t B, float *scratch, float *y);

/*
 * Score n items at K promotion levels each, the serving path.  Row (i, k)
 * of the virtual (n*K, I) input is item i's encoded row with level slot
 * level_offset + k set to 1.  The first layer is linear in its input, so it
 * is computed once per item (skipping zero inputs, which one-hot encodings
 * are mostly made of) and each level adds its own weight column; the other
 * layers run over the n*K rows, MLP_TILE items at a time so that the
 * activations stay in cache.  Same function as mlp_forward on the expanded
 * rows, K times less work in the first layer.  Needs wt.
 * base: (n, I) with the level slots zero; y: (n*K, O_last);
 * scratch: mlp_levels_scratch_floats(m, K).
 */
#define MLP_TILE 64
void mlp_forward_levels(const struct mlp *m, const float *base, size_t n, size_t level_offset,
			size_t K, float *scratch, float *y);
size_t mlp_levels_scratch_floats(const struct mlp *m, size_t K);

/*
 * Where the CPU has AVX-512, the small path uses it (the default).  Off:
 * the AVX2 or baseline code, as on a CPU without it; for tests, which check
 * both.  Not for use while other threads run the engine.
 */
void mlp_allow_avx512(bool on);

#endif

/*
 * model — an immutable, validated, servable model version: spec, encoder
 * and network weights in one contiguous float block, with an atomic
 * reference count.
 *
 * model_new validates everything before a model exists: tensor names
 * (dense.N.weight (O, I) and dense.N.bias (O) for every layer the spec's
 * architecture implies, nothing else), dtype F32, byte lengths, finiteness
 * of every weight, and — when one is given — the checksum.  A model that
 * fails is never built, so a bad version can never serve.
 *
 * The checksum identifies a version: "v2-" and the SHA-256, as lowercase
 * hex, of "shelfcast.checksum.v2", NUL, the spec as spec_to_string writes
 * it, NUL, then the tensors in layer order as tensor_checksum hashes them
 * (model_checksum): two versions whose spec differs in anything (a level's
 * cost, a vocabulary) differ.  Versions registered before it carry the bare
 * hex of tensor_checksum over the tensors alone and keep validating so.
 *
 * Thread-safety: immutable after model_new but for two things kept beside
 * it: model_ref/model_unref are atomic, and the input-drift window
 * (model_drift) is made once, on first use, and locks itself; the last
 * unref frees it all, from whichever thread drops it.
 */
#ifndef SHELFCAST_MODEL_H
#define SHELFCAST_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "shelfcast/drift.h"
#include "shelfcast/encoder.h"
#include "shelfcast/error.h"
#include "shelfcast/mlp.h"
#include "shelfcast/mlp_sweep.h"
#include "shelfcast/sha256.h"
#include "shelfcast/spec.h"
#include "shelfcast/tensor.h"

#define MODEL_NAME_MAX 64
/* What the registry takes as a model name (migration 0001's CHECK): 1 to 64 of A-Z a-z 0-9 . _ -, not led by . _ - */
bool model_name_valid(const char *name);
#define MODEL_NAME_RULE "1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', the first a letter or digit"
#define MODEL_MAX_PRICE_INPUTS 4 /* a column is read raw, through its log, or both */
#define MODEL_CHECKSUM_PREFIX "v2-"
#define MODEL_CHECKSUM_SIZE (sizeof MODEL_CHECKSUM_PREFIX - 1 + SHA256_HEX_SIZE)
struct model {
	atomic_int refs;
	uint64_t serial;         /* this model object's number in the process, never reused */
	char name[MODEL_NAME_MAX + 1];
	int version;
	char checksum[MODEL_CHECKSUM_SIZE]; /* as the registry holds it (a legacy one stays legacy) */
	double loaded_at;        /* unix seconds */
	struct spec spec;
	struct encoder *enc;
	struct mlp mlp;
	struct mlp_search search; /* the recommendation search's layout of mlp (mlp.h), made at load */
	/* the inputs reading the spec's price column, and the search's sweep along them (mlp_sweep.h) */
	int price_in[MODEL_MAX_PRICE_INPUTS];
	size_t n_price_in;
	struct mlp_sweep_plan sweep;
	float *block;            /* every weight and bias, then transposed weights */
	size_t block_floats;
	char *metrics_json;      /* the version's metrics as compact JSON, or NULL */
	/* fixed at load: a request's tile (predict_tile_items) and its batch's bytes, the names' lengths */
	size_t tile_items, tile_bytes, categorical_names_len;
	_Atomic(struct drift_window *) drift; /* NULL until model_drift makes it */
};

/*
 * Build a model.  spec is taken (on success and on failure alike: it is
 * done'd on failure).  tensors are copied.  expected_checksum may be NULL.
 * *out is new with one reference.
 */
enum error_code model_new(const char *name, int version, struct spec *spec,
			  const struct tensor *tensors, size_t n_tensors,
			  const char *expected_checksum, struct model **out, struct error *err);

/*
 * The checksum of a version with this spec and these tensors (layer
 * order), "v2-..." (above).  False when out of memory.
 */
bool model_checksum(const struct spec *spec, const struct tensor *tensors, size_t n,
		    char out[MODEL_CHECKSUM_SIZE]);

struct model *model_ref(struct model *m);
void model_unref(struct model *m);

/*
 * The model's input-drift window (drift.h), borrowed for the model's
 * lifetime: made with `window` items on the first call that gives one
 * (window > 0), the same afterwards whatever window says.  NULL when the
 * spec has no drift reference, window is 0 (and none was made), or out of
 * memory.  model_drift_peek: the window if one was made, else NULL.
 */
struct drift_window *model_drift(struct model *m, size_t window);
struct drift_window *model_drift_peek(const struct model *m);

/* Set the metrics JSON shown by /v1/models (copied). Only before the model is published. */
enum error_code model_set_metrics(struct model *m, const char *metrics_json, struct error *err);

/* Number of tensors and the i-th tensor of the model (borrowing its weights). */
size_t model_tensor_count(const struct model *m);
void model_tensor_at(const struct model *m, size_t i, struct tensor *t);
/*
 * The i-th tensor of a network, in the model's order (dense.0.weight,
 * dense.0.bias, dense.1.weight, ...), borrowing its weights: what
 * model_tensor_at gives for a model, for a network not yet in one.
 */
void model_mlp_tensor_at(const struct mlp *mlp, size_t i, struct tensor *t);


#endif

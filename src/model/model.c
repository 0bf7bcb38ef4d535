/* model — see include/shelfcast/model.h. */
#include "shelfcast/model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/predict.h"
#include "shelfcast/util.h"

static atomic_uint_least64_t next_serial;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shelfcast stores float32 little-endian and reads it in place: little-endian hosts only"
#endif

struct model *model_ref(struct model *m)
{
	if (m)
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

void model_unref(struct model *m)
{
	if (!m)
		return;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	drift_window_free(atomic_load(&m->drift)); /* before the spec it borrows */
	mlp_search_done(&m->search);
	mlp_sweep_plan_done(&m->sweep);
	encoder_free(m->enc);
	spec_done(&m->spec);
	free(m->block);
	free(m->metrics_json);
	free(m);
}

struct drift_window *model_drift(struct model *m, size_t window)
{
	struct drift_window *w = atomic_load_explicit(&m->drift, memory_order_acquire), *made;

	if (w || !window || !m->spec.has_drift)
		return w;
	made = drift_window_new(&m->spec, window);
	if (made && !atomic_compare_exchange_strong(&m->drift, &w, made)) {
		drift_window_free(made); /* another request made it first: w is that one */
		return w;
	}
	return made;
}

struct drift_window *model_drift_peek(const struct model *m)
{
	return atomic_load_explicit(&((struct model *)m)->drift, memory_order_acquire);
}

size_t model_tensor_count(const struct model *m)
{
	return m->mlp.n_layers * 2;
}

void model_mlp_tensor_at(const struct mlp *mlp, size_t i, struct tensor *t)
{
	const struct mlp_layer *L = &mlp->layer[i / 2];
	memset(t, 0, sizeof *t);
	memcpy(t->dtype, "F32", 4);
	if (i % 2 == 0) {
		mlp_param_name(t->name, sizeof t->name, i / 2, MLP_PARAM_WEIGHT);
		t->ndim = 2;
		t->shape[0] = L->out;
		t->shape[1] = L->in;
		t->data = L->w;
		t->nbytes = L->out * L->in * sizeof(float);
	} else {
		mlp_param_name(t->name, sizeof t->name, i / 2, MLP_PARAM_BIAS);
		t->ndim = 1;
		t->shape[0] = L->out;
		t->data = L->b;
		t->nbytes = L->out * sizeof(float);
	}
}

void model_tensor_at(const struct model *m, size_t i, struct tensor *t)
{
	model_mlp_tensor_at(&m->mlp, i, t);
}

static const struct tensor *find_tensor(const struct tensor *tensors, size_t n, const char *name)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!strcmp(tensors[i].name, name))
			return &tensors[i];
	return NULL;
}

/* Check one expected tensor and copy it into dst. */
static enum error_code take_tensor(const struct tensor *tensors, size_t n, const char *name,
				   size_t ndim, const size_t *shape, float *dst, struct error *err)
{
	const struct tensor *t = find_tensor(tensors, n, name);
	size_t count = 1, bytes, d, i;

	if (!t)
		return error_set(err, ERROR_INVALID, name, "tensor %s is missing", name);
	if (strcmp(t->dtype, "F32"))
		return error_set(err, ERROR_INVALID, name, "tensor %s: dtype %s, expected F32", name,
				 t->dtype);
	if (t->ndim != ndim)
		return error_set(err, ERROR_INVALID, name, "tensor %s: %zu dimensions, expected %zu",
				 name, t->ndim, ndim);
	for (d = 0; d < ndim; d++) {
		if (t->shape[d] != shape[d])
			return error_set(err, ERROR_INVALID, name,
					 "tensor %s: shape [%zu%s%zu] does not match the architecture "
					 "[%zu%s%zu]",
					 name, t->shape[0], ndim > 1 ? ", " : "", ndim > 1 ? t->shape[1] : 0,
					 shape[0], ndim > 1 ? ", " : "", ndim > 1 ? shape[1] : 0);
		if (!util_mul_size(count, shape[d], &count))
			return error_set(err, ERROR_INVALID, name, "tensor %s: size overflows", name);
	}
	if (!util_mul_size(count, sizeof(float), &bytes) || t->nbytes != bytes)
		return error_set(err, ERROR_INVALID, name,
				 "tensor %s: %zu bytes of data, expected %zu (shape x 4)", name,
				 t->nbytes, count * sizeof(float));
	memcpy(dst, t->data, bytes);
	for (i = 0; i < count; i++)
		if (!isfinite(dst[i]))
			return error_set(err, ERROR_INVALID, name,
					 "tensor %s: element %zu is not a finite number", name, i);
	return ERROR_OK;
}

/* The inputs reading the price column (raw, through its log), and the sweep along their columns. */
static bool price_sweep(struct model *m)
{
	const struct mlp_layer *L = &m->mlp.layer[0];
	const char *name = m->spec.price_column;
	const float *dirs[MODEL_MAX_PRICE_INPUTS];
	int j;

	for (j = name ? encoder_input_index(m->enc, name, strlen(name)) : -1;
	     j >= 0 && m->n_price_in < MODEL_MAX_PRICE_INPUTS; j = encoder_next_same(m->enc, j)) {
		dirs[m->n_price_in] = L->wt + (size_t)j * L->out;
		m->price_in[m->n_price_in++] = j;
	}
	return mlp_sweep_plan_init(&m->sweep, &m->mlp, m->n_price_in, dirs);
}

enum error_code model_new(const char *name, int version, struct spec *spec,
			  const struct tensor *tensors, size_t n_tensors,
			  const char *expected_checksum, struct model **out, struct error *err)
{
	size_t dims[SPEC_MAX_HIDDEN + 2], n_dims, l, total = 0, wt_total = 0, i, j;
	float *wt;
	struct tensor canon[2 * MLP_MAX_LAYERS];
	struct model *m;
	enum error_code rc;

	*out = NULL;
	if (!model_name_valid(name)) {
		spec_done(spec);
		return error_set(err, ERROR_INVALID, "name",
				 "model name \"%s\" is not a model name (%s)", name, MODEL_NAME_RULE);
	}
	m = calloc(1, sizeof *m);
	if (!m) {
		spec_done(spec);
		return error_nomem(err, "a model");
	}
	atomic_init(&m->refs, 1);
	m->serial = atomic_fetch_add(&next_serial, 1) + 1;
	snprintf(m->name, sizeof m->name, "%s", name);
	m->version = version;
	m->spec = *spec;
	memset(spec, 0, sizeof *spec);
	m->loaded_at = util_unix_time();

	n_dims = spec_layer_dims(&m->spec, dims);
	m->mlp.n_layers = n_dims - 1;
	for (l = 0; l + 1 < n_dims; l++) {
		size_t w;
		if (!util_mul_size(dims[l], dims[l + 1], &w) || !util_add_size(total, w, &total) ||
		    !util_add_size(total, dims[l + 1], &total) || !util_add_size(wt_total, w, &wt_total)) {
			rc = error_set(err, ERROR_INVALID, "architecture", "model size overflows");
			goto fail;
		}
	}
	if (n_tensors != 2 * m->mlp.n_layers) {
		for (i = 0; i < n_tensors; i++) {
			bool expected = false;
			for (l = 0; l < m->mlp.n_layers && !expected; l++) {
				char wname[TENSOR_NAME_MAX], bname[TENSOR_NAME_MAX];
				mlp_param_name(wname, sizeof wname, l, MLP_PARAM_WEIGHT);
				mlp_param_name(bname, sizeof bname, l, MLP_PARAM_BIAS);
				expected = !strcmp(tensors[i].name, wname) || !strcmp(tensors[i].name, bname);
			}
			if (!expected) {
				rc = error_set(err, ERROR_INVALID, tensors[i].name,
					       "unexpected tensor %s: the architecture has %zu dense layers",
					       tensors[i].name, m->mlp.n_layers);
				goto fail;
			}
		}
	}
	m->block_floats = total + wt_total;
	m->block = util_alloc_array(m->block_floats, sizeof(float));
	if (!m->block) {
		rc = error_nomem(err, "model weights");
		goto fail;
	}
	/* the parameter block as mlp.h lays it out (total floats), then every layer's w transposed */
	mlp_bind(&m->mlp, dims, n_dims - 1, m->block);
	wt = m->block + total;
	for (l = 0; l < m->mlp.n_layers; l++) {
		struct mlp_layer *L = &m->mlp.layer[l];
		char wname[TENSOR_NAME_MAX], bname[TENSOR_NAME_MAX];
		size_t wshape[2] = {L->out, L->in};
		float *w = (float *)L->w, *b = (float *)L->b; /* our own block, read-only once published */

		mlp_param_name(wname, sizeof wname, l, MLP_PARAM_WEIGHT);
		mlp_param_name(bname, sizeof bname, l, MLP_PARAM_BIAS);
		rc = take_tensor(tensors, n_tensors, wname, 2, wshape, w, err);
		if (!rc)
			rc = take_tensor(tensors, n_tensors, bname, 1, wshape, b, err);
		if (rc)
			goto fail;
		for (i = 0; i < L->out; i++)
			for (j = 0; j < L->in; j++)
				wt[j * L->out + i] = w[i * L->in + j];
		L->wt = wt;
		wt += L->in * L->out;
	}
	for (i = 0; i < model_tensor_count(m); i++)
		model_tensor_at(m, i, &canon[i]);
	if (expected_checksum && strncmp(expected_checksum, MODEL_CHECKSUM_PREFIX, strlen(MODEL_CHECKSUM_PREFIX)))
		tensor_checksum(canon, model_tensor_count(m), m->checksum); /* a version from before v2 */
	else if (!model_checksum(&m->spec, canon, model_tensor_count(m), m->checksum)) {
		rc = error_nomem(err, "the checksum");
		goto fail;
	}
	if (expected_checksum && strcmp(expected_checksum, m->checksum)) {
		rc = error_set(err, ERROR_INVALID, "checksum",
			       "checksum mismatch: the registry says %.19s..., the spec and tensors hash to "
			       "%.19s...",
			       expected_checksum, m->checksum);
		goto fail;
	}
	m->enc = encoder_new(&m->spec, err);
	if (!m->enc) {
		rc = err ? err->code : ERROR_INVALID;
		goto fail;
	}
	if (!mlp_search_init(&m->search, &m->mlp) || !price_sweep(m)) {
		rc = error_nomem(err, "the search's layout of the weights");
		goto fail;
	}
	/* what every request would otherwise work out again (predict.h) */
	m->tile_items = predict_tile_items(m);
	m->tile_bytes = predict_batch_bytes(m, m->tile_items);
	for (i = 0; i < m->spec.n_categorical; i++)
		m->categorical_names_len += strlen(m->spec.categorical[i].name);
	*out = m;
	return ERROR_OK;
fail:
	model_unref(m);
	return rc;
}

enum error_code model_set_metrics(struct model *m, const char *metrics_json, struct error *err)
{
	char *copy = metrics_json ? strdup(metrics_json) : NULL;
	if (metrics_json && !copy)
		return error_nomem(err, "model metrics");
	free(m->metrics_json);
	m->metrics_json = copy;
	return ERROR_OK;
}

bool model_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		unsigned char ch = (unsigned char)name[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (i >= MODEL_NAME_MAX || !(alnum || (i > 0 && (ch == '.' || ch == '_' || ch == '-'))))
			return false;
	}
	return i > 0;
}

bool model_checksum(const struct spec *spec, const struct tensor *tensors, size_t n,
		    char out[MODEL_CHECKSUM_SIZE])
{
	static const char tag[] = "shelfcast.checksum.v2";
	char *text = spec_to_string(spec);
	struct sha256 ctx;

	if (!text)
		return false;
	sha256_init(&ctx);
	sha256_update(&ctx, tag, sizeof tag); /* with its NUL */
	sha256_update(&ctx, text, strlen(text) + 1);
	tensor_hash(&ctx, tensors, n);
	memcpy(out, MODEL_CHECKSUM_PREFIX, strlen(MODEL_CHECKSUM_PREFIX));
	sha256_final_hex(&ctx, out + strlen(MODEL_CHECKSUM_PREFIX));
	free(text);
	return true;
}

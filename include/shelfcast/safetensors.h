/*
 * safetensors — read and write the safetensors format, so weights move
 * between shelfcast and PyTorch.
 *
 *   +----------------+----------------------------+------------------------+
 *   | N: u64 LE      | header: N bytes of JSON    | data buffer            |
 *   +----------------+----------------------------+------------------------+
 *   header = {"dense.0.weight": {"dtype": "F32", "shape": [64, 113],
 *                                "data_offsets": [begin, end]}, ...,
 *             "__metadata__": {"spec": "<model spec JSON as a string>", ...}}
 *
 * Offsets are relative to the data buffer.  The reader trusts nothing:
 * N must fit in the file, the header must be a JSON object without
 * duplicate keys, every tensor's dtype known, its shape non-negative with
 * an overflow-checked size that matches end - begin, offsets inside the
 * buffer, and the tensors must tile the buffer exactly (no overlap, no
 * gap), as the reference implementation requires.  Only F32 tensors are
 * accepted by the model loader; the reader reports other dtypes by name.
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_SAFETENSORS_H
#define SHELFCAST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/tensor.h"
#include "shelfcast/strbuf.h"

#define SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)
#define SAFETENSORS_MAX_TENSORS 1024

struct safetensors {
	struct tensor *tensors; /* data pointers borrow the parsed buffer */
	size_t n_tensors;
	char *spec_json;        /* __metadata__.spec, or NULL */
	char *metrics_json;     /* __metadata__.metrics (the writer's test metrics), or NULL */
};

/*
 * Parse (bytes, len).  On success st->tensors point into `bytes`, which must
 * outlive st.  Errors name the tensor or header field at fault.
 */
enum error_code safetensors_parse(const uint8_t *bytes, size_t len, struct safetensors *st,
				  struct error *err);
void safetensors_done(struct safetensors *st);

/*
 * Serialize tensors (in the given order) with __metadata__ {"spec": spec_json,
 * "format": "pt"} (spec_json may be NULL) into out.  The header is padded
 * with spaces to a multiple of 8 bytes so the data is aligned.
 */
enum error_code safetensors_write(const struct tensor *tensors, size_t n, const char *spec_json,
				  struct strbuf *out, struct error *err);

#endif

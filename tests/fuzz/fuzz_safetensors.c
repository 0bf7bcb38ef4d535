/* Fuzz the safetensors reader, and a model built from what it accepts. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct safetensors st;
	struct error err;

	error_init(&err);
	if (safetensors_parse(data, size, &st, &err) == ERROR_OK) {
		struct spec spec;
		struct model *m = NULL;
		const char *text = st.spec_json ? st.spec_json : TEST_SPEC;
		error_init(&err);
		if (spec_parse_string(text, strlen(text), &spec, &err) == ERROR_OK &&
		    model_new("fuzz", 1, &spec, st.tensors, st.n_tensors, NULL, &m, &err) == ERROR_OK)
			model_unref(m);
		safetensors_done(&st);
	} else if (!err.message[0]) {
		abort(); /* every refusal says why */
	}
	return 0;
}

/* Fuzz the model spec parser; what parses must build an encoder and survive a round trip. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/encoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec spec, again;
	struct error err;

	error_init(&err);
	if (spec_parse_string((const char *)data, size, &spec, &err) == ERROR_OK) {
		struct encoder *enc = encoder_new(&spec, &err);
		char *text = spec_to_string(&spec);
		if (!enc || !text)
			abort(); /* a spec that parses always makes an encoder */
		error_init(&err);
		if (spec_parse_string(text, strlen(text), &again, &err) != ERROR_OK ||
		    again.input_size != spec.input_size)
			abort(); /* and survives serialization */
		spec_done(&again);
		free(text);
		encoder_free(enc);
		spec_done(&spec);
	} else if (!err.message[0]) {
		abort();
	}
	return 0;
}

/* uuid7 — see include/shelfcast/uuid7.h. */
#include "shelfcast/uuid7.h"

#include <string.h>

void uuid7_make(uint64_t ms, struct rng *r, uint8_t id[16])
{
	uint64_t a = rng_next(r), b = rng_next(r);
	int i;

	for (i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	memcpy(id + 6, &a, 2);
	memcpy(id + 8, &b, 8);
	id[6] = (uint8_t)(0x70 | (id[6] & 0x0f));  /* version 7 */
	id[8] = (uint8_t)(0x80 | (id[8] & 0x3f));  /* variant 10 */
}

void uuid7_text(const uint8_t id[16], char out[UUID7_TEXT])
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = '\0';
}

bool uuid7_valid_text(const char *text, size_t len)
{
	size_t i;

	if (len != UUID7_TEXT - 1)
		return false;
	for (i = 0; i < len; i++) {
		char c = text[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

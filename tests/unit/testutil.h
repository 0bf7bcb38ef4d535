/*
 * testutil — what the cmocka unit tests share: the fixture in
 * tests/common/testmodel.h, and reading files under tests/data.
 */
#ifndef SHELFCAST_TESTUTIL_H
#define SHELFCAST_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shelfcast/model.h"
#include "shelfcast/spec.h"
#include "shelfcast/util.h"

#include "../common/testmodel.h"

/* tests/data/<rel> read whole (NUL-terminated, caller frees), or NULL. */
static inline char *test_data(const char *rel, size_t *len)
{
	const char *root = getenv("SHELFCAST_TEST_DATA");
	char path[1024], *data = NULL;
	size_t n = 0;
	struct error err;

	snprintf(path, sizeof path, "%s/%s", root ? root : "tests/data", rel);
	error_init(&err);
	if (util_read_file(path, 64 << 20, &data, &n, &err) != ERROR_OK)
		return NULL;
	if (len)
		*len = n;
	return data;
}

#endif

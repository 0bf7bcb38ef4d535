/* What the libFuzzer targets share: a small model spec (the unit tests' one). */
#ifndef SHELFCAST_FUZZ_COMMON_H
#define SHELFCAST_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FUZZ_SPEC[] =
	"{\"format\": \"shelfcast.spec.v1\","
	" \"inputs\": {\"numeric\": ["
	"   {\"name\": \"price\", \"mean\": 10, \"std\": 2, \"default\": 10, \"clip\": [1, 100]},"
	"   {\"name\": \"weight\", \"mean\": 1, \"std\": 0.5, \"required\": true},"
	"   {\"name\": \"price\", \"transform\": \"log\", \"mean\": 2.3, \"std\": 0.2, \"default\": 2.3}],"
	"  \"categorical\": [{\"name\": \"brand\", \"vocabulary\": [\"a\", \"b\", \"c\"]},"
	"                  {\"name\": \"store\", \"vocabulary\": [\"1\", \"2\"]}]},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\", \"objective\": \"revenue\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0, \"cost\": 0}, {\"level\": 1, \"discount\": 0.1, \"cost\": 5},"
	"              {\"level\": 2, \"discount\": 0.2, \"cost\": 10}]},"
	" \"target\": {\"column\": \"units\", \"transform\": \"log1p\", \"mean\": 2, \"std\": 1},"
	" \"exposure\": {\"column\": \"featured\"},"
	" \"architecture\": {\"input_size\": 13, \"hidden\": [8, 4], \"activation\": \"relu\"}}";

#endif

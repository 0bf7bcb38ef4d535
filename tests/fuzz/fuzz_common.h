/* What the libFuzzer targets share: the unit tests' fixture (tests/common/testmodel.h). */
#ifndef SHELFCAST_FUZZ_COMMON_H
#define SHELFCAST_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "../common/testmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

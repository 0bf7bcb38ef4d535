/* spec_names — the names in a spec (objectives, transforms, feature names): see include/shelfcast/spec.h. */
#include "shelfcast/spec.h"

#include <string.h>

static const char *const objective_names[] = {
	[SPEC_OBJECTIVE_REVENUE] = "revenue", [SPEC_OBJECTIVE_UNITS] = "units", [SPEC_OBJECTIVE_PROFIT] = "profit"};
#define N_OBJECTIVES (sizeof objective_names / sizeof objective_names[0])

const char *spec_objective_name(enum spec_objective o)
{
	return (size_t)o < N_OBJECTIVES ? objective_names[o] : "revenue";
}

bool spec_objective_parse(const char *s, enum spec_objective *o)
{
	size_t i;
	for (i = 0; i < N_OBJECTIVES; i++)
		if (!strcmp(s, objective_names[i])) {
			*o = (enum spec_objective)i;
			return true;
		}
	return false;
}

const char *spec_transform_name(enum spec_transform t)
{
	return t == SPEC_TRANSFORM_LOG1P ? "log1p" : "none";
}

const char *spec_input_transform_name(enum spec_input_transform t)
{
	return t == SPEC_INPUT_LOG ? "log" : "none";
}

bool spec_valid_name(const char *s)
{
	size_t n = strlen(s), i;
	if (n == 0 || n > SPEC_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

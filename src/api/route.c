/* route — see include/shelfcast/route.h. */
#include "shelfcast/route.h"

#include <string.h>

#include "shelfcast/util.h"

static const struct {
	const char *label;
	const char *allow;
	bool post;
	bool admin; /* the admin token's */
} routes[ROUTE_COUNT] = {
	[ROUTE_PREDICT] = {"/v1/predict", "POST", true, false},
	[ROUTE_MODELS] = {"/v1/models", "GET, HEAD", false, false},
	[ROUTE_MODEL] = {"/v1/models/{name}", "GET, HEAD", false, false},
	[ROUTE_ACTIVATE] = {"/v1/models/{name}/versions/{version}/activate", "POST", true, true},
	[ROUTE_HEALTHZ] = {"/healthz", "GET, HEAD", false, false},
	[ROUTE_READYZ] = {"/readyz", "GET, HEAD", false, false},
	[ROUTE_METRICS] = {"/metrics", "GET, HEAD", false, false},
	[ROUTE_OPENAPI] = {"/openapi.yaml", "GET, HEAD", false, false},
	[ROUTE_MODEL_INPUT] = {"/v1/models/{name}/inputs/{input}", "GET, HEAD", false, false},
	[ROUTE_OUTCOMES] = {"/v1/outcomes", "POST", true, true},
	[ROUTE_RECOMMEND] = {"/v1/recommend", "POST", true, false},
	[ROUTE_OTHER] = {"other", NULL, false, false},
};

/* The fixed paths, matched whole. */
static const struct {
	const char *path;
	enum route_id id;
} fixed[] = {
	{"/v1/predict", ROUTE_PREDICT}, {"/v1/recommend", ROUTE_RECOMMEND}, {"/healthz", ROUTE_HEALTHZ},
	{"/readyz", ROUTE_READYZ},
	{"/metrics", ROUTE_METRICS},    {"/openapi.yaml", ROUTE_OPENAPI}, {"/v1/models", ROUTE_MODELS},
	{"/v1/outcomes", ROUTE_OUTCOMES},
};

/* "NAME" or "NAME/versions/N/activate" after "/v1/models/". */
static enum route_id model_path(const char *p, struct route_target *t)
{
	const char *slash = strchr(p, '/'), *q;
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	char num[16];
	long long v;

	if (n == 0 || n >= sizeof t->name)
		return ROUTE_OTHER;
	memcpy(t->name, p, n);
	t->name[n] = '\0';
	if (!slash)
		return ROUTE_MODEL;
	if (!strncmp(slash, "/inputs/", 8)) {
		q = slash + 8;
		if (!*q || strchr(q, '/') || strlen(q) >= sizeof t->input)
			return ROUTE_OTHER;
		memcpy(t->input, q, strlen(q) + 1);
		return ROUTE_MODEL_INPUT;
	}
	if (strncmp(slash, "/versions/", 10))
		return ROUTE_OTHER;
	q = slash + 10;
	slash = strchr(q, '/');
	if (!slash || strcmp(slash, "/activate") || (size_t)(slash - q) >= sizeof num)
		return ROUTE_OTHER;
	memcpy(num, q, (size_t)(slash - q));
	num[slash - q] = '\0';
	if (!util_parse_long(num, 1, 2147483647, &v))
		return ROUTE_OTHER;
	t->version = (int)v;
	return ROUTE_ACTIVATE;
}

void route_parse(const char *path, struct route_target *t)
{
	size_t i;

	t->id = ROUTE_OTHER;
	t->name[0] = '\0';
	t->input[0] = '\0';
	t->version = 0;
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (!strcmp(path, fixed[i].path)) {
			t->id = fixed[i].id;
			return;
		}
	if (!strncmp(path, "/v1/models/", 11))
		t->id = model_path(path + 11, t);
	if (t->id == ROUTE_OTHER)
		t->name[0] = '\0';
}

const char *route_label(enum route_id id)
{
	return id < ROUTE_COUNT ? routes[id].label : "other";
}

const char *route_allow(enum route_id id)
{
	return id < ROUTE_COUNT ? routes[id].allow : NULL;
}

static bool is_get(const char *method)
{
	return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

bool route_allows(enum route_id id, const char *method)
{
	if (id >= ROUTE_OTHER)
		return false;
	return routes[id].post ? !strcmp(method, "POST") : is_get(method);
}

bool route_takes_body(enum route_id id, const char *method)
{
	return id < ROUTE_OTHER && routes[id].post && !strcmp(method, "POST");
}

bool route_admin(enum route_id id)
{
	return id < ROUTE_OTHER && routes[id].admin;
}

/* metrics — see include/shelfcast/metrics.h. */
#include "shelfcast/metrics.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "build_commit.h"
#include "build_config.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predlog.h"
#include "shelfcast/util.h"

#define STATUS_MIN 100
#define STATUS_MAX 599
#define SERIES_MAX 4096

static const double duration_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
					  0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,  5, 10};
#define N_DURATION (sizeof duration_buckets / sizeof duration_buckets[0])
static const double item_buckets[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define N_ITEMS (sizeof item_buckets / sizeof item_buckets[0])

struct histogram {
	atomic_uint_fast64_t bucket[N_DURATION + 1]; /* non-cumulative; last is +Inf */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

/* An append-only table of label pairs; the counts are in the shards, by row. */
struct series {
	char a[80], b[144]; /* label values */
};

struct table {
	struct series rows[SERIES_MAX];
	atomic_size_t n;
	pthread_mutex_t lock;
};

/*
 * One thread's counters.  Only its own thread writes them (a relaxed load
 * and store, no locked instruction and no cache line shared with another
 * worker); a scrape adds up every shard.  Shards are never freed: the counts
 * of a thread that ended still count.
 */
struct metrics_shard {
	atomic_uint_fast64_t requests[ROUTE_COUNT][STATUS_MAX - STATUS_MIN + 1];
	struct histogram duration[ROUTE_COUNT];
	atomic_uint_fast64_t items_bucket[N_ITEMS + 1];
	atomic_uint_fast64_t items_sum;
	atomic_uint_fast64_t items_rows[SERIES_MAX], unknown_rows[SERIES_MAX], recommended_rows[SERIES_MAX];
	/* the last items series this thread counted, to skip the lookup */
	char last_model[80];
	int last_version;
	size_t last_row;
	struct metrics_shard *next;
};

static struct {
	double start_time;
	atomic_uint_fast64_t heap_trims;
} M;

static struct table items_table = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct table unknown_table = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct table recommended_table = {.lock = PTHREAD_MUTEX_INITIALIZER};
static _Atomic(struct metrics_shard *) shards;

struct metrics_shard *metrics_shard_new(void)
{
	struct metrics_shard *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->last_row = SIZE_MAX;
	s->next = atomic_load(&shards);
	while (!atomic_compare_exchange_weak(&shards, &s->next, s))
		;
	return s;
}

/* Add to a counter of this thread's shard: it is the only writer. */
static inline void bump(atomic_uint_fast64_t *c, uint_fast64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

/* A counter summed over every shard; offset: the counter's in struct metrics_shard. */
static uint64_t total(size_t offset)
{
	struct metrics_shard *s;
	uint64_t sum = 0;
	for (s = atomic_load(&shards); s; s = s->next)
		sum += atomic_load_explicit((atomic_uint_fast64_t *)(void *)((char *)s + offset),
					    memory_order_relaxed);
	return sum;
}

#define TOTAL(member) total(offsetof(struct metrics_shard, member))

void metrics_init(void)
{
	M.start_time = util_unix_time();
}

void metrics_observe_request(struct metrics_shard *sh, enum route_id route, int status, double seconds)
{
	struct histogram *h;
	size_t i;

	if (!sh)
		return;
	if (route >= ROUTE_COUNT)
		route = ROUTE_OTHER;
	if (status < STATUS_MIN || status > STATUS_MAX)
		status = 500;
	bump(&sh->requests[route][status - STATUS_MIN], 1);
	h = &sh->duration[route];
	for (i = 0; i < N_DURATION && seconds > duration_buckets[i]; i++)
		;
	bump(&h->bucket[i], 1);
	bump(&h->count, 1);
	bump(&h->sum_ns, (uint_fast64_t)(seconds * 1e9));
}

/* The row of a label pair, added if new; SIZE_MAX when the table is full. */
static size_t lookup(struct table *t, const char *a, const char *b)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire), i, row = SIZE_MAX;

	for (i = 0; i < n; i++)
		if (!strcmp(t->rows[i].a, a) && !strcmp(t->rows[i].b, b))
			return i;
	pthread_mutex_lock(&t->lock);
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (!strcmp(t->rows[i].a, a) && !strcmp(t->rows[i].b, b)) {
			row = i;
			break;
		}
	if (row == SIZE_MAX && n < SERIES_MAX) {
		util_copy(t->rows[n].a, sizeof t->rows[n].a, a);
		util_copy(t->rows[n].b, sizeof t->rows[n].b, b);
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
		row = n;
	}
	pthread_mutex_unlock(&t->lock);
	return row;
}

void metrics_observe_items(struct metrics_shard *sh, const char *model, int version, size_t items)
{
	size_t i;

	if (!sh)
		return;
	if (sh->last_row == SIZE_MAX || sh->last_version != version || strcmp(sh->last_model, model)) {
		char v[NUMFMT_MAX];
		numfmt_int(v, version);
		sh->last_row = lookup(&items_table, model, v);
		sh->last_version = version;
		util_copy(sh->last_model, sizeof sh->last_model, model);
	}
	if (sh->last_row != SIZE_MAX)
		bump(&sh->items_rows[sh->last_row], items);
	for (i = 0; i < N_ITEMS && (double)items > item_buckets[i]; i++)
		;
	bump(&sh->items_bucket[i], 1);
	bump(&sh->items_sum, items);
}

void metrics_observe_recommended(struct metrics_shard *sh, const char *model, int version, size_t items)
{
	char v[NUMFMT_MAX];
	size_t row;

	if (!sh)
		return;
	numfmt_int(v, version);
	row = lookup(&recommended_table, model, v);
	if (row != SIZE_MAX)
		bump(&sh->recommended_rows[row], items);
}

void metrics_observe_unknown(struct metrics_shard *sh, const char *model, const char *feature,
			     uint64_t count)
{
	size_t row;

	if (!sh)
		return;
	row = lookup(&unknown_table, model, feature);
	if (row != SIZE_MAX)
		bump(&sh->unknown_rows[row], count);
}

/* A label value with \, " and newline escaped. */
static void label(struct strbuf *sb, const char *s)
{
	strbuf_putc(sb, '"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_putc(sb, '\\');
		if (*s == '\n') {
			strbuf_puts(sb, "\\n");
			continue;
		}
		strbuf_putc(sb, *s);
	}
	strbuf_putc(sb, '"');
}

static void header(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(struct strbuf *sb)
{
	size_t r, s, i;

	header(sb, "shelfcast_http_requests_total", "counter", "HTTP requests by route and status.");
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s <= STATUS_MAX - STATUS_MIN; s++) {
			uint64_t v = TOTAL(requests[r][s]);
			if (!v)
				continue;
			strbuf_puts(sb, "shelfcast_http_requests_total{route=");
			label(sb, route_label((enum route_id)r));
			strbuf_printf(sb, ",status=\"%zu\"} %llu\n", s + STATUS_MIN, (unsigned long long)v);
		}
	header(sb, "shelfcast_http_request_duration_seconds", "histogram",
	       "HTTP request duration by route, from the first byte of the request to the reply.");
	for (r = 0; r < ROUTE_COUNT; r++) {
		uint64_t count = TOTAL(duration[r].count), cum = 0;
		if (!count)
			continue;
		for (i = 0; i <= N_DURATION; i++) {
			cum += TOTAL(duration[r].bucket[i]);
			strbuf_puts(sb, "shelfcast_http_request_duration_seconds_bucket{route=");
			label(sb, route_label((enum route_id)r));
			if (i < N_DURATION)
				strbuf_printf(sb, ",le=\"%g\"} %llu\n", duration_buckets[i],
					      (unsigned long long)cum);
			else
				strbuf_printf(sb, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		strbuf_puts(sb, "shelfcast_http_request_duration_seconds_sum{route=");
		label(sb, route_label((enum route_id)r));
		strbuf_printf(sb, "} %.9f\n", (double)TOTAL(duration[r].sum_ns) / 1e9);
		strbuf_puts(sb, "shelfcast_http_request_duration_seconds_count{route=");
		label(sb, route_label((enum route_id)r));
		strbuf_printf(sb, "} %llu\n", (unsigned long long)cum);
	}
}

/* A counter over a table's label pairs (model=a, b_name=b); rows is the shards' counts' offset. */
static void render_counter_table(struct strbuf *sb, const char *name, const char *help, struct table *t,
				 const char *b_name, size_t rows)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire), i;

	header(sb, name, "counter", help);
	for (i = 0; i < n; i++) {
		strbuf_printf(sb, "%s{model=", name);
		label(sb, t->rows[i].a);
		strbuf_printf(sb, ",%s=", b_name);
		label(sb, t->rows[i].b);
		strbuf_printf(sb, "} %llu\n",
			      (unsigned long long)total(rows + i * sizeof(atomic_uint_fast64_t)));
	}
}

static void render_items(struct strbuf *sb)
{
	size_t i;
	uint64_t cum = 0;

	render_counter_table(sb, "shelfcast_predicted_items_total", "Items scored, by model and version.",
			     &items_table, "version", offsetof(struct metrics_shard, items_rows));
	render_counter_table(sb, "shelfcast_recommended_items_total",
			     "Items /v1/recommend answered, by model and version.", &recommended_table, "version",
			     offsetof(struct metrics_shard, recommended_rows));
	header(sb, "shelfcast_predict_items_per_request", "histogram",
	       "Items per successful /v1/predict request.");
	for (i = 0; i <= N_ITEMS; i++) {
		cum += TOTAL(items_bucket[i]);
		if (i < N_ITEMS)
			strbuf_printf(sb, "shelfcast_predict_items_per_request_bucket{le=\"%g\"} %llu\n",
				      item_buckets[i], (unsigned long long)cum);
		else
			strbuf_printf(sb, "shelfcast_predict_items_per_request_bucket{le=\"+Inf\"} %llu\n",
				      (unsigned long long)cum);
	}
	strbuf_printf(sb, "shelfcast_predict_items_per_request_sum %llu\n",
		      (unsigned long long)TOTAL(items_sum));
	strbuf_printf(sb, "shelfcast_predict_items_per_request_count %llu\n", (unsigned long long)cum);

	render_counter_table(sb, "shelfcast_unknown_categories_total",
			     "Categorical values outside the training vocabulary, by model and feature.", &unknown_table,
			     "feature", offsetof(struct metrics_shard, unknown_rows));
}

static void render_models(struct strbuf *sb, struct store *store, struct watcher *watcher)
{
	uint64_t ok, failed;
	size_t n = 0, i;
	struct model **models = store ? store_snapshot(store, &n) : NULL;

	header(sb, "shelfcast_model_info", "gauge", "The model versions this process serves (value 1).");
	for (i = 0; i < n; i++) {
		strbuf_puts(sb, "shelfcast_model_info{model=");
		label(sb, models[i]->name);
		strbuf_printf(sb, ",version=\"%d\"} 1\n", models[i]->version);
	}
	store_release_all(models, n);
	watcher_loads(watcher, &ok, &failed);
	header(sb, "shelfcast_model_loads_total", "counter", "Model version loads by result.");
	strbuf_printf(sb, "shelfcast_model_loads_total{result=\"success\"} %llu\n", (unsigned long long)ok);
	strbuf_printf(sb, "shelfcast_model_loads_total{result=\"failure\"} %llu\n",
		      (unsigned long long)failed);
	header(sb, "shelfcast_model_load_failures_total", "counter",
	       "Model versions that failed validation or could not be read.");
	strbuf_printf(sb, "shelfcast_model_load_failures_total %llu\n", (unsigned long long)failed);
	header(sb, "shelfcast_db_up", "gauge", "1 when the registry database answers, else 0.");
	strbuf_printf(sb, "shelfcast_db_up %d\n", watcher_db_up(watcher) ? 1 : 0);
}

/* The drift gauges, one per figure of struct drift_stat (drift_figure). */
static const struct {
	const char *name, *help;
} drift_gauges[] = {
	{"shelfcast_feature_psi", "Population stability index of a feature's window against its training "
	 "reference (NaN until the window holds enough of its values)."},
	{"shelfcast_feature_missing_ratio", "Share of the window's items missing the feature."},
	{"shelfcast_feature_out_of_range_ratio", "Share of the window's items with a numeric feature "
	 "outside its winsorizing range."},
	{"shelfcast_feature_unknown_ratio", "Share of the window's items with a categorical feature "
	 "outside its vocabulary."},
};

static double drift_figure(const struct drift_stat *s, size_t gauge)
{
	switch (gauge) {
	case 0:
		return s->psi;
	case 1:
		return s->missing_rate;
	case 2:
		return s->out_of_range_rate;
	default:
		return s->unknown_rate;
	}
}

/* Input drift of every served version with a window: the window's items, then each figure. */
static void render_drift(struct strbuf *sb, struct store *store)
{
	size_t n = 0, i, g, f, items;
	struct model **models = store ? store_snapshot(store, &n) : NULL;
	struct drift_stat **st = calloc(n + 1, sizeof *st);

	header(sb, "shelfcast_drift_window_items", "gauge",
	       "Scored items in a served version's input-drift window (serve --drift-window).");
	for (i = 0; st && i < n; i++) {
		struct drift_window *w = model_drift_peek(models[i]);
		if (!w || !(st[i] = calloc(drift_features(&models[i]->spec) + 1, sizeof **st)))
			continue;
		drift_window_stats(w, st[i], &items);
		strbuf_puts(sb, "shelfcast_drift_window_items{model=");
		label(sb, models[i]->name);
		strbuf_printf(sb, ",version=\"%d\"} %zu\n", models[i]->version, items);
	}
	for (g = 0; g < sizeof drift_gauges / sizeof drift_gauges[0]; g++) {
		header(sb, drift_gauges[g].name, "gauge", drift_gauges[g].help);
		for (i = 0; st && i < n; i++)
			for (f = 0; st[i] && f < drift_features(&models[i]->spec); f++) {
				double v = drift_figure(&st[i][f], g);
				/* a PSI not there yet is NaN (no alert fires on it); a rate that does not apply is no line */
				if (isnan(v) && (g != 0 || !st[i][f].values))
					continue;
				strbuf_printf(sb, "%s{model=", drift_gauges[g].name);
				label(sb, models[i]->name);
				strbuf_puts(sb, ",feature=");
				label(sb, drift_feature_name(&models[i]->spec, f));
				if (isnan(v))
					strbuf_puts(sb, "} NaN\n");
				else
					strbuf_printf(sb, "} %.9g\n", v);
			}
	}
	for (i = 0; st && i < n; i++)
		free(st[i]);
	free(st);
	store_release_all(models, n);
}

static void render_process(struct strbuf *sb)
{
	struct rusage ru;
	double cpu = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	header(sb, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	strbuf_printf(sb, "process_resident_memory_bytes %zu\n", util_rss_bytes());
	header(sb, "process_open_fds", "gauge", "Number of open file descriptors.");
	strbuf_printf(sb, "process_open_fds %d\n", util_open_fds());
	header(sb, "process_start_time_seconds", "gauge",
	       "Start time of the process since the Unix epoch in seconds.");
	strbuf_printf(sb, "process_start_time_seconds %.3f\n", M.start_time);
	header(sb, "shelfcast_heap_trims_total", "counter",
	       "Times the server gave the heap's free memory back to the system after a burst of request bodies.");
	strbuf_printf(sb, "shelfcast_heap_trims_total %llu\n", (unsigned long long)atomic_load(&M.heap_trims));
	header(sb, "process_cpu_seconds_total", "counter", "Total user and system CPU time in seconds.");
	strbuf_printf(sb, "process_cpu_seconds_total %.3f\n", cpu);
	header(sb, "shelfcast_build_info", "gauge", "Build information (value 1).");
	strbuf_puts(sb, "shelfcast_build_info{version=");
	label(sb, SHELFCAST_VERSION);
	strbuf_puts(sb, ",commit=");
	label(sb, SHELFCAST_COMMIT);
	strbuf_puts(sb, ",blas=");
	label(sb, openblas_get_config());
	strbuf_puts(sb, "} 1\n");
}

void metrics_render_predlog(struct strbuf *sb, struct predlog *log)
{
	static const char *const gauges[][2] = {
		{"sales_r2_log", "R2 of the sales head in the target's scale over the live window."},
		{"sales_mae_log", "Mean absolute error in the target's scale over the live window."},
		{"sales_wmape", "Weighted MAPE of predicted units over the live window."},
		{"exposure_auc", "AUC of the exposure probability over the live window."},
		{"interval_coverage", "Share of outcomes inside their predicted interval over the live window."},
	};
	struct predlog_stats st;
	char *text = predlog_live(log);
	json_t *live = text ? jsonutil_loadb(text, strlen(text), 0, NULL) : NULL, *versions, *v;
	const char *name, *version;
	size_t g;

	predlog_stats(log, &st);
	header(sb, "shelfcast_prediction_log_written_total", "counter",
	       "Predictions written to the prediction log (shelfcast.predictions).");
	strbuf_printf(sb, "shelfcast_prediction_log_written_total %llu\n", (unsigned long long)st.written);
	header(sb, "shelfcast_prediction_log_dropped_total", "counter",
	       "Predictions not logged: the queue was full, the database away, or left at exit.");
	strbuf_printf(sb, "shelfcast_prediction_log_dropped_total %llu\n", (unsigned long long)st.dropped);
	header(sb, "shelfcast_prediction_log_queued", "gauge", "Predictions waiting to be written.");
	strbuf_printf(sb, "shelfcast_prediction_log_queued %llu\n", (unsigned long long)st.queued);
	header(sb, "shelfcast_live_outcomes", "gauge",
	       "Outcomes recorded for a model version's predictions in the live window.");
	json_object_foreach(json_object_get(live, "models"), name, versions)
		json_object_foreach(versions, version, v) {
			strbuf_puts(sb, "shelfcast_live_outcomes{model=");
			label(sb, name);
			strbuf_puts(sb, ",version=");
			label(sb, version);
			strbuf_printf(sb, "} %lld\n", (long long)json_integer_value(json_object_get(v, "outcomes")));
		}
	for (g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
		char metric[64];
		snprintf(metric, sizeof metric, "shelfcast_live_%s", gauges[g][0]);
		header(sb, metric, "gauge", gauges[g][1]);
		json_object_foreach(json_object_get(live, "models"), name, versions)
			json_object_foreach(versions, version, v) {
				json_t *x = json_object_get(v, gauges[g][0]);
				if (!json_is_number(x))
					continue;
				strbuf_puts(sb, metric);
				strbuf_puts(sb, "{model=");
				label(sb, name);
				strbuf_puts(sb, ",version=");
				label(sb, version);
				strbuf_puts(sb, "} ");
				strbuf_json_double(sb, json_number_value(x), 10);
				strbuf_putc(sb, '\n');
			}
	}
	json_decref(live);
	free(text);
}

void metrics_observe_heap_trim(void)
{
	atomic_fetch_add(&M.heap_trims, 1);
}

void metrics_render(struct strbuf *sb, struct store *store, struct watcher *watcher)
{
	render_requests(sb);
	render_items(sb);
	render_models(sb, store, watcher);
	render_drift(sb, store);
	render_process(sb);
}

/*
 * bench_jansson — the floor under any jansson-based /v1/predict: parse a
 * request body and read every field of every item, nothing else, on T
 * threads (the server's worker count) for S seconds; prints items/s.
 *
 * usage: bench_jansson BODY.json [THREADS] [SECONDS]
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

static char *body;
static size_t body_len;
static double seconds;
static atomic_ulong items_total;
static volatile double sink;

static void *work(void *arg)
{
	double t0 = util_now_s();
	unsigned long items = 0;
	(void)arg;
	while (util_now_s() - t0 < seconds) {
		json_error_t err;
		json_t *root = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &err), *arr, *it;
		size_t i;
		double acc = 0;
		if (!root) {
			fprintf(stderr, "bench_jansson: %s\n", err.text);
			exit(1);
		}
		arr = json_object_get(root, "items");
		json_array_foreach(arr, i, it) {
			const char *key;
			json_t *v, *features = json_object_get(it, "features");
			json_t *id = json_object_get(it, "id");
			acc += json_is_string(id) ? (double)json_string_length(id) : 0;
			json_object_foreach(features, key, v) {
				if (json_is_number(v))
					acc += json_number_value(v);
				else if (json_is_string(v))
					acc += (double)json_string_length(v);
				acc += key[0];
			}
			items++;
		}
		sink += acc;
		json_decref(root);
	}
	atomic_fetch_add(&items_total, items);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 2, i;
	pthread_t t[64];
	struct error err;
	double t0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_jansson BODY.json [THREADS] [SECONDS]\n");
		return 2;
	}
	seconds = argc > 3 ? atof(argv[3]) : 5;
	error_init(&err);
	if (util_read_file(argv[1], 1 << 30, &body, &body_len, &err) != ERROR_OK) {
		fprintf(stderr, "bench_jansson: %s\n", err.message);
		return 1;
	}
	json_object_seed(0);
	if (threads < 1 || threads > 64)
		threads = 2;
	t0 = util_now_s();
	for (i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, work, NULL);
	for (i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("%.0f\n", (double)atomic_load(&items_total) / (util_now_s() - t0));
	free(body);
	return 0;
}

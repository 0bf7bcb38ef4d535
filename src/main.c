/*
 * shelfcast — launch forecasting: how many units will a new item sell, how
 * likely is it to be featured, and which promotion level should it launch
 * with.  One binary: serve the API, train and register models, manage the
 * registry.  See README.md.
 */
#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_commit.h"
#include "build_config.h"
#include "cli/cli.h"
#include "shelfcast/log.h"
#include "shelfcast/migrate.h"

static int cmd_version(int argc, char **argv)
{
	static const struct cli_command cmd = {"version", "Print the version, build and BLAS.",
					       "shelfcast version", NULL, 0, 0, 0};
	char **args = NULL;
	size_t n;
	int code;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	printf("shelfcast %s (commit %s, %s build, schema %d)\nBLAS: %s\n", SHELFCAST_VERSION,
	       SHELFCAST_COMMIT, SHELFCAST_BUILD_TYPE, migrate_latest(), openblas_get_config());
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{"serve", cmd_serve, "serve the JSON API (POST /v1/predict, /v1/recommend, /v1/models, /metrics, ...)"},
	{"migrate", cmd_migrate, "apply the registry's schema migrations"},
	{"train", cmd_train, "train a model from a CSV (or SQL) and register it"},
	{"dataset", cmd_dataset, "export what train would train on, as shards for another trainer"},
	{"models", cmd_models, "list, show, activate, roll back, archive, export, import models"},
	{"predict", cmd_predict, "score a CSV offline with a registered model"},
	{"outcomes", cmd_outcomes, "import what happened to logged predictions (outcomes import --data FILE.csv)"},
	{"recommend", cmd_recommend, "recommend launch prices and promotion levels for a CSV offline"},
	{"demo-data", cmd_demo_data, "write a synthetic catalog with a known ground truth"},
	{"healthcheck", cmd_healthcheck, "GET /healthz of a running server (container HEALTHCHECK)"},
	{"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
	size_t i;
	fprintf(f, "usage: shelfcast <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`shelfcast <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
	const char *level = getenv("SHELFCAST_LOG_LEVEL");
	size_t i;

	if (level && !strcmp(level, "debug"))
		log_set_level(LOG_DEBUG);
	else if (level && !strcmp(level, "warn"))
		log_set_level(LOG_WARN);
	else if (level && !strcmp(level, "error"))
		log_set_level(LOG_ERROR);
	/* jansson's hash seed must be set before any thread uses jansson. */
	json_object_seed(0);
	cli_catch_signals();

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "shelfcast: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}

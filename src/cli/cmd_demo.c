/* shelfcast demo-data — a synthetic catalog with a documented ground truth. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/demo.h"

int cmd_demo_data(int argc, char **argv)
{
	const char *rows = "10000", *seed = "7", *out_path = NULL, *truth_path = NULL;
	const struct cli_option options[] = {
		{"--rows", NULL, CLI_STRING, &rows, NULL, "N", "items to write (default 10000)"},
		{"--seed", NULL, CLI_STRING, &seed, NULL, "S", "random seed (default 7)"},
		{"--out", NULL, CLI_STRING, &out_path, NULL, "FILE", "write here (default stdout)"},
		{"--truth", NULL, CLI_STRING, &truth_path, NULL, "FILE",
		 "also write each item's expected units and revenue at every level, and its best level"}};
	const struct cli_command cmd = {
		"demo-data",
		"Write a synthetic catalog (price, weight, brand, category, promotion level, units,\n"
		"featured) drawn from the ground-truth model documented in the README.",
		"shelfcast demo-data [--rows N] [--seed S] [--out FILE] [--truth FILE]", options,
		sizeof options / sizeof options[0], 0, 0};
	unsigned long long n_rows, s;
	struct error err;
	FILE *out = stdout, *truth = NULL;
	char **args = NULL;
	size_t n;
	int code;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if (!cli_uint("--rows", rows, 1, 100000000, &n_rows) ||
	    !cli_uint("--seed", seed, 0, 0x7fffffffffffffffULL, &s))
		return EXIT_USAGE;
	error_init(&err);
	if (out_path && !(out = fopen(out_path, "we"))) {
		fprintf(stderr, "shelfcast demo-data: error: cannot create %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	if (truth_path && !(truth = fopen(truth_path, "we"))) {
		fprintf(stderr, "shelfcast demo-data: error: cannot create %s: %s\n", truth_path,
			strerror(errno));
		if (out != stdout)
			fclose(out);
		return 1;
	}
	code = demo_write(out, truth, (size_t)n_rows, s, &err) == ERROR_OK ? 0 : cli_fail("demo-data", &err);
	if (truth && fclose(truth) != 0)
		code = 1;
	if (out != stdout && fclose(out) != 0)
		code = 1;
	return code;
}

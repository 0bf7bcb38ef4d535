/* shelfcast demo-data — a synthetic catalog with a documented ground truth. */
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
		 "also write each item's true demand: at its listed price and at any price"}};
	const struct cli_command cmd = {
		"demo-data",
		"Write a synthetic catalog (price, weight, brand, category, promotion level, units,\n"
		"featured, unit cost) drawn from the ground-truth model documented in docs/training.md.\n"
		"--truth writes, per item: best_level, units_0..3 and revenue_0..3 at the listed price;\n"
		"reference_price, unit_cost, elasticity and scale_0..3, where the expected units at\n"
		"price q and level L are scale_L * q^-elasticity.",
		"shelfcast demo-data [--rows N] [--seed S] [--out FILE] [--truth FILE]", options,
		sizeof options / sizeof options[0], 0, 0};
	unsigned long long n_rows, s;
	struct error err;
	struct cli_out out = {0}, truth = {0};
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
	out.f = stdout;
	if ((out_path && cli_out_open(&out, out_path, &err) != ERROR_OK) ||
	    (truth_path && cli_out_open(&truth, truth_path, &err) != ERROR_OK) ||
	    demo_write(out.f, truth.f, (size_t)n_rows, s, &err) != ERROR_OK ||
	    (truth_path && cli_out_commit(&truth, &err) != ERROR_OK) ||
	    (out_path && cli_out_commit(&out, &err) != ERROR_OK)) {
		if (out_path)
			cli_out_abort(&out);
		cli_out_abort(&truth);
		return cli_fail("demo-data", &err);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

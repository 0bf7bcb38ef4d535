/*
 * bench_numfmt — what a reply's number costs: numfmt_g against
 * snprintf("%.7g") in the same run, on a million values spread over the
 * magnitudes replies carry (1e-2 to 2e4, log-uniform), the best of five
 * passes each; prints ns per number and the ratio.  (In this process
 * snprintf takes glibc's slow positional path too, as it does in the
 * server: libopenblas is linked; see numfmt.h.)
 *
 * usage: bench_numfmt
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "shelfcast/numfmt.h"
#include "shelfcast/util.h"

#define N 1000000
#define PASSES 5

static double best_pass(const double *v, int use_snprintf, size_t *sink)
{
	char buf[64];
	double best = INFINITY;
	int pass;
	size_t i;

	for (pass = 0; pass < PASSES; pass++) {
		double t0 = util_now_s(), t;
		for (i = 0; i < N; i++)
			*sink += use_snprintf ? (size_t)snprintf(buf, sizeof buf, "%.7g", v[i]) : numfmt_g(buf, v[i], 7);
		t = util_now_s() - t0;
		if (t < best)
			best = t;
	}
	return best / N * 1e9;
}

int main(void)
{
	double *v = malloc(N * sizeof *v), ours, libc;
	uint64_t s = 7;
	size_t i, sink = 0;

	if (!v)
		return 1;
	for (i = 0; i < N; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		v[i] = exp((double)(s >> 11) / 9007199254740992.0 * 14.0 - 4.6); /* 0.01 .. 2e4 */
	}
	ours = best_pass(v, 0, &sink);
	libc = best_pass(v, 1, &sink);
	printf("numfmt_g %.1f ns a number, snprintf(\"%%.7g\") %.1f ns: %.2fx (%zu bytes)\n", ours, libc, libc / ours, sink);
	free(v);
	return 0;
}

/*
 * rng — a small seeded generator (splitmix64) for what must be reproducible
 * from a seed: data splits, minibatch shuffles, initial weights.  Not for
 * anything secret.
 *
 * Thread-safety: a generator is the caller's; separate generators are
 * independent.
 */
#ifndef SHELFCAST_RNG_H
#define SHELFCAST_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s; /* the state: set it to the seed */
};

/* The next 64 random bits. */
uint64_t rng_next(struct rng *r);
/* Uniform on [0, 1), 53 bits. */
double rng_uniform(struct rng *r);
/* a: (n) permuted in place (Fisher-Yates). */
void rng_shuffle(struct rng *r, size_t *a, size_t n);

#endif

/*
 * adam — the Adam optimizer's state and update (Kingma & Ba), with
 * decoupled weight decay (AdamW), over a flat float parameter vector:
 *
 *   m = b1 m + (1 - b1) g        v = b2 v + (1 - b2) g^2
 *   p -= lr ((m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p)
 *
 * b1 = 0.9, b2 = 0.999, eps = 1e-8, as PyTorch's defaults.  Arithmetic in
 * double, moments stored as float.
 *
 * Thread-safety: the state is the caller's.
 */
#ifndef SHELFCAST_ADAM_H
#define SHELFCAST_ADAM_H

#include <stddef.h>

#include "shelfcast/error.h"

struct adam {
	size_t n;       /* parameters */
	float *m, *v;   /* owned: (n) first and second moments */
	long step;      /* steps begun */
	double c1, c2;  /* this step's bias corrections: 1 - b1^step, 1 - b2^step */
};

/* Zero moments for n parameters. */
enum error_code adam_init(struct adam *a, size_t n, struct error *err);
void adam_done(struct adam *a);

/* Start the next step (its bias corrections); then adam_update each part of the vector. */
void adam_begin_step(struct adam *a);
/*
 * Update parameters [off, off + n): p and g point at the whole vector
 * (p: (a->n) updated, g: (a->n) the gradient).  wd: decoupled weight decay, 0 for none.
 */
void adam_update(struct adam *a, float *p, const float *g, size_t off, size_t n, double lr,
		 double wd);

#endif

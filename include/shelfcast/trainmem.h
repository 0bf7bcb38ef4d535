/*
 * trainmem — what a training run will hold in memory, checked before it
 * allocates anything large, so a dataset too wide for the machine is refused
 * with the reason instead of exhausting memory or stalling in swap.
 *
 * The estimate follows train_run's allocations (src/train/train.c):
 *   encoded rows       N x d floats (one-hot categoricals make d large)
 *   targets, split     N x 7 words
 *   network            7 copies of the parameters (weights, gradients, Adam's
 *                      two moments, best, running average and its copy)
 *                      and activations, deltas: B x (every layer width) floats
 *   baselines          baseline.h: the dense (D, D) system up to
 *                      BASELINE_DENSE_MAX, else O(D) plus a 16 MiB row block
 * and is compared with the memory the process may still take: the smallest
 * of the kernel's MemAvailable, the cgroup's memory.max less memory.current,
 * and RLIMIT_AS / RLIMIT_DATA.
 *
 * Thread-safety: pure functions (they read /proc and /sys).
 */
#ifndef SHELFCAST_TRAINMEM_H
#define SHELFCAST_TRAINMEM_H

#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/spec.h"

/* Bytes a run on n_rows rows of this fitted spec, with batches of B rows, needs at its peak. */
double trainmem_need(const struct spec *spec, size_t n_rows, size_t B);

/* Bytes this process may still allocate (see above); a very large number when nothing says. */
double trainmem_available(void);

/*
 * ERROR_TOO_LARGE when trainmem_need exceeds trainmem_available, naming
 * both, the rows x inputs behind them and the widest categorical feature,
 * and what to change in the dataset config.
 */
enum error_code trainmem_check(const struct spec *spec, size_t n_rows, size_t B, struct error *err);

#endif

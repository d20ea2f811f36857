/* dist.h - the data-parallel side of the trainer (dist.c): gradients summed over the ranks of a
 * clft_comm through host staging buckets, global sums of counts and losses, rank 0's state sent to
 * every rank. The trainer (trainer.c) calls these at fixed points of its step order. */
#ifndef CLFT_TRAIN_DIST_H
#define CLFT_TRAIN_DIST_H

#include "model/model.h"

typedef struct clft_dist clft_dist;

/* A communicator for m's trainable parameters; bucket_bytes 0: 16 MiB. *out owned: clft_dist_free. */
clft_status clft_dist_create(clft_model *m, const clft_comm *comm, size_t bucket_bytes, clft_dist **out);
void clft_dist_free(clft_dist *d);
/* In-place sum of n doubles over every rank. */
clft_status clft_dist_sum_f64(clft_dist *d, double *x, size_t n);
/* on = 1: the backward of the next forward + backward starts each layer's all-reduce as soon as
 * the layer is done (m->layer_grads_done); 0 removes the hook. For the last micro-batch of a step. */
void clft_dist_overlap(clft_dist *d, int on);
/* Every trainable gradient summed over the ranks (written back to the device), the groups the
 * backward started and the rest; *sumsq the sum of squares of the summed gradients, in one order
 * on every rank; *seconds the time this call took (the all-reduce not hidden behind the backward). */
clft_status clft_dist_allreduce_grads(clft_dist *d, double *sumsq, double *seconds);
/* Rank 0's trainable weights, moments, step and bad-step count to every rank. */
clft_status clft_dist_broadcast_state(clft_dist *d);

#endif

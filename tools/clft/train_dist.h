/* train_dist.h - `clft train` as one rank of a data-parallel run under mpirun (train_dist.c): the
 * rank's device from --devices, the global batch, the start-up check that every rank runs the same
 * clft, model, data and settings, each step's share of the global batch (--balance equal|speed),
 * and the clft_comm the trainer sums gradients through (MPI, non-blocking and polled, so that a
 * dead or hung rank ends the run after --dist-timeout instead of hanging it). Without CLFT_MPI the
 * run is one process and the multi-device flags say so. */
#ifndef CLFT_TOOL_TRAIN_DIST_H
#define CLFT_TOOL_TRAIN_DIST_H

#include <signal.h>

#include "clft.h"
#include "train_config.h"

typedef struct train_dist {
    int rank, size, local_rank;
    int mpi;                         /* MPI was initialized (launched by mpirun with CLFT_MPI) */
    double timeout;                  /* --dist-timeout */
    int patient;                     /* rank 0 works alone now (or the first step): 20 x timeout */
    volatile sig_atomic_t *signaled; /* set by the signal handler */
    const char *phase;               /* what the ranks are doing now (named in errors) */
    char err[512];                   /* the last communication failure ("" none) */
    clft_comm comm;
    /* the split of the global batch */
    int speed;                   /* --balance speed */
    int64_t every, steps;        /* re-measure period; steps taken by this process */
    int *rows;                   /* rows of each micro-step's global batch per rank */
    double *rate;                /* measured rows/s per rank (0: not yet) */
    double *acc_rows, *acc_time; /* per rank since the last measurement */
    double *last;                /* per rank of the last step: compute s, rows, tokens, signal */
    double comm_s;               /* this rank's all-reduce seconds in the last step */
    int changed;                 /* the split changed in the last step */
} train_dist;

/* 1 when clft was built with MPI. */
int train_dist_built(void);
/* Join the run (MPI_Init when launched by mpirun and built with MPI); d->size 1 otherwise. 0 or an
 * exit code (an mpirun launch of a clft built without MPI). */
int train_dist_start(train_dist *d, volatile sig_atomic_t *signaled);
/* Leave: MPI_Finalize after success; after a failure, MPI_Abort so that no rank waits. */
void train_dist_end(train_dist *d, int rc);
/* The rank's device from --devices, the global batch and the balance settings into c (argv: was
 * --batch given on the command line). 0 or an exit code (message printed). */
int train_dist_setup(train_dist *d, train_config *c, int argc, char **argv);
/* Every rank the same clft, settings, model and data? 0, or 2 with the difference printed (rank 0). */
int train_dist_handshake(train_dist *d, const train_config *c, const clft_model_config *mc,
                         const clft_dataset_stats *ds);
/* rank 0's bytes to every rank, waiting as long as rank 0 may work alone (20 x --dist-timeout). */
clft_status train_dist_bcast(train_dist *d, void *p, size_t bytes, const char *phase);
/* One optimizer step on this rank's share of the n global micro-batches (each global_rows x T):
 * *stop becomes 1 on every rank when any rank got a signal. */
clft_status train_dist_step(train_dist *d, clft_trainer *tr, clft_batch *global, int n, int planned_rows, int *stop,
                            clft_step_stats *s);
/* The data-parallel fields of a metrics line (", \"ranks\": ..."), "" for one process. */
void train_dist_metrics(const train_dist *d, char *buf, size_t cap);
/* Print the failure of a step: the communication error if there was one, else the status. */
int train_dist_fail(const train_dist *d, const char *cmd, clft_status st);

#endif

/* train_dist.c - `clft train` as one rank of a data-parallel run (train_dist.h). Every rank loads
 * the same data in the same seeded order and draws each global batch whole; rank r trains on rows
 * [sum of rows[<r], + rows[r]) of it, in micro-batches of at most --batch rows, and the trainer sums
 * the gradients over the ranks (src/train/dist.c) through the clft_comm made here. MPI calls are
 * non-blocking and polled: a rank that has not answered after --dist-timeout seconds (dead, hung or
 * stopped) ends the run with one line saying so, and MPI_Abort takes the whole job down; the last
 * checkpoint is untouched. With --balance speed the rows of each global batch follow the ranks'
 * measured rows per second (steps 2-4, then every --balance-every steps): only the partition of the
 * same global batch changes, so the losses are those of an equal split. Built without CLFT_MPI
 * (CMake option), a run is one process and the multi-device flags say that MPI is missing. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "train_dist.h"

#ifdef CLFT_HAVE_MPI
#include <mpi.h>
#endif

#define CMD "train"

int train_dist_built(void) {
#ifdef CLFT_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef CLFT_HAVE_MPI
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the gradient buckets in flight: at most the trainer's staging ring (STAGES, src/train/dist.c); the
 * other collectives wait on a request of their own */
static MPI_Request g_req[4];
static int g_req_used[4];

static clft_status comm_error(train_dist *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    return CLFT_STATUS_ABORTED;
}

/* Poll rq until it completes or the timeout passes: --dist-timeout in the steps, 20 times that while
 * rank 0 alone works (start-up, evaluation, samples, checkpoints; the first step builds kernels).
 * A rank that dies is mpirun's to notice: it stops every rank. */
static clft_status wait_req(train_dist *d, MPI_Request *rq) {
    const double t0 = now_s(), limit = d->timeout * (d->patient ? 20 : 1);
    long ns = 20000;
    for (;;) {
        int done = 0;
        const int rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING] = "";
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            return comm_error(d, "rank %d: MPI failed in %s: %s", d->rank, d->phase, msg);
        }
        if (done) return CLFT_OK;
        const double t = now_s();
        if (t - t0 > limit)
            return comm_error(d,
                              "rank %d: no answer from the other ranks for %.0f s in %s: a rank died or hangs "
                              "(--dist-timeout %g%s); the last checkpoint is intact, continue with --resume",
                              d->rank, t - t0, d->phase, d->timeout,
                              d->patient ? ", 20x while rank 0 works alone" : "");
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000) ns *= 2;
    }
}

static clft_status cb_start(void *user, float *x, size_t n, void **req) {
    train_dist *d = user;
    int i = 0;
    while (i < 4 && g_req_used[i])
        i++;
    if (i == 4 || n > INT_MAX)
        return comm_error(d, "rank %d: all-reduce of %zu floats: too many in flight", d->rank, n);
    if (MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_req[i]) != MPI_SUCCESS)
        return comm_error(d, "rank %d: MPI_Iallreduce failed in %s", d->rank, d->phase);
    g_req_used[i] = 1;
    *req = &g_req[i];
    return CLFT_OK;
}

static clft_status cb_wait(void *user, void *req) {
    train_dist *d = user;
    const clft_status st = wait_req(d, req);
    g_req_used[(MPI_Request *)req - g_req] = 0;
    return st;
}

static clft_status cb_f64(void *user, double *x, size_t n) {
    train_dist *d = user;
    MPI_Request rq;
    if (MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &rq) != MPI_SUCCESS)
        return comm_error(d, "rank %d: MPI_Iallreduce failed in %s", d->rank, d->phase);
    return wait_req(d, &rq);
}

static clft_status cb_bcast(void *user, void *p, size_t bytes) {
    train_dist *d = user;
    for (size_t at = 0; at < bytes;) {
        const size_t n = bytes - at < (size_t)1 << 30 ? bytes - at : (size_t)1 << 30;
        MPI_Request rq;
        if (MPI_Ibcast((char *)p + at, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD, &rq) != MPI_SUCCESS)
            return comm_error(d, "rank %d: MPI_Ibcast failed in %s", d->rank, d->phase);
        if (wait_req(d, &rq) != CLFT_OK) return CLFT_STATUS_ABORTED;
        at += n;
    }
    return CLFT_OK;
}
#endif

int train_dist_start(train_dist *d, volatile sig_atomic_t *signaled) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    d->signaled = signaled;
    d->timeout = 300;
    d->phase = "start-up";
    d->patient = 1; /* until the first step is done */
    const int launched = clft_mpi_launch_size();
    if (!launched) return 0; /* not started by mpirun */
#ifdef CLFT_HAVE_MPI
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "clft " CMD ": MPI_Init failed\n");
        return 1;
    }
    d->mpi = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &d->local_rank);
        MPI_Comm_free(&local);
    }
    d->comm = (clft_comm){d->rank, d->size, d, cb_start, cb_wait, cb_f64, cb_bcast};
    return 0;
#else
    if (launched > 1) {
        fprintf(stderr,
                "clft " CMD ": started by mpirun as one of %d ranks, but this clft was built without MPI "
                "(configure with -DCLFT_MPI=ON): each rank would train alone\n",
                launched);
        return 2;
    }
    return 0;
#endif
}

void train_dist_end(train_dist *d, int rc) {
    free(d->rows), free(d->rate), free(d->acc_rows), free(d->acc_time), free(d->last);
    d->rows = NULL, d->rate = d->acc_rows = d->acc_time = d->last = NULL;
#ifdef CLFT_HAVE_MPI
    if (!d->mpi) return;
    fflush(stdout), fflush(stderr);
    /* after a failure no rank may wait for this one; an interrupt (130) is agreed by every rank */
    if (rc != 0 && rc != 130 && d->size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    d->mpi = 0;
#else
    (void)rc;
#endif
}

static int given_on_command_line(int argc, char **argv, const char *flag) {
    const size_t n = strlen(flag);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], flag, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}

/* rows[] = the global batch g split by weights w (NULL: equally), largest remainders first, at least
 * one row per rank while there are rows for every rank */
static void split_rows(int *rows, const double *w, int size, int g) {
    double sum = 0;
    for (int r = 0; r < size; r++)
        sum += w ? w[r] : 1.0;
    const int floor1 = g >= size;
    int left = g;
    double *rem = calloc((size_t)size, sizeof *rem);
    for (int r = 0; r < size; r++) {
        const double want = g * (w ? w[r] : 1.0) / sum;
        rows[r] = (int)floor(want);
        if (floor1 && rows[r] < 1) rows[r] = 1;
        if (rem) rem[r] = want - floor(want);
        left -= rows[r];
    }
    while (left > 0) { /* the largest remainder gets the next row */
        int best = 0;
        for (int r = 1; r < size; r++)
            if (rem && rem[r] > rem[best]) best = r;
        rows[best]++;
        if (rem) rem[best] = -1;
        left--;
    }
    while (left < 0) { /* the one-row floor took too many: from the largest share */
        int best = 0;
        for (int r = 1; r < size; r++)
            if (rows[r] > rows[best]) best = r;
        rows[best]--;
        left++;
    }
    free(rem);
}

int train_dist_setup(train_dist *d, train_config *c, int argc, char **argv) {
    if (!(c->dist_timeout > 0)) return cli_usage_error(CMD, "--dist-timeout %g: must be positive", c->dist_timeout);
    d->timeout = c->dist_timeout;
    if (strcmp(c->balance, "equal") && strcmp(c->balance, "speed"))
        return cli_usage_error(CMD, "--balance '%s': use equal or speed", c->balance);
    d->speed = !strcmp(c->balance, "speed");
    if (c->balance_every < 1)
        return cli_usage_error(CMD, "--balance-every %lld: must be at least 1", (long long)c->balance_every);
    d->every = c->balance_every;
    if (c->devices[0]) {
        int n = 1;
        for (const char *p = c->devices; *p; p++)
            n += *p == ',';
        if (given_on_command_line(argc, argv, "--device")) /* a resumed run's saved device is the last pick */
            return cli_usage_error(CMD, "give --device or --devices, not both");
        if (d->size == 1 && n > 1) {
            if (!train_dist_built())
                return cli_usage_error(CMD,
                                       "--devices lists %d devices, but this clft was built without MPI: configure "
                                       "with -DCLFT_MPI=ON and start one rank per device with mpirun -np %d",
                                       n, n);
            return cli_usage_error(CMD,
                                   "--devices lists %d devices for one process: start one rank per device with "
                                   "mpirun -np %d clft train ...",
                                   n, n);
        }
        if (d->local_rank >= n)
            return cli_usage_error(CMD,
                                   "--devices lists %d device%s, but this host runs local rank %d (one entry per "
                                   "rank of a host)",
                                   n, n > 1 ? "s" : "", d->local_rank);
        const char *p = c->devices;
        for (int i = 0; i < d->local_rank; i++)
            p = strchr(p, ',') + 1;
        const size_t len = strcspn(p, ",");
        if (!len || len >= sizeof c->device)
            return cli_usage_error(CMD, "--devices '%s': entry %d is empty or too long", c->devices, d->local_rank);
        memcpy(c->device, p, len);
        c->device[len] = 0;
        clft_device_info info;
        if (!cli_device_info(c->device, &info, NULL))
            return cli_usage_error(CMD, "--devices: entry %d '%s' (rank %d): %s", d->local_rank, c->device, d->rank,
                                   clft_last_error());
    }
    /* the global batch: kept by a resumed run, --batch follows from it unless given */
    const int batch_given = given_on_command_line(argc, argv, "--batch");
    if (c->batch < 1) return cli_usage_error(CMD, "--batch %d: must be at least 1", c->batch);
    if (c->global_batch < 0) return cli_usage_error(CMD, "--global-batch %d: must be positive", c->global_batch);
    /* any rank count up to the global batch: --batch is then the most rows of a rank (the rows split
     * as evenly as they go: 4 rows over 3 ranks are 2 + 1 + 1) */
    const int per_rank = c->global_batch > 0 ? (c->global_batch + d->size - 1) / d->size : 0;
    if (c->global_batch > 0 && c->global_batch < d->size)
        return cli_usage_error(CMD,
                               "the global batch of %d rows (--global-batch, or the run resumed) has fewer rows "
                               "than the %d ranks",
                               c->global_batch, d->size);
    if (c->global_batch > 0 && !batch_given) {
        c->batch = per_rank;
    } else if (c->global_batch > 0 && c->batch != per_rank &&
               (d->size > 1 || given_on_command_line(argc, argv, "--global-batch"))) {
        return cli_usage_error(CMD,
                               "--batch %d does not fit the global batch of %d rows (--global-batch, or the run "
                               "resumed) over %d rank%s: use --batch %d, or leave it out",
                               c->batch, c->global_batch, d->size, d->size > 1 ? "s" : "", per_rank);
    } else if (c->global_batch <= 0 || d->size == 1) { /* (one process: a resumed run's check names --batch) */
        c->global_batch = c->batch * d->size;
    }
    d->rows = calloc((size_t)d->size, sizeof *d->rows);
    d->rate = calloc((size_t)d->size, sizeof *d->rate);
    d->acc_rows = calloc((size_t)d->size, sizeof *d->acc_rows);
    d->acc_time = calloc((size_t)d->size, sizeof *d->acc_time);
    d->last = calloc((size_t)d->size * 4, sizeof *d->last);
    if (!d->rows || !d->rate || !d->acc_rows || !d->acc_time || !d->last) {
        fprintf(stderr, "clft " CMD ": out of host memory\n");
        return 1;
    }
    split_rows(d->rows, NULL, d->size, c->global_batch);
    return 0;
}

static uint64_t fnv1a_bytes(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
static uint64_t fnv1a(uint64_t h, const char *s) { return fnv1a_bytes(h, (const unsigned char *)s, strlen(s)); }

static int weight_file(const char *name) {
    const size_t n = strlen(name);
    return (n > 12 && !strcmp(name + n - 12, ".safetensors")) || (n > 5 && !strcmp(name + n - 5, ".gguf"));
}

/* A weight file's size and 16 samples of 4 KiB spread over it: two models of one config but other
 * weights (another seed, another checkpoint) differ here, at the cost of 64 KiB read per file. */
static uint64_t file_fingerprint(uint64_t h, const char *path, const char *name) {
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || stat(path, &st) != 0) {
        if (f) fclose(f);
        return fnv1a(h, name);
    }
    char head[320];
    snprintf(head, sizeof head, "%s %lld", name, (long long)st.st_size);
    h = fnv1a(h, head);
    unsigned char buf[4096];
    for (int i = 0; i < 16; i++) {
        const long long at = (long long)st.st_size / 16 * i;
        if (fseeko(f, (off_t)at, SEEK_SET) != 0) break;
        h = fnv1a_bytes(h, buf, fread(buf, 1, sizeof buf, f));
    }
    fclose(f);
    return h;
}

/* The weight files of a model folder (names in order) or the model file itself. */
static uint64_t weights_fingerprint(uint64_t h, const char *model) {
    DIR *d = opendir(model);
    if (!d) return file_fingerprint(h, model, "model");
    char names[64][256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 64;)
        if (weight_file(e->d_name) && strlen(e->d_name) < sizeof names[0]) snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++) /* readdir's order is the file system's: sort the names */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    for (int i = 0; i < n; i++) {
        char path[4400];
        const int len = snprintf(path, sizeof path, "%s/%s", model, names[i]);
        if (len > 0 && (size_t)len < sizeof path) h = file_fingerprint(h, path, names[i]);
    }
    return h;
}

int train_dist_handshake(train_dist *d, const train_config *c, const clft_model_config *mc,
                         const clft_dataset_stats *ds) {
    if (d->size <= 1) return 0;
    /* the settings that decide the trained result: per-rank and per-host values left out */
    train_config k = *c;
    k.device[0] = k.devices[0] = k.out[0] = k.model[0] = k.data[0] = k.adapter[0] = 0;
    for (int i = 0; i < k.n_eval; i++)
        k.eval_path[i][0] = 0;
    k.quiet = 0;
    k.log_every = 1;
    char *js = train_config_json(&k);
    char text[1024];
    snprintf(text, sizeof text, "%d %lld %lld %lld %lld %lld %lld %lld %.17g %.17g %lld %d %d %d %d %d %lld",
             (int)mc->arch, (long long)mc->vocab_size, (long long)mc->hidden_size, (long long)mc->intermediate_size,
             (long long)mc->num_layers, (long long)mc->num_heads, (long long)mc->num_kv_heads, (long long)mc->head_dim,
             mc->rms_norm_eps, mc->rope_theta, (long long)mc->max_position_embeddings, mc->tie_word_embeddings,
             mc->qkv_bias, mc->o_bias, mc->mlp_bias, (int)mc->rope_scaling.type, (long long)mc->sliding_window);
    char data[256];
    snprintf(data, sizeof data, "%lld %lld %lld %lld", (long long)ds->examples, (long long)ds->rows,
             (long long)ds->tokens, (long long)ds->label_tokens);
    struct {
        char version[48];
        uint64_t settings, model, data;
    } mine, root;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.version, sizeof mine.version, "%s", clft_version_string());
    const uint64_t h0 = 0xcbf29ce484222325ULL;
    mine.settings = fnv1a(h0, js ? js : "");
    free(js);
    mine.model = weights_fingerprint(fnv1a(h0, text), c->model);
    mine.data = fnv1a(h0, data);
    root = mine;
    if (train_dist_bcast(d, &root, sizeof root, "the start-up check") != CLFT_OK)
        return train_dist_fail(d, CMD, CLFT_STATUS_ABORTED);
    const int code = strcmp(root.version, mine.version) ? 1
                     : root.settings != mine.settings   ? 2
                     : root.model != mine.model         ? 3
                     : root.data != mine.data           ? 4
                                                        : 0;
    double *all = calloc((size_t)d->size, sizeof *all);
    if (!all) return 1;
    all[d->rank] = code;
    d->phase = "the start-up check";
    if (d->comm.allreduce_f64(d->comm.user, all, (size_t)d->size) != CLFT_OK) {
        free(all);
        return train_dist_fail(d, CMD, CLFT_STATUS_ABORTED);
    }
    static const char *what[] = {"", "its clft version", "its settings (flags, --config)",
                                 "its model (config.json, or the weight files' sizes and sampled bytes)",
                                 "its training data (examples, rows or tokens)"};
    int bad = 0;
    for (int r = 0; r < d->size && !bad; r++)
        if (all[r] > 0) {
            bad = 1;
            if (d->rank == 0)
                fprintf(stderr,
                        "clft " CMD ": rank %d differs from rank 0 in %s: every rank needs the same clft, model, "
                        "data and settings%s%s\n",
                        r, what[(int)all[r]], (int)all[r] == 1 ? "; rank 0 runs " : "",
                        (int)all[r] == 1 ? root.version : "");
        }
    free(all);
    return bad ? 2 : 0;
}

clft_status train_dist_bcast(train_dist *d, void *p, size_t bytes, const char *phase) {
    if (d->size <= 1) return CLFT_OK;
    d->phase = phase;
    const int was = d->patient;
    d->patient = 1; /* the others wait while rank 0 works alone */
    const clft_status st = d->comm.broadcast(d->comm.user, p, bytes);
    d->patient = was;
    return st;
}

clft_status train_dist_step(train_dist *d, clft_trainer *tr, clft_batch *global, int n, int planned_rows, int *stop,
                            clft_step_stats *s) {
    const int T = global[0].seq_len, k = d->rows[d->rank];
    int off = 0;
    for (int r = 0; r < d->rank; r++)
        off += d->rows[r];
    /* the share in as few micro-batches as the planned rows allow, of even sizes (5 rows of at most 4:
     * 3 + 2, not 4 + 1) */
    const int per = (k + planned_rows - 1) / planned_rows;
    clft_batch *loc = calloc((size_t)(n * per) + 1, sizeof *loc);
    if (!loc) return CLFT_STATUS_HOST_OOM;
    int nl = 0;
    for (int g = 0; g < n; g++)
        for (int j = 0, r0 = off; j < per; j++) {
            const int cnt = k / per + (j < k % per);
            const size_t at = (size_t)r0 * (size_t)T;
            r0 += cnt;
            clft_batch *b = &loc[nl++];
            b->ids = global[g].ids + at;
            b->labels = global[g].labels + at;
            b->positions = global[g].positions ? global[g].positions + at : NULL;
            b->segments = global[g].segments ? global[g].segments + at : NULL;
            b->batch = cnt;
            b->seq_len = T;
        }
    d->phase = "the gradient all-reduce";
    clft_status st = clft_trainer_step_accum(tr, loc, nl, s);
    free(loc);
    if (st != CLFT_OK) return st;
    d->comm_s = s->comm_seconds;
    /* every rank's compute time, rows, labelled tokens and signal: one sum of a per-rank table */
    double *x = d->last;
    memset(x, 0, (size_t)d->size * 4 * sizeof *x);
    x[4 * d->rank] = s->compute_seconds;
    x[4 * d->rank + 1] = (double)k * n;
    x[4 * d->rank + 2] = (double)s->local_tokens;
    x[4 * d->rank + 3] = d->signaled && *d->signaled;
    d->phase = "the exchange of step statistics";
    st = d->comm.allreduce_f64(d->comm.user, x, (size_t)d->size * 4);
    if (st != CLFT_OK) return st;
    *stop = 0;
    d->steps++;
    d->patient = 0;
    d->changed = 0;
    for (int r = 0; r < d->size; r++) {
        *stop |= x[4 * r + 3] > 0;
        if (d->steps > 1) { /* the first step builds kernels and measures GEMM paths: not timed */
            d->acc_rows[r] += x[4 * r + 1];
            d->acc_time[r] += x[4 * r];
        }
    }
    if (d->speed && (d->steps == 4 || (d->steps > 4 && (d->steps - 4) % d->every == 0))) {
        int ok = 1;
        for (int r = 0; r < d->size; r++) {
            d->rate[r] = d->acc_time[r] > 0 ? d->acc_rows[r] / d->acc_time[r] : 0;
            ok &= d->rate[r] > 0;
            d->acc_rows[r] = d->acc_time[r] = 0;
        }
        int g = 0;
        for (int r = 0; r < d->size; r++)
            g += d->rows[r];
        if (ok) {
            split_rows(d->rows, d->rate, d->size, g);
            d->changed = 1;
        }
    }
    return CLFT_OK;
}

static void json_list(char *buf, size_t cap, const char *key, const double *v, int stride, int n, int digits) {
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, ", \"%s\": [", key);
    for (int r = 0; r < n; r++) {
        len = strlen(buf);
        snprintf(buf + len, cap - len, r ? ", " : "");
        len = strlen(buf);
        snprintf(buf + len, cap - len, "%.*f", digits, v[r * stride]);
    }
    len = strlen(buf);
    snprintf(buf + len, cap - len, "]");
}

void train_dist_metrics(const train_dist *d, char *buf, size_t cap) {
    buf[0] = 0;
    if (d->size <= 1 || !d->last) return;
    snprintf(buf, cap, ", \"ranks\": %d, \"allreduce_s\": %.6f", d->size, d->comm_s);
    json_list(buf, cap, "rank_rows", d->last + 1, 4, d->size, 0);
    json_list(buf, cap, "rank_tokens", d->last + 2, 4, d->size, 0);
    json_list(buf, cap, "rank_compute_s", d->last, 4, d->size, 6);
    if (d->speed) json_list(buf, cap, "rank_rows_per_s", d->rate, 1, d->size, 4);
    if (d->speed) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, ", \"rank_share_next\": [");
        for (int r = 0; r < d->size; r++) {
            len = strlen(buf);
            snprintf(buf + len, cap - len, "%s%d", r ? ", " : "", d->rows[r]);
        }
        len = strlen(buf);
        snprintf(buf + len, cap - len, "]");
    }
}

int train_dist_fail(const train_dist *d, const char *cmd, clft_status st) {
    if (d->err[0]) {
        fprintf(stderr, "clft %s: %s\n", cmd, d->err);
        return 1;
    }
    return cli_fail(cmd, st);
}

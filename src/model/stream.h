/* stream.h - streaming detokenizer for generation: turns the generated ids, one at a time, into
 * final UTF-8 text pieces, exactly the text clft_detokenize gives for all the ids together, and
 * stops at stop strings (which may span tokens or sit inside one). Host only. */
#ifndef CLFT_MODEL_STREAM_H
#define CLFT_MODEL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

typedef struct clft_streamer clft_streamer;

/* tok is borrowed (it must outlive the streamer); skip_special as in clft_detokenize. stops: n_stops
 * non-empty, valid UTF-8 strings, copied (stops may be NULL when n_stops is 0); anything else gives
 * CLFT_STATUS_INVALID_ARGUMENT. *out owned: clft_streamer_free. */
clft_status clft_streamer_create(const clft_tokenizer *tok, int skip_special, const char *const *stops, size_t n_stops,
                                 clft_streamer **out);
void clft_streamer_free(clft_streamer *s);

/* Add one generated token. *piece / *len: the text that became final with it (may be empty): whole
 * UTF-8 characters, never text that could still change (the U+FFFD of an unfinished byte sequence,
 * the bytes of an unfinished byte-fallback run) nor a tail that could be the beginning of a stop
 * string. It points into the streamer and is valid until the next call. *stopped = 1 when a stop
 * string has appeared: piece ends where the earliest one starts, nothing after it is ever given,
 * and later pushes give empty pieces with *stopped = 1 (stopped may be NULL). An id outside the
 * vocabulary, or a push after clft_streamer_finish: CLFT_STATUS_INVALID_ARGUMENT, nothing changes. */
clft_status clft_streamer_push(clft_streamer *s, int32_t id, const char **piece, size_t *len, int *stopped);

/* End of generation: the text held back becomes final (an unfinished UTF-8 sequence as U+FFFD, as
 * clft_detokenize gives it); a stop string completed by it still cuts the text (*stopped = 1; stopped
 * may be NULL). Later calls give empty pieces. */
clft_status clft_streamer_finish(clft_streamer *s, const char **piece, size_t *len, int *stopped);

/* Everything given out so far (*len bytes; NUL-terminated after clft_streamer_finish or a stop). */
const char *clft_streamer_text(const clft_streamer *s, size_t *len);

#endif

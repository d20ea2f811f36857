/* fuzz_tokenizer_json.c - libFuzzer harness: the input is a tokenizer.json. Loading must fail
 * cleanly or give a tokenizer that encodes and decodes a fixed text without crashing.
 * Built with CLFT_BUILD_FUZZERS=ON (clang); run by tests/fuzz/run_fuzzers.sh. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "clft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an optional tokenizer_config.json follows a line "\n#config\n" */
    const char *text = (const char *)data, *cfg = NULL;
    size_t tl = size, cl = 0;
    for (size_t i = 0; i + 9 <= size; i++)
        if (!memcmp(data + i, "\n#config\n", 9)) {
            tl = i;
            cfg = text + i + 9;
            cl = size - i - 9;
            break;
        }
    clft_tokenizer *tok = NULL;
    if (clft_tokenizer_load_from_memory(text, tl, cfg, cl, "fuzz.json", &tok) != CLFT_OK) return 0;
    static const char sample[] = "Hello, <s>w\xc3\xb6rld</s> 123 \n\t\xf0\x9f\x98\x80  x<|im_end|>  \xe2\x96\x81y";
    int32_t *ids = NULL;
    size_t n = 0, *offs = NULL;
    if (clft_tokenize_offsets(tok, sample, sizeof sample - 1, 1, &ids, &offs, &n) == CLFT_OK) {
        char *back = NULL;
        size_t bl = 0;
        if (clft_detokenize(tok, ids, n, 0, &back, &bl) == CLFT_OK) clft_free(back);
        clft_free(ids);
        clft_free(offs);
    }
    for (int32_t id = -1; id < 300; id++)
        (void)clft_tokenizer_id_to_token(tok, id);
    clft_tokenizer_free(tok);
    return 0;
}

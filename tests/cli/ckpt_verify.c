/* ckpt_verify.c - test helper of test_cli_train.sh: `test_cli_ckpt_verify DIR...` runs
 * clft_checkpoint_verify (every file of the manifest decompresses to its size and checksum) on each
 * checkpoint folder; prints the reason and exits 1 on the first that fails. */
#include <stdio.h>

#include "clft.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_cli_ckpt_verify CHECKPOINT_DIR...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (clft_checkpoint_verify(argv[i]) != CLFT_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], clft_last_error());
            return 1;
        }
    return 0;
}

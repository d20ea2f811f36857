/* consumer - uses only the installed clft.h: prints the version and the number of devices. */
#include <clft.h>
#include <stdio.h>

int main(void) {
    clft_device_info *d = NULL;
    size_t n = 0;
    clft_status st = clft_devices_list(&d, &n);
    if (st != CLFT_OK) {
        fprintf(stderr, "consumer: %s: %s\n", clft_status_string(st), clft_last_error());
        return 1;
    }
    printf("clft %s: %zu device(s)\n", clft_version_string(), n);
    clft_devices_free(d);
    return 0;
}

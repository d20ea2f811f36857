/* cmd_devices.c - `clft devices [--json]`: every OpenCL platform's devices. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static cJSON *device_json(const clft_device_info *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddStringToObject(o, "platform", d->platform);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "type", d->type);
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "device_version", d->device_version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "subgroups", d->subgroups);
    cJSON *ext = cJSON_AddArrayToObject(o, "extensions");
    char *copy = strdup(d->extensions);
    for (char *save = NULL, *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save))
        cJSON_AddItemToArray(ext, cJSON_CreateString(t));
    free(copy);
    return o;
}

int cmd_devices(int argc, char **argv) {
    int json = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose++;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: clft devices [--json]\n");
            return 0;
        } else
            return cli_usage_error("devices", "unknown option '%s' (usage: clft devices [--json])", argv[i]);
    }
    cli_enable_logging(verbose);
    clft_device_info *devs = NULL;
    size_t n = 0;
    clft_status st = clft_devices_list(&devs, &n);
    if (st != CLFT_OK) return cli_fail("devices", st);
    int dflt = -1;
    if (clft_device_find(NULL, &dflt) != CLFT_OK) dflt = -1;
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, device_json(&devs[i]));
        char *s = cJSON_Print(arr);
        printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(arr);
    } else {
        printf("%-3s %-1s %-12s %-44s %-4s %-9s %-10s %-10s %-4s %-4s %s\n", "idx", "", "type", "name", "CUs", "clock",
               "global", "max alloc", "fp16", "fp64", "platform / driver");
        for (size_t i = 0; i < n; i++) {
            const clft_device_info *d = &devs[i];
            printf("%-3d %-1s %-12s %-44.44s %-4u %-4u MHz %-6.1f GiB %-6.1f GiB %-4s %-4s %s / %s\n", d->index,
                   d->index == dflt ? "*" : "", d->type, d->name, d->compute_units, d->clock_mhz,
                   (double)d->global_mem_bytes / (1 << 30), (double)d->max_alloc_bytes / (1 << 30),
                   d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->platform, d->driver_version);
        }
        printf("(* = default device; choose with --device or CLFT_DEVICE)\n");
    }
    clft_devices_free(devs);
    return 0;
}

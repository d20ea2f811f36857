/* checkpoint.h - crash-safe checkpoint folders (the container; what goes in them is the trainer's).
 * A checkpoint is a folder of zstd-compressed files (NAME.zst, zstd frame checksum on; files adopted
 * as is keep their NAME) plus
 * manifest.json listing each file with its raw size, compressed size and FNV-1a 64 checksum of
 * the raw bytes. It is written as FOLDER.tmp/: every file written and fsynced, the manifest
 * written last and fsynced, the folder fsynced, renamed to FOLDER, the parent fsynced. A folder
 * without a manifest, or whose files do not match it, is not a checkpoint: a SIGKILL at any moment
 * leaves either the previous state or the complete new one. */
#ifndef CLFT_IO_CHECKPOINT_H
#define CLFT_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "clft.h"

typedef struct clft_ckpt_writer clft_ckpt_writer;

/* Start writing the checkpoint folder dir (its parent must exist; a stale dir.tmp is removed). */
clft_status clft_ckpt_begin(const char *dir, clft_ckpt_writer **out);
/* Add one file (name: letters, digits, '.', '_', '-'; unique). The bytes are compressed and written
 * now; data may be freed after the call. */
clft_status clft_ckpt_add(clft_ckpt_writer *w, const char *name, const void *data, size_t len);
/* The temporary folder being written (a file another writer puts there is then listed with
 * clft_ckpt_adopt). */
const char *clft_ckpt_tmpdir(const clft_ckpt_writer *w);
/* List a file already written into the temporary folder under `name`, stored as is (not compressed:
 * e.g. a PEFT adapter that other programs load from the checkpoint folder); it is fsynced and its
 * size and checksum go to the manifest like any other file's. */
clft_status clft_ckpt_adopt(clft_ckpt_writer *w, const char *name);
/* Write the manifest and move the folder into place (replacing an older dir of the same name);
 * frees w in every case. */
clft_status clft_ckpt_commit(clft_ckpt_writer *w);
/* Drop an unfinished checkpoint (removes dir.tmp); accepts NULL. */
void clft_ckpt_abort(clft_ckpt_writer *w);

/* Read one file of a checkpoint, checked against the manifest (sizes, checksum); *data is
 * malloc'd (clft_free) and NUL-terminated, *len excludes the NUL. */
clft_status clft_ckpt_read(const char *dir, const char *name, void **data, size_t *len);
/* 1 when the checkpoint lists a file of that name. */
int clft_ckpt_has(const char *dir, const char *name);

#endif

/* What the two files of the image pool's N-API module share. */
#pragma once

#include <node_api.h>

/*
 * BTRFS_IOC_GET_SUBVOL_INFO answers the root item's flags, where read-only
 * is BTRFS_ROOT_SUBVOL_RDONLY (bit 0), not the BTRFS_SUBVOL_RDONLY (bit 1)
 * of BTRFS_IOC_SUBVOL_GETFLAGS; and it answers success with a positive value.
 */
#define ROOT_SUBVOL_RDONLY (1ULL << 0)

/* A Node-style system error for `err` (a positive errno) from `syscall_name`: `code`, negative `errno`, `syscall`. */
napi_value images_errno_error(napi_env env, int err, const char *syscall_name);
/* The same, thrown; returns NULL for the caller to return. */
napi_value images_throw_errno(napi_env env, int err, const char *syscall_name);
/* scanSearchPath(dirs, names | null, callback) of machined_images_scan.c. */
napi_value images_scan_search_path(napi_env env, napi_callback_info info);

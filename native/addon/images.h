/* What the image pool's two files of the module (images.c, images_scan.c) share. */
#pragma once

/*
 * BTRFS_IOC_GET_SUBVOL_INFO answers the root item's flags, where read-only
 * is BTRFS_ROOT_SUBVOL_RDONLY (bit 0), not the BTRFS_SUBVOL_RDONLY (bit 1)
 * of BTRFS_IOC_SUBVOL_GETFLAGS; and it answers success with a positive value.
 */
#define ROOT_SUBVOL_RDONLY (1ULL << 0)

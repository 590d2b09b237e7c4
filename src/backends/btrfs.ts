/**
 * The btrfs work of the image pool (systemd's btrfs-util.c), through
 * btrfs-progs where an ioctl would need a tree search: snapshots,
 * subvolumes, and quota groups. Used only on btrfs; nothing here turns
 * quotas on (systemd-machined 252 does so behind the admin's back when a
 * pool limit is set: systemd#18421).
 * @module
 */

import { stat, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { execFileAsync } from '../linux/exec-file.ts'
import { UINT64_MAX } from '../protocol/image.ts'
import { errnoError } from '../protocol/errno.ts'
import { BTRFS_SUPER_MAGIC } from './image-discovery.ts'

/** The ".. on btrfs" test of check_btrfs(): the path, or its parent while it does not exist yet. */
export async function onBtrfs(path: string): Promise<boolean> {
  const st = await statfs(path).catch(() => statfs(dirname(path)))
  return st.type === BTRFS_SUPER_MAGIC
}

/** The top directory of a subvolume (inode 256 on btrfs). */
export async function isSubvolume(path: string): Promise<boolean> {
  const st = await stat(path, { bigint: true }).catch(() => undefined)
  return st !== undefined && st.isDirectory() && st.ino === 256n && (await onBtrfs(path))
}

/** Runs btrfs-progs; a failure becomes the error systemd would report, with btrfs's own words. */
async function btrfs(args: readonly string[]): Promise<string> {
  try {
    return (await execFileAsync('btrfs', [...args], { timeout: 10 * 60_000, maxBuffer: 16 << 20 })).stdout
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') throw errnoError('EOPNOTSUPP', 'btrfs-progs is not installed (the btrfs command is missing)')
    throw errnoError('EIO', (e.stderr ?? '').trim().split('\n').at(-1) ?? e.message)
  }
}

export async function snapshotSubvolume(source: string, target: string, readOnly: boolean): Promise<void> {
  await btrfs(['subvolume', 'snapshot', ...(readOnly ? ['-r'] : []), '--', source, target])
}

export async function createSubvolume(path: string): Promise<void> {
  await btrfs(['subvolume', 'create', '--', path])
}

export async function deleteSubvolume(path: string): Promise<void> {
  await btrfs(['subvolume', 'delete', '--', path])
}

export interface QuotaInfo {
  readonly referenced: bigint
  readonly exclusive: bigint
  readonly referencedMax: bigint
  readonly exclusiveMax: bigint
}

const size = (s: string | undefined): bigint => (s === undefined || s === 'none' ? UINT64_MAX : BigInt(s))

/**
 * btrfs_subvol_get_subtree_quota(): the subvolume's subtree quota group
 * (1/ID, which systemd sets up) where there is one, else its own (0/ID);
 * undefined when quotas are off.
 */
export async function subvolumeQuota(path: string, id: bigint): Promise<QuotaInfo | undefined> {
  let out: string
  try {
    out = await btrfs(['qgroup', 'show', '--raw', '-reF', '--', path])
  } catch {
    return undefined
  }
  const rows = new Map<string, string[]>()
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/)
    if (cols[0] !== undefined && /^\d+\/\d+$/.test(cols[0])) rows.set(cols[0], cols)
  }
  const row = rows.get(`1/${id}`) ?? rows.get(`0/${id}`)
  if (row === undefined) return undefined
  return { referenced: size(row[1]), exclusive: size(row[2]), referencedMax: size(row[3]), exclusiveMax: size(row[4]) }
}

/** Whether quotas are on for the file system holding `path`. */
export async function quotaEnabled(path: string): Promise<boolean> {
  return btrfs(['qgroup', 'show', '--raw', '--', path]).then(() => true, () => false)
}

/** btrfs_qgroup_set_limit() on the subvolume's own group (0/ID); UINT64_MAX lifts the limit. */
export async function setQuotaLimit(path: string, limit: bigint): Promise<void> {
  await btrfs(['qgroup', 'limit', limit === UINT64_MAX ? 'none' : String(limit), '--', path])
}

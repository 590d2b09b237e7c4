/**
 * /proc/PID/mountinfo (proc(5)), parsed once for every layer:
 *
 *     36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *     id parent dev root mount-point options [optional…] - type source super-options
 *
 * The kernel writes space, tab, newline and backslash in paths as octal
 * escapes (`\040`, `\011`, `\012`, `\134`); they are undone here.
 *
 * Which mount counts when several match (MountTable.find()):
 *
 * - Stacked mounts on one mount point: only the top one is reachable by
 *   path; the ones under it, and everything mounted on them, are hidden.
 *   The kernel records the stacking in the parent IDs (a mount made over
 *   another is that mount's child, at that mount's own mount point), so a
 *   covered mount is recognised whatever the order of the lines. systemd
 *   reaches the same answer without mountinfo: cg_unified_cached()
 *   statfs()es /sys/fs/cgroup, and a path lookup sees the top mount.
 * - One file system mounted at several places (a bind mount of
 *   /sys/fs/cgroup/unified elsewhere, a cgroup namespace's own cgroup2
 *   mount): the first reachable mount of the file system's root ("/" in the
 *   root field) counts, which is the one the host mounted at boot; later
 *   ones are copies, and a mount of a subtree has paths that do not match
 *   /proc/PID/cgroup. Only when no mount of the root is reachable does the
 *   first reachable mount of a subtree count.
 * @module
 */

import { readFileSync } from 'node:fs'

export interface MountInfo {
  readonly id: number
  readonly parentId: number
  /** The directory of the file system mounted here: "/" for all of it, else a bind mount's or a namespace's subtree. */
  readonly root: string
  readonly mountPoint: string
  readonly fsType: string
  readonly source: string
  readonly superOptions: readonly string[]
}

/** Undoes the kernel's octal escapes (seq_file's mangle(): only ASCII bytes are ever escaped). */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** One entry per well-formed line; malformed lines are passed over. */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = []
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const [id, parentId, , root, mountPoint] = line.slice(0, sep).split(' ')
    const [fsType, source, superOptions] = line.slice(sep + 3).split(' ')
    if (id === undefined || parentId === undefined || root === undefined || mountPoint === undefined || fsType === undefined) continue
    if (!/^\d+$/.test(id) || !/^\d+$/.test(parentId)) continue
    mounts.push({
      id: Number(id), parentId: Number(parentId), root: unescapeMountinfo(root), mountPoint: unescapeMountinfo(mountPoint),
      fsType, source: unescapeMountinfo(source ?? ''), superOptions: (superOptions ?? '').split(','),
    })
  }
  return mounts
}

/** Whether `dir` lies strictly below `ancestor`. */
function isBelow(dir: string, ancestor: string): boolean {
  return dir !== ancestor && dir.startsWith(ancestor.endsWith('/') ? ancestor : `${ancestor}/`)
}

/** A mount namespace's mount table. */
export class MountTable {
  readonly mounts: readonly MountInfo[]
  readonly #byId = new Map<number, MountInfo>()
  readonly #children = new Map<number, MountInfo[]>()

  constructor(mounts: readonly MountInfo[]) {
    this.mounts = mounts
    for (const m of mounts) {
      this.#byId.set(m.id, m)
      const siblings = this.#children.get(m.parentId)
      if (siblings === undefined) this.#children.set(m.parentId, [m])
      else siblings.push(m)
    }
  }

  static parse(text: string): MountTable {
    return new MountTable(parseMountinfo(text))
  }

  /** Our own mount namespace's table (procfs is read synchronously: the kernel answers at once). */
  static read(path = '/proc/self/mountinfo'): MountTable {
    return MountTable.parse(readFileSync(path, 'utf8'))
  }

  /**
   * Whether another mount on `parent` sits on a directory above `mount`'s
   * mount point (mounted over the parent itself, or over a directory on
   * the way), which hides it: a mount made there first would have become
   * the parent of the later one.
   */
  #coveredOn(parent: MountInfo, mount: MountInfo): boolean {
    return (this.#children.get(parent.id) ?? []).some((other) => other !== mount && other !== parent && isBelow(mount.mountPoint, other.mountPoint))
  }

  /** Whether a path lookup of the mount's mount point ends in this mount (nothing stacked on it or on the way). */
  isReachable(mount: MountInfo): boolean {
    // Something mounted over this one?
    if ((this.#children.get(mount.id) ?? []).some((c) => c.id !== mount.id && c.mountPoint === mount.mountPoint)) return false
    let child = mount
    for (let depth = 0; depth < this.mounts.length; depth++) {
      const parent = this.#byId.get(child.parentId)
      // The namespace's root mount names a parent outside the namespace (or itself).
      if (parent === undefined || parent === child) return true
      if (this.#coveredOn(parent, child)) return false
      child = parent
    }
    return true
  }

  /** The mount that counts among those matching `match` (see the module comment), or undefined. */
  find(match: (m: MountInfo) => boolean): MountInfo | undefined {
    const reachable = this.mounts.filter((m) => match(m) && this.isReachable(m))
    return reachable.find((m) => m.root === '/') ?? reachable[0]
  }
}

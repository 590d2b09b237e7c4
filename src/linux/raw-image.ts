/**
 * Raw disk images as systemd's dissect-image.c reads them, for the daemon
 * (an image's OS, backends/image-loop.ts) and the launchers
 * (machined-spawn -M NAME on a raw image, checked before its container
 * mounts the same file system itself): the partition table (util-linux's
 * partx), the root file system's place in it (pickRoot()), its type
 * (blkid), and a read-only look at it through a loop device in a mount
 * namespace of its own (withMounted()). What is chosen, as
 * dissect_image() with DISSECT_IMAGE_GENERIC_ROOT does: the partition of
 * this architecture's root type in a GPT table, else the one generic
 * Linux partition of a GPT or MBR table, else the whole image when it
 * holds a file system. Verity, LUKS, /usr-only images and the other
 * partitions of the Discoverable Partitions Specification (home, srv,
 * var, tmp, the ESP) are not looked at.
 * @module
 */

import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { errnoError } from '../protocol/errno.ts'
import { execFileAsync } from './exec-file.ts'

/** GPT partition types (the Discoverable Partitions Specification). */
const GPT_ROOT: Readonly<Record<string, string>> = {
  x64: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  arm64: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
  ia32: '44479540-f297-41b2-9af7-d131d5f0458a',
  arm: '69dad710-2ce4-4e3c-b16c-21a1d49abed3',
  riscv64: '72ec70a6-cf74-40e6-bd49-4bda08e8f224',
}
const GPT_LINUX_GENERIC = '0fc63daf-8483-4772-8e79-3d69d8477de4'
const MBR_LINUX = '0x83'
const SECTOR = 512n

/** File systems that replay their journal even when mounted read-only, unless told not to. */
export const NORECOVERY = new Set(['ext3', 'ext4', 'xfs'])

export interface Partition {
  readonly offset: bigint
  readonly size: bigint
  readonly type: string
}

/** The partitions partx reads from the image; undefined when it has no partition table. */
export async function partitions(image: string): Promise<Partition[] | undefined> {
  try {
    const { stdout } = await execFileAsync('partx', ['--show', '--noheadings', '--output', 'START,SECTORS,TYPE', '--', image], { timeout: 30_000 })
    return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
      const [start = '0', sectors = '0', type = ''] = l.trim().split(/\s+/)
      return { offset: BigInt(start) * SECTOR, size: BigInt(sectors) * SECTOR, type: type.toLowerCase() }
    })
  } catch {
    return undefined
  }
}

/** The root file system's place in the image, as dissect_image() with DISSECT_IMAGE_GENERIC_ROOT picks it. */
export function pickRoot(table: readonly Partition[] | undefined, arch: string): Partition | { offset: 0n; size: undefined } | undefined {
  if (table === undefined) return { offset: 0n, size: undefined }
  const root = GPT_ROOT[arch]
  const native = table.filter((p) => p.type === root)
  if (native.length > 0) return native[0]
  const generic = table.filter((p) => p.type === GPT_LINUX_GENERIC || p.type === MBR_LINUX)
  return generic.length === 1 ? generic[0] : undefined
}

/** blkid's name for the file system at `offset` (size bytes), or undefined when there is none. */
export async function fileSystemType(image: string, offset: bigint, size: bigint | undefined): Promise<string | undefined> {
  const args = ['-p', '-o', 'value', '-s', 'TYPE', '-O', String(offset), ...(size === undefined ? [] : ['-S', String(size)]), '--', image]
  try {
    const type = (await execFileAsync('blkid', args, { timeout: 30_000 })).stdout.trim()
    return type === '' ? undefined : type
  } catch {
    return undefined
  }
}

/**
 * Mounts the file system read-only in a new mount namespace whose only
 * process waits for its stdin to close, and runs `read` on the tree as
 * that namespace sees it (/proc/PID/root/MOUNTPOINT).
 */
export async function withMounted<T>(image: string, where: { offset: bigint; size: bigint | undefined; type: string }, mountBase: string, read: (root: string) => Promise<T>): Promise<T> {
  mkdirSync(mountBase, { recursive: true, mode: 0o700 })
  const point = mkdtempSync(join(mountBase, 'm'))
  const options = ['ro', 'loop', 'nosuid', 'nodev', 'noexec', `offset=${where.offset}`, ...(where.size === undefined ? [] : [`sizelimit=${where.size}`]),
    ...(NORECOVERY.has(where.type) ? ['norecovery'] : [])].join(',')
  const script = 'mount -t "$1" -o "$2" -- "$3" "$4" || exit 1; echo mounted; read -r _'
  const child = process.getBuiltinModule('node:child_process').spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', where.type, options, image, point], { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  try {
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const mounted = await new Promise<boolean>((resolve) => {
      child.stdout.on('data', (c: Buffer) => { if (c.toString().includes('mounted')) resolve(true) })
      child.once('close', () => resolve(false))
      child.once('error', () => resolve(false))
    })
    if (!mounted || child.pid === undefined) throw errnoError('EIO', `Failed to mount ${image}: ${stderr.trim().split('\n').at(-1) ?? 'mount failed'}`)
    return await read(`/proc/${child.pid}/root${point}`)
  } finally {
    child.stdin.end()
    await exited
    clearTimeout(timer)
    try { rmdirSync(point) } catch { /* still busy, or gone */ }
  }
}

/** Where a raw image's root file system is, and what it is: ENXIO when a table has no root, ENOPKG when there is no file system. */
export interface RawRoot {
  readonly offset: bigint
  /** undefined: to the end of the image. */
  readonly size: bigint | undefined
  /** blkid's name for it: ext4, xfs, btrfs, … */
  readonly type: string
}

export async function findRawRoot(image: string, arch: string = process.arch): Promise<RawRoot> {
  const root = pickRoot(await partitions(image), arch)
  if (root === undefined) throw errnoError('ENXIO', 'No such device or address')
  const type = await fileSystemType(image, root.offset, root.size)
  if (type === undefined) throw errnoError('ENOPKG', 'Package not installed')
  return { offset: root.offset, size: root.size, type }
}

/**
 * Checks made before anything is registered or started, so that bad input
 * fails with one line and leaves nothing behind: the qemu binary (looked
 * up in $PATH as vmspawn's find_qemu_binary() does), the kernel, initrd and
 * disk image, and the disk's format. (/dev/vhost-vsock is checked where
 * the vsock channel is set up: ./vsock-channel.ts.)
 * @module
 */

import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { DiskFormat } from './qemu-argv.ts'

/** A failed check; the message is the whole one-line error. */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PreflightError'
  }
}

/** Names vmspawn tries for x86-64, in its order (qemu-kvm is Fedora's). */
const QEMU_NAMES = ['qemu-system-x86_64', 'qemu-kvm']

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'No such file or directory'
  if (code === 'EACCES') return 'Permission denied'
  if (code === 'EISDIR') return 'Is a directory'
  return (err as Error).message
}

export function findQemu(path: string | undefined = process.env.PATH): string {
  if (process.arch !== 'x64') throw new PreflightError(`Unsupported host architecture ${process.arch}: machined-vmspawn runs x86-64 guests only`)
  for (const name of QEMU_NAMES) {
    for (const dir of (path ?? '').split(delimiter)) {
      if (dir === '') continue
      const candidate = join(dir, name)
      try {
        accessSync(candidate, constants.X_OK)
        if (statSync(candidate).isFile()) return candidate
      } catch { /* not here */ }
    }
  }
  throw new PreflightError(`qemu not found: none of ${QEMU_NAMES.join(', ')} is in $PATH (apt-get install qemu-system-x86)`)
}

/** A regular (or, for disks, block device) readable file, or a one-line error naming what it is for. */
export function checkReadableFile(what: string, path: string, options: { allowBlockDevice?: boolean } = {}): void {
  try {
    const st = statSync(path)
    if (st.isDirectory()) throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' })
    if (!st.isFile() && !(options.allowBlockDevice === true && st.isBlockDevice())) throw new Error('Not a regular file')
    accessSync(path, constants.R_OK)
  } catch (err) {
    throw new PreflightError(`Cannot use ${what} ${path}: ${describe(err)}`)
  }
}

/** qcow2 images start with "QFI\xfb" (qemu's QCOW_MAGIC); anything else is run as raw. */
export function detectDiskFormat(path: string): DiskFormat {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    throw new PreflightError(`Cannot use image ${path}: ${describe(err)}`)
  }
  try {
    const magic = Buffer.alloc(4)
    const n = readSync(fd, magic, 0, 4, 0)
    return n === 4 && magic.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw'
  } finally {
    closeSync(fd)
  }
}

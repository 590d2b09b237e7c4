/**
 * What image_read_metadata() reads inside an image tree: /etc/hostname,
 * /etc/machine-id, /etc/machine-info and os-release, each resolved inside
 * the tree (an absolute symlink in an image points into the image, never
 * at the host's files) and read only if it is a small regular file. A file
 * that is missing or unreadable leaves its part empty, as systemd only
 * logs such failures.
 * @module
 */

import type { ImageMetadata } from '../protocol/image.ts'
import { hostnameIsValid } from '../protocol/hostname.ts'
import { parseEnvFile } from '../core/env-file.ts'
import { readGuestFileInRoot } from './guest-file.ts'
import { osReleaseIn } from './inspector.ts'

async function readInTree(root: string, path: string): Promise<string | undefined> {
  return readGuestFileInRoot(root, path).catch(() => undefined)
}

/**
 * read_etc_hostname_stream(): the first line that is neither empty nor a
 * comment, stripped, if it is a valid host name (a trailing dot allowed,
 * and dropped).
 */
export function parseHostnameFile(text: string): string {
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const name = line.replace(/\.$/, '')
    return hostnameIsValid(name) ? name : ''
  }
  return ''
}

/** id128_read_fd(ID128_FORMAT_PLAIN): 32 hex digits and at most a newline; "" for anything else ("uninitialized" included). */
export function parseMachineIdFile(text: string): string {
  const m = /^([0-9a-fA-F]{32})\n?$/.exec(text)
  const id = m?.[1]?.toLowerCase()
  return id === undefined || /^0+$/.test(id) ? '' : id
}

/** The metadata of the OS tree at `root` (an image directory, or a mounted raw image seen through /proc/PID/root). */
export async function readTreeMetadata(root: string): Promise<ImageMetadata> {
  const [hostname, machineId, machineInfo, osRelease] = await Promise.all([
    readInTree(root, '/etc/hostname'),
    readInTree(root, '/etc/machine-id'),
    readInTree(root, '/etc/machine-info'),
    osReleaseIn(root).catch(() => undefined),
  ])
  return {
    hostname: hostname === undefined ? '' : parseHostnameFile(hostname),
    machineId: machineId === undefined ? '' : parseMachineIdFile(machineId),
    machineInfo: machineInfo === undefined ? [] : [...parseEnvFile(machineInfo)],
    osRelease: osRelease === undefined ? [] : [...osRelease],
  }
}

/**
 * What machined-spawn reads from the host to set a container up: the
 * host's os-release (bound at /run/host/os-release, and the source of
 * $container_host_*) and the device nodes copied into the container's /dev
 * (nspawn's copy_devnodes(): the same modes and numbers as the host's).
 * @module
 */

import { existsSync, readFileSync, statSync } from 'node:fs'
import type { DeviceNode } from './plan.ts'

/** The Container Interface's basic set (A1.2 item 20) and, when the host has it, net/tun as nspawn adds. */
const DEVICE_NAMES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const
const OPTIONAL_DEVICE_NAMES = ['net/tun'] as const

/** /etc/os-release, or /usr/lib/os-release as os-release(5) says. */
export function hostOsReleasePath(): string {
  return existsSync('/etc/os-release') ? '/etc/os-release' : '/usr/lib/os-release'
}

export function readHostOsRelease(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`Failed to read the host's os-release (${path}): ${(err as Error).message}`, { cause: err })
  }
}

function node(name: string): DeviceNode | undefined {
  try {
    const st = statSync(`/dev/${name}`)
    if (!st.isCharacterDevice()) return undefined
    return { name, mode: st.mode & 0o7777, major: Math.floor(st.rdev / 256) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) }
  } catch {
    return undefined
  }
}

export function hostDeviceNodes(): DeviceNode[] {
  const nodes: DeviceNode[] = []
  for (const name of DEVICE_NAMES) {
    const n = node(name)
    if (n === undefined) throw new Error(`The host has no /dev/${name} to copy into the container`)
    nodes.push(n)
  }
  for (const name of OPTIONAL_DEVICE_NAMES) {
    const n = node(name)
    if (n !== undefined) nodes.push(n)
  }
  return nodes
}

/**
 * DevicePolicy=/DeviceAllow= as cgroup v1 "devices" controller rules,
 * following systemd's cgroup_context_apply(): "closed" (and "auto" with a
 * non-empty allow list) always lets the standard pseudo devices through,
 * "strict" only what is listed. Read synchronously: /dev and /proc are
 * in-kernel (devtmpfs, procfs), where a stat() costs microseconds and a
 * thread-pool trip each (a dozen per scope, on the path of every
 * CreateMachine) cost milliseconds on a loaded host.
 * @module
 */

import { readFileSync, statSync } from 'node:fs'
import type { DeviceAllowRule, DevicePolicy } from '../core/scope-properties.ts'

/** systemd's auto_devices[]: always reachable under a closed policy. */
const STANDARD_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx']

/** Lines of /proc/devices, per section: driver name → majors. */
export function parseProcDevices(text: string): { char: Map<string, number[]>; block: Map<string, number[]> } {
  const char = new Map<string, number[]>()
  const block = new Map<string, number[]>()
  let section: Map<string, number[]> | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('Character devices:')) section = char
    else if (line.startsWith('Block devices:')) section = block
    else {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line)
      if (m === null || section === undefined) continue
      const list = section.get(m[2]!) ?? []
      list.push(Number(m[1]))
      section.set(m[2]!, list)
    }
  }
  return { char, block }
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${escaped}$`)
}

function ruleForPath(path: string, access: string): string[] {
  try {
    const st = statSync(path)
    const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined
    if (type === undefined) return []
    const major = Math.floor(st.rdev / 256) & 0xfff
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)
    return [`${type} ${major}:${minor} ${access}`]
  } catch {
    // systemd logs and skips device nodes that do not exist.
    return []
  }
}

/**
 * The rules to write: undefined when the policy does not restrict anything
 * ("auto" with an empty list), else the devices.allow lines after a
 * devices.deny of "a".
 */
export function deviceAllowLines(policy: DevicePolicy, allow: readonly DeviceAllowRule[], procDevicesText?: string): string[] | undefined {
  if (policy === 'auto' && allow.length === 0) return undefined
  const lines: string[] = []
  if (policy !== 'strict') {
    for (const path of STANDARD_DEVICES) lines.push(...ruleForPath(path, 'rwm'))
  }
  let devices: ReturnType<typeof parseProcDevices> | undefined
  for (const rule of allow) {
    if (rule.specifier.startsWith('/dev/')) {
      lines.push(...ruleForPath(rule.specifier, rule.access))
      continue
    }
    devices ??= parseProcDevices(procDevicesText ?? readFileSync('/proc/devices', 'utf8'))
    const isChar = rule.specifier.startsWith('char-')
    const pattern = globToRegExp(rule.specifier.slice(isChar ? 5 : 6))
    const table = isChar ? devices.char : devices.block
    for (const [driver, majors] of table) {
      if (!pattern.test(driver)) continue
      for (const major of majors) lines.push(`${isChar ? 'c' : 'b'} ${major}:* ${rule.access}`)
    }
  }
  return lines
}

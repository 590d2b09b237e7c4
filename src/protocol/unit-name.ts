/**
 * Unit names as systemd builds them (unit-name.c): escaping, the machine
 * scope name, and where a slice sits in the cgroup tree.
 * @module
 */

import { utf8Encode } from './utf8.ts'

const UNIT_NAME_MAX = 255

function hex2(c: number): string {
  return c.toString(16).padStart(2, '0')
}

/**
 * unit_name_escape(): keep [A-Za-z0-9:_.], turn '/' into '-', and write
 * everything else (and a leading '.') as \xNN per UTF-8 byte.
 */
export function unitNameEscape(s: string): string {
  const bytes = utf8Encode(s)
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === 0x2f) out += '-'
    else if ((c === 0x2e && i === 0) || !isUnitNameChar(c)) out += `\\x${hex2(c)}`
    else out += String.fromCharCode(c)
  }
  return out
}

function isUnitNameChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x3a || c === 0x5f || c === 0x2e
  )
}

/** The scope systemd-machined puts a machine in: machine-<escaped>.scope. */
export function machineScopeName(machineName: string): string {
  return `machine-${unitNameEscape(machineName)}.scope`
}

export const MACHINE_SLICE = 'machine.slice'

/** A slice name systemd would accept: "-.slice" or dash-separated non-empty parts. */
export function sliceNameIsValid(slice: string): boolean {
  if (slice === '-.slice') return true
  if (!slice.endsWith('.slice') || slice.length > UNIT_NAME_MAX) return false
  const prefix = slice.slice(0, -'.slice'.length)
  if (prefix.length === 0 || prefix.startsWith('-') || prefix.endsWith('-') || prefix.includes('--')) return false
  return /^[A-Za-z0-9:_.\\-]+$/.test(prefix)
}

/**
 * slice → cgroup path relative to the root, as systemd nests slices:
 * "a-b-c.slice" lives at "a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root.
 */
export function sliceCgroupPath(slice: string): string {
  if (slice === '-.slice') return ''
  const parts = slice.slice(0, -'.slice'.length).split('-')
  const out: string[] = []
  for (let i = 1; i <= parts.length; i++) out.push(`${parts.slice(0, i).join('-')}.slice`)
  return out.join('/')
}

/**
 * unit_name_is_valid() for plain and instance names: a known type suffix,
 * a non-empty prefix of [A-Za-z0-9:_.\\-] (escapes are backslash sequences),
 * at most one '@', shorter than 256 characters.
 */
export function unitNameIsValid(name: string): boolean {
  if (name.length >= 256) return false
  const dot = name.lastIndexOf('.')
  if (dot <= 0 || !UNIT_SUFFIXES.includes(name.slice(dot) as (typeof UNIT_SUFFIXES)[number])) return false
  const prefix = name.slice(0, dot)
  const at = prefix.indexOf('@')
  if (at === 0 || prefix.indexOf('@', at + 1) >= 0) return false
  return /^[A-Za-z0-9:_.\\@-]+$/.test(prefix)
}

const UNIT_SUFFIXES = ['.service', '.scope', '.socket', '.mount', '.swap', '.target', '.device', '.timer', '.path', '.automount', '.slice'] as const

/**
 * cg_path_get_unit(): the first path component below the slices that names
 * a unit, e.g. "/machine.slice/machine-x.scope/init.scope" → machine-x.scope.
 */
export function unitFromCgroupPath(path: string): string | undefined {
  for (const component of path.split('/')) {
    if (component === '') continue
    if (component.endsWith('.slice') && unitNameIsValid(component)) continue
    return unitNameIsValid(component) ? component : undefined
  }
  return undefined
}

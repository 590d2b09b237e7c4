/**
 * The local time zone as glibc's localtime_r() sees it: the offset from
 * UTC and the abbreviation (tm_zone, e.g. "CET") at a given instant. It
 * reads the same TZif file glibc reads ($TZ, else /etc/localtime), so a
 * timestamp prints with the same zone name machinectl prints; Node's own
 * Intl names zones differently ("GMT+1").
 * @module
 */

import { readFileSync } from 'node:fs'

export interface LocalZone {
  /** Seconds east of UTC. */
  readonly offset: number
  /** tm_zone, e.g. "UTC", "CEST", "+03". */
  readonly abbreviation: string
}

interface PosixRule {
  readonly std: LocalZone
  readonly dst?: { readonly zone: LocalZone; readonly start: RuleDate; readonly end: RuleDate } | undefined
}

/** A transition date of a POSIX TZ rule, and the local time of day (seconds) it happens at. */
type RuleDate =
  | { readonly kind: 'julian-no-leap'; readonly day: number; readonly time: number }
  | { readonly kind: 'julian'; readonly day: number; readonly time: number }
  | { readonly kind: 'month-week-day'; readonly month: number; readonly week: number; readonly weekday: number; readonly time: number }

interface Zone {
  readonly transitions: readonly number[]
  readonly typeOf: readonly number[]
  readonly types: readonly LocalZone[]
  readonly footer: PosixRule | undefined
}

const UTC: Zone = { transitions: [], typeOf: [], types: [{ offset: 0, abbreviation: 'UTC' }], footer: undefined }

// ── POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3") ────────────────────────

function parseName(s: string, at: number): [string, number] | undefined {
  if (s[at] === '<') {
    const end = s.indexOf('>', at)
    return end < 0 ? undefined : [s.slice(at + 1, end), end + 1]
  }
  const m = /^[A-Za-z]{3,}/.exec(s.slice(at))
  return m === null ? undefined : [m[0], at + m[0].length]
}

/** [+-]hh[:mm[:ss]] in seconds. */
function parseTime(s: string, at: number): [number, number] | undefined {
  const m = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(s.slice(at))
  if (m === null) return undefined
  const v = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)
  return [m[1] === '-' ? -v : v, at + m[0].length]
}

function parseRuleDate(s: string, at: number): [RuleDate, number] | undefined {
  const m = /^(?:J(\d{1,3})|(\d{1,3})|M(\d{1,2})\.(\d)\.(\d))/.exec(s.slice(at))
  if (m === null) return undefined
  let pos = at + m[0].length
  let time = 7200
  if (s[pos] === '/') {
    const t = parseTime(s, pos + 1)
    if (t === undefined) return undefined
    ;[time, pos] = t
  }
  if (m[1] !== undefined) return [{ kind: 'julian-no-leap', day: Number(m[1]), time }, pos]
  if (m[2] !== undefined) return [{ kind: 'julian', day: Number(m[2]), time }, pos]
  return [{ kind: 'month-week-day', month: Number(m[3]), week: Number(m[4]), weekday: Number(m[5]), time }, pos]
}

export function parsePosixTz(s: string): PosixRule | undefined {
  const std = parseName(s, 0)
  if (std === undefined) return undefined
  const stdOff = parseTime(s, std[1])
  if (stdOff === undefined) return undefined
  // POSIX offsets count west of UTC.
  const stdZone = { offset: -stdOff[0], abbreviation: std[0] }
  let pos = stdOff[1]
  if (pos >= s.length) return { std: stdZone }
  const dst = parseName(s, pos)
  if (dst === undefined) return undefined
  pos = dst[1]
  let dstOffset = stdZone.offset + 3600
  if (pos < s.length && s[pos] !== ',') {
    const o = parseTime(s, pos)
    if (o === undefined) return undefined
    dstOffset = -o[0]
    pos = o[1]
  }
  // Without a rule glibc uses the US rules of 2007.
  let rule = ',M3.2.0,M11.1.0'
  if (pos < s.length) rule = s.slice(pos)
  const start = parseRuleDate(rule, 1)
  if (rule[0] !== ',' || start === undefined || rule[start[1]] !== ',') return undefined
  const end = parseRuleDate(rule, start[1] + 1)
  if (end === undefined) return undefined
  return { std: stdZone, dst: { zone: { offset: dstOffset, abbreviation: dst[0] }, start: start[0], end: end[0] } }
}

const DAY = 86400

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

/** Seconds from the epoch to local midnight starting the rule's day in `year`, plus its time. */
function ruleInstant(d: RuleDate, year: number): number {
  const jan1 = Date.UTC(year, 0, 1) / 1000
  switch (d.kind) {
    case 'julian-no-leap': return jan1 + (d.day - 1 + (isLeap(year) && d.day >= 60 ? 1 : 0)) * DAY + d.time
    case 'julian': return jan1 + d.day * DAY + d.time
    case 'month-week-day': {
      const first = Date.UTC(year, d.month - 1, 1) / 1000
      const firstWeekday = new Date(first * 1000).getUTCDay()
      let day = 1 + ((d.weekday - firstWeekday + 7) % 7) + (d.week - 1) * 7
      const daysInMonth = new Date(Date.UTC(year, d.month, 0)).getUTCDate()
      while (day > daysInMonth) day -= 7 // week 5 means "the last"
      return first + (day - 1) * DAY + d.time
    }
  }
}

function evaluatePosix(rule: PosixRule, t: number): LocalZone {
  const dst = rule.dst
  if (dst === undefined) return rule.std
  const year = new Date((t + rule.std.offset) * 1000).getUTCFullYear()
  // DST starts at a standard-time wall clock and ends at a daylight one.
  const start = ruleInstant(dst.start, year) - rule.std.offset
  const end = ruleInstant(dst.end, year) - dst.zone.offset
  const inDst = start < end ? t >= start && t < end : !(t >= end && t < start)
  return inDst ? dst.zone : rule.std
}

// ── TZif files (RFC 8536) ───────────────────────────────────────────────────

export function parseTzif(data: Buffer): Zone | undefined {
  if (data.length < 44 || data.toString('latin1', 0, 4) !== 'TZif') return undefined
  const version = data[4]!
  const counts = (at: number): number[] => [0, 1, 2, 3, 4, 5].map((i) => data.readUInt32BE(at + 20 + i * 4))
  let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts(0) as [number, number, number, number, number, number]
  let at = 44
  let timeSize = 4
  if (version >= 0x32) {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    at += timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
    if (data.length < at + 44) return undefined
    ;[isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts(at) as [number, number, number, number, number, number]
    at += 44
    timeSize = 8
  }
  const transitions: number[] = []
  for (let i = 0; i < timecnt; i++) {
    transitions.push(timeSize === 8 ? Number(data.readBigInt64BE(at + i * 8)) : data.readInt32BE(at + i * 4))
  }
  at += timecnt * timeSize
  const typeOf = Array.from(data.subarray(at, at + timecnt))
  at += timecnt
  const raw: { offset: number; index: number }[] = []
  for (let i = 0; i < typecnt; i++) raw.push({ offset: data.readInt32BE(at + i * 6), index: data[at + i * 6 + 5]! })
  at += typecnt * 6
  const chars = data.subarray(at, at + charcnt)
  const types = raw.map(({ offset, index }) => {
    const end = chars.indexOf(0, index)
    return { offset, abbreviation: chars.toString('latin1', index, end < 0 ? chars.length : end) }
  })
  at += charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
  let footer: PosixRule | undefined
  if (version >= 0x32 && data[at] === 0x0a) {
    const end = data.indexOf(0x0a, at + 1)
    if (end > at + 1) footer = parsePosixTz(data.toString('latin1', at + 1, end))
  }
  if (types.length === 0) return undefined
  return { transitions, typeOf, types, footer }
}

function zoneAt(zone: Zone, t: number): LocalZone {
  const n = zone.transitions.length
  if (n === 0 || t >= zone.transitions[n - 1]!) {
    if (zone.footer !== undefined) return evaluatePosix(zone.footer, t)
    if (n === 0) return zone.types[0]!
  }
  if (t < zone.transitions[0]!) return zone.types[0]!
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (zone.transitions[mid]! <= t) lo = mid
    else hi = mid - 1
  }
  return zone.types[zone.typeOf[lo]!] ?? zone.types[0]!
}

function loadZone(env: NodeJS.ProcessEnv): Zone {
  const tz = env.TZ
  const read = (path: string): Zone | undefined => {
    try { return parseTzif(readFileSync(path)) } catch { return undefined }
  }
  if (tz === undefined) return read('/etc/localtime') ?? UTC
  if (tz === '') return UTC
  const name = tz.startsWith(':') ? tz.slice(1) : tz
  const dir = env.TZDIR ?? '/usr/share/zoneinfo'
  const file = name.startsWith('/') ? read(name) : name.includes('..') ? undefined : read(`${dir}/${name}`)
  if (file !== undefined) return file
  const rule = parsePosixTz(name)
  return rule === undefined ? UTC : { transitions: [], typeOf: [], types: [rule.std], footer: rule }
}

let cached: Zone | undefined

/** The local zone at `epochSeconds` (localtime_r()'s tm_gmtoff and tm_zone). */
export function localZoneAt(epochSeconds: number, env: NodeJS.ProcessEnv = process.env): LocalZone {
  const zone = env === process.env ? (cached ??= loadZone(env)) : loadZone(env)
  return zoneAt(zone, epochSeconds)
}

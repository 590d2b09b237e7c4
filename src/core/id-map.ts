/**
 * User namespace maps (/proc/PID/uid_map, gid_map) read the way
 * machine_get_uid_shift() and the MapFrom/MapTo methods read them.
 * @module
 */

export interface IdRange {
  readonly inside: number
  readonly outside: number
  readonly count: number
}

/** systemd's UID_NOBODY: a shift range must cover at least up to nobody. */
const UID_NOBODY = 65534

export function parseIdMap(text: string): IdRange[] | undefined {
  const out: IdRange[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line)
    if (m === null) return undefined
    out.push({ inside: Number(m[1]), outside: Number(m[2]), count: Number(m[3]) })
  }
  return out
}

/**
 * The shift, or 'complex' when the map is not one range starting at 0 of
 * at least 65534 ids identical for users and groups (-ENXIO in systemd),
 * or 'malformed' (-EBADMSG). The identity map gives 0.
 */
export function uidShiftFromMaps(uidMap: string, gidMap: string): number | 'complex' | 'malformed' {
  const uid = parseIdMap(uidMap)
  const gid = parseIdMap(gidMap)
  if (uid === undefined || gid === undefined || uid.length === 0 || gid.length === 0) return 'malformed'
  const [u] = uid as [IdRange]
  const [g] = gid as [IdRange]
  if (uid.length > 1 || gid.length > 1) return 'complex'
  if (u.inside !== 0 || u.count < UID_NOBODY) return 'complex'
  if (u.inside !== g.inside || u.outside !== g.outside || u.count !== g.count) return 'complex'
  return u.outside
}

/** Inside id → host id through a map; undefined when no range covers it. */
export function mapFromInside(ranges: readonly IdRange[], inside: number): number | undefined {
  for (const r of ranges) if (inside >= r.inside && inside - r.inside < r.count) return r.outside + (inside - r.inside)
  return undefined
}

/** Host id → inside id through a map; undefined when no range covers it. */
export function mapToInside(ranges: readonly IdRange[], outside: number): number | undefined {
  for (const r of ranges) if (outside >= r.outside && outside - r.outside < r.count) return r.inside + (outside - r.outside)
  return undefined
}

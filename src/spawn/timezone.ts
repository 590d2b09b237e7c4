/**
 * The guest's /etc/localtime follows the host's time zone, as nspawn's
 * --timezone=auto does in its "symlink" flavour (setup_timezone()): a
 * relative link into the guest's own zoneinfo, so it resolves inside the
 * container (checklist item 54, docs/container-interface.md). Only when
 * the guest has that zone and its /etc/localtime is a link or missing; a
 * regular file, or an /etc we cannot write, is left as it is.
 * @module
 */

import { lstatSync, readlinkSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs'
import { resolveInRoot } from './tree.ts'

/** "Europe/Berlin" from a link target such as /usr/share/zoneinfo/Europe/Berlin. */
export function zoneFromLink(target: string): string | undefined {
  const m = /(?:^|\/)zoneinfo\/(.+)$/.exec(target)
  if (m === null) return undefined
  const zone = m[1]!
  return zone.split('/').some((p) => p === '' || p === '.' || p === '..') ? undefined : zone
}

/** Points the tree's /etc/localtime at the host's zone; returns what it did, for debugging. */
export function syncTimezone(root: string, hostLocaltime = '/etc/localtime'): 'linked' | 'unchanged' | 'skipped' {
  let zone: string | undefined
  try { zone = zoneFromLink(readlinkSync(hostLocaltime)) } catch { return 'skipped' }
  if (zone === undefined) return 'skipped'
  const zoneFile = resolveInRoot(root, `/usr/share/zoneinfo/${zone}`)
  if (zoneFile === undefined || !statSync(zoneFile, { throwIfNoEntry: false })?.isFile()) return 'skipped'
  const etc = resolveInRoot(root, '/etc')
  if (etc === undefined) return 'skipped'
  const link = `${etc}/localtime`
  const want = `../usr/share/zoneinfo/${zone}`
  const st = lstatSync(link, { throwIfNoEntry: false })
  if (st !== undefined && !st.isSymbolicLink()) return 'skipped'
  if (st !== undefined && readlinkSync(link) === want) return 'unchanged'
  try {
    const tmp = `${link}.machined-spawn`
    try { unlinkSync(tmp) } catch { /* none */ }
    symlinkSync(want, tmp)
    renameSync(tmp, link)
    return 'linked'
  } catch {
    return 'skipped' // a read-only /etc
  }
}

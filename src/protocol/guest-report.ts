/**
 * The guest report: machined-vmspawn's console protocol, for guests whose
 * systemd predates the vsock notify channel (systemd < 254, e.g. Debian
 * 12's 252). The guest prints one line on its console
 * (docs/vm-guest-protocol.md; data/guest/machined-guest-report prints it):
 *
 *   machined-guest-report/1: READY=1 X_SYSTEMD_MACHINE_ID=<id> X_SYSTEMD_HOSTNAME=<name> X_MACHINED_PRODUCT_UUID=<uuid>
 *
 * The words after the colon are sd_notify fields (./sd-notify.ts), so both
 * channels share one vocabulary; values cannot contain blanks. The number
 * after the tag is the protocol version: it changes only when a line could
 * no longer be read by an older host; new fields do not change it (a host
 * ignores fields it does not know). A host ignores lines of versions it
 * does not know. The tag may follow other text on the line (a kernel log
 * prefix, or output interleaved on a shared serial port).
 * @module
 */

import { collectAssignments, type NotifyAssignments } from './sd-notify.ts'

export const GUEST_REPORT_TAG = 'machined-guest-report'
export const GUEST_REPORT_VERSION = 1

/** Words after the tag beyond this many are ignored: a report has a handful. */
export const GUEST_REPORT_WORDS_MAX = 32

export type GuestReportLine =
  | { readonly version: typeof GUEST_REPORT_VERSION; readonly assignments: NotifyAssignments }
  /** A report of a version this host does not read. */
  | { readonly version: number; readonly assignments?: undefined }

const LINE = new RegExp(`(?:^|[\\s\\]:])${GUEST_REPORT_TAG}/(\\d{1,4}):(.*)$`)

/** The report in one console line (without its line end), or undefined when the line has none. */
export function parseGuestReportLine(line: string): GuestReportLine | undefined {
  const m = LINE.exec(line)
  if (m === null) return undefined
  const version = Number(m[1])
  if (version !== GUEST_REPORT_VERSION) return { version }
  const words = m[2]!.split(/[ \t]+/).filter((w) => w !== '').slice(0, GUEST_REPORT_WORDS_MAX)
  return { version: GUEST_REPORT_VERSION, assignments: collectAssignments(words) }
}

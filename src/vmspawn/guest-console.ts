/**
 * What the guest's serial console tells about the guest, line by line:
 *
 *  - the guest report (src/protocol/guest-report.ts): one line a guest
 *    prints when it has booted, carrying sd_notify fields — the fallback
 *    for guests whose systemd cannot use the vsock notify channel;
 *  - systemd's own message on how it chose its machine ID ("Initializing
 *    machine ID from VM UUID." — machine_id_setup(), shown on the console
 *    through the kernel log);
 *  - the kernel's banner ("Linux version …"): a new boot has begun.
 *
 * Everything on the console comes from the guest: nothing here is
 * trusted for anything but display.
 * @module
 */

import { parseGuestReportLine } from '../protocol/guest-report.ts'
import { interpretNotifyFields, type InterpretedFields } from '../protocol/sd-notify.ts'

// CSI sequences (colours, cursor moves) and other ESC x pairs systemd and agetty print.
// eslint-disable-next-line no-control-regex -- ESC starts the sequences it strips
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1bc/g

/** A line never grows beyond this: the rest of an endless line is dropped. */
export const CONSOLE_LINE_MAX = 4096

/** Splits console output into lines without terminal escapes or carriage returns. */
export class LineSplitter {
  #partial = ''

  push(chunk: string): string[] {
    const text = this.#partial + chunk
    const parts = text.split('\n')
    this.#partial = (parts.pop() ?? '').slice(-CONSOLE_LINE_MAX)
    return parts.map((l) => l.replace(ANSI, '').replace(/\r/g, ''))
  }
}

export type ConsoleFact =
  | { readonly kind: 'machine-id-source'; readonly source: string }
  | { readonly kind: 'report'; readonly fields: InterpretedFields }
  | { readonly kind: 'unsupported-report'; readonly version: number }
  | { readonly kind: 'boot' }

// systemd's sources are short phrases ("VM UUID", "random generator", "container UUID"); anything else is not systemd's.
const MACHINE_ID_SOURCE = /Initializing machine ID from ([A-Za-z0-9 _-]{1,40})\./
const KERNEL_BANNER = /(?:^|\] )Linux version \S+ \(/

/** The fact one console line tells, or undefined for most lines. */
export function parseConsoleLine(line: string): ConsoleFact | undefined {
  const report = parseGuestReportLine(line)
  if (report !== undefined) {
    return report.assignments === undefined
      ? { kind: 'unsupported-report', version: report.version }
      : { kind: 'report', fields: interpretNotifyFields(report.assignments) }
  }
  const init = MACHINE_ID_SOURCE.exec(line)
  if (init !== null) return { kind: 'machine-id-source', source: init[1]!.trim() }
  if (KERNEL_BANNER.test(line)) return { kind: 'boot' }
  return undefined
}

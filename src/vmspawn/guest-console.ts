/**
 * What the guest's console tells about its identity. A systemd guest
 * logs how it chose its machine ID ("Initializing machine ID from VM
 * UUID." — machine_id_setup() — shown on the serial console through the
 * kernel log); our test image's report unit prints one line with the
 * product UUID and the machine ID it ended up with (scripts/vm-guest-report.sh):
 *
 *   machined-ts-report: product_uuid=<uuid> machine_id=<id> expected=<id> verdict=match|mismatch|no-uuid
 *
 * Nothing here is trusted for anything but display and tests.
 * @module
 */

import { isValidMachineId, machineIdFromProductUuid } from '../protocol/machine-id.ts'
import type { GuestIdentity } from '../protocol/vm-guest-record.ts'

export type { GuestIdentity } from '../protocol/vm-guest-record.ts'

// CSI sequences (colours, cursor moves) and other ESC x pairs systemd and agetty print.
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1bc/g

/** Splits console output into lines without terminal escapes or carriage returns. */
export class LineSplitter {
  #partial = ''

  push(chunk: string): string[] {
    const text = this.#partial + chunk
    const parts = text.split('\n')
    this.#partial = (parts.pop() ?? '').slice(-4096) // a line never ends: do not grow for ever
    return parts.map((l) => l.replace(ANSI, '').replace(/\r/g, ''))
  }
}

/** The identity facts in one console line, or undefined when it has none. */
export function parseConsoleLine(line: string): GuestIdentity | undefined {
  const init = /Initializing machine ID from ([^.]+)\./.exec(line)
  if (init !== null) return { machineIdSource: init[1]!.trim() }
  const report = /machined-ts-report: (.*)$/.exec(line)
  if (report === null) return undefined
  const fields = Object.fromEntries(report[1]!.trim().split(/\s+/).map((kv) => {
    const eq = kv.indexOf('=')
    return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)]
  }))
  const machineId = fields.machine_id ?? ''
  const productUuid = fields.product_uuid ?? ''
  return {
    ...(isValidMachineId(machineId) ? { machineId } : {}),
    ...(machineIdFromProductUuid(productUuid) !== undefined ? { productUuid: productUuid.toLowerCase() } : {}),
  }
}

/** Folds console output into what is known about the guest; `onChange` gets the new whole. */
export class GuestConsoleWatch {
  readonly #lines = new LineSplitter()
  readonly #onChange: (identity: GuestIdentity) => void
  #identity: GuestIdentity = {}

  constructor(onChange: (identity: GuestIdentity) => void) {
    this.#onChange = onChange
  }

  get identity(): GuestIdentity {
    return this.#identity
  }

  push(chunk: Buffer): void {
    for (const line of this.#lines.push(chunk.toString('latin1'))) {
      const facts = parseConsoleLine(line)
      if (facts === undefined) continue
      this.#identity = { ...this.#identity, ...facts }
      this.#onChange(this.#identity)
    }
  }
}

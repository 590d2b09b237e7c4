/**
 * What the ".host" machine reports: /etc/machine-id, the boot time, PID 1.
 * @module
 */

import { readFile } from 'node:fs/promises'
import { idFromString, NULL_ID } from '../core/machine.ts'
import type { HostInfo, Processes } from '../core/ports.ts'

export async function readHostInfo(options: { processes: Processes; etcRoot?: string; procRoot?: string }): Promise<HostInfo> {
  const etc = options.etcRoot ?? '/etc'
  const proc = options.procRoot ?? '/proc'
  const idText = (await readFile(`${etc}/machine-id`, 'utf8').catch(() => '')).trim()
  const uptime = Number((await readFile(`${proc}/uptime`, 'utf8').catch(() => '0')).split(' ')[0])
  // systemd: now(CLOCK_REALTIME) - now(CLOCK_BOOTTIME); /proc/uptime is CLOCK_BOOTTIME.
  const bootRealtimeUsec = BigInt(Math.round((Date.now() - uptime * 1000) * 1000))
  const init = (await options.processes.pin(1)) ?? { pid: 1, startTime: 0n }
  return { machineId: idFromString(idText) ?? NULL_ID, bootRealtimeUsec, init }
}

/**
 * Runs the Container Interface suite against a running container, whoever
 * started it: the guest probes go in as one of the guest's own services
 * (nsenter into PID 1's namespaces only to reach the guest's systemd, which
 * then runs the script with the guest's cgroup, capabilities and
 * environment), the host probes look from outside.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cgroupLayoutOf } from '../helpers/cgroups.ts'
import type { Sandbox } from '../helpers/sandbox.ts'
import { guestExec } from '../helpers/spawn.ts'
import { guestScript, hostResults, parseGuestOutput, type ProbeResult } from './container-interface.ts'

/** The controllers the host enables on cgroup2 (its root's subtree_control): none on a hybrid layout. */
function cgroup2Controllers(): string {
  const unified = cgroupLayoutOf().unified
  if (unified === undefined) return ''
  try { return readFileSync(join(unified, 'cgroup.subtree_control'), 'utf8').trim() } catch { return '' }
}

export async function runConformance(sb: Sandbox, options: { leader: number; name: string; registered: boolean }): Promise<ProbeResult[]> {
  const { leader, name, registered } = options
  const show = registered ? (await sb.exec(['machinectl', 'show', name])).stdout : ''
  const registeredId = /^Id=(.*)$/m.exec(show)?.[1] ?? ''
  const facts = {
    name,
    hostBootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    hostCapBnd: /^CapBnd:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0',
    hostCgroup2Controllers: cgroup2Controllers(),
    registeredId,
  }
  const guest = await guestExec(sb, leader, ['/bin/sh', '-s'], { input: guestScript(facts), timeoutMs: 60_000 })
  const journal = registered ? await sb.exec(['journalctl', '-M', name, '-n', '1', '-q', '--no-pager']) : { code: 0, stdout: '', stderr: '' }
  return [
    ...parseGuestOutput(guest.stdout),
    ...hostResults({
      ...facts, leader,
      leaderCgroup: readFileSync(`/proc/${leader}/cgroup`, 'utf8'),
      machinectlShow: show,
      journal: { code: journal.code, output: journal.stdout + journal.stderr },
    }),
  ].sort((a, b) => a.item - b.item || a.where.localeCompare(b.where))
}

/** A Markdown table of results, for the test's log and docs/container-interface.md. */
export function resultTable(results: readonly ProbeResult[]): string {
  const rows = results.map((r) => `| ${r.item} | ${r.where} | ${r.level} | ${r.title} | ${r.outcome} | ${r.detail.replace(/\|/g, '/')} |`)
  return ['| item | where | level | check | result | detail |', '|---:|---|---|---|---|---|', ...rows].join('\n')
}

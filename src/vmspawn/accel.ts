/**
 * Choosing KVM or TCG. vmspawn's --kvm=auto only asks whether /dev/kvm can
 * be opened (qemu_check_kvm_support). That is not enough on hosts whose
 * /dev/kvm is software nested virtualisation (PVM): qemu opens it, then
 * aborts setting MSRs (`-cpu max`/`host`) or runs a guest whose kernel
 * hangs right after the real-mode setup code (other CPU models). So auto
 * boots a probe guest under KVM — the very kernel and CPU model the VM
 * will use, no initrd, 256 MiB — and takes KVM only when that kernel
 * prints its banner ("Linux version …") on the serial port in time. That
 * takes well under a second where KVM works; elsewhere auto falls back to
 * TCG and says why.
 * @module
 */

import { closeSync, constants, openSync } from 'node:fs'
import type { AccelMode } from './options.ts'
import { PreflightError } from './preflight.ts'
import { MACHINE_TYPE, SERIAL_TTY } from './qemu-argv.ts'
import { closed, spawnQemu } from './qemu-process.ts'

export interface AccelChoice {
  readonly accel: 'kvm' | 'tcg'
  /** Why auto chose TCG, to be told to the user; undefined otherwise. */
  readonly fallback: string | undefined
}

/** Generous for KVM (BIOS + decompression take ~0.3 s), short enough to be cheap where it fails. */
export const PROBE_TIMEOUT_MS = 4000

export type ProbeResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly reason: string }

/** /dev/kvm opened read-write, as qemu opens it; the error text when it cannot be. */
export function kvmDeviceProblem(path = '/dev/kvm'): string | undefined {
  try {
    closeSync(openSync(path, constants.O_RDWR))
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return `${path}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (err as Error).message}`
  }
}

/** The probe guest: the VM's kernel and CPU model under KVM, its banner on the serial port. */
export function probeArgv(qemu: string, kernel: string, cpu = 'max'): string[] {
  return [
    qemu, '-machine', `type=${MACHINE_TYPE}`, '-accel', 'kvm', '-cpu', cpu, '-smp', '1', '-m', '256M',
    '-nographic', '-nodefaults', '-no-user-config', '-nic', 'none', '-no-reboot',
    '-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console',
    '-kernel', kernel,
    // earlyprintk: the banner goes out before the console driver is up; panic=-1 with -no-reboot ends the probe if the kernel gets that far.
    '-append', `console=${SERIAL_TTY} earlyprintk=serial,${SERIAL_TTY},115200 panic=-1`,
  ]
}

/** Boots the probe guest and reports whether its kernel made progress under KVM. */
export async function probeKvm(qemu: string, kernel: string, options: { timeoutMs?: number; cpu?: string } = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS
  const started = Date.now()
  const child = spawnQemu(probeArgv(qemu, kernel, options.cpu))
  const done = closed(child)
  let output = ''
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  const result = await new Promise<ProbeResult>((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, reason: `its kernel printed nothing within ${timeoutMs / 1000}s` }), timeoutMs)
    child.stdout?.on('data', (c: Buffer) => {
      output += c.toString('latin1')
      if (/Linux version \S+/.test(output)) { clearTimeout(timer); resolve({ ok: true, ms: Date.now() - started }) }
    })
    child.once('error', (err) => { clearTimeout(timer); resolve({ ok: false, reason: err.message }) })
    void done.then(({ code, signal }) => {
      clearTimeout(timer)
      const why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '' && !/warning:/i.test(l))
      resolve({ ok: false, reason: `qemu ${signal !== null ? `died of ${signal}` : `exited with status ${code ?? '?'}`}${why === undefined ? '' : `: ${why}`}` })
    })
  })
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await done
  return result
}

export interface AccelDeps {
  readonly probe?: typeof probeKvm
  readonly kvmDevice?: string
}

/** Resolves --accel into the accelerator the VM runs with. */
export async function chooseAccel(mode: AccelMode, qemu: string, kernel: string | undefined, deps: AccelDeps = {}): Promise<AccelChoice> {
  if (mode === 'tcg') return { accel: 'tcg', fallback: undefined }
  const problem = kvmDeviceProblem(deps.kvmDevice)
  if (mode === 'kvm') {
    if (problem !== undefined) throw new PreflightError(`--accel=kvm: KVM is not available (${problem})`)
    return { accel: 'kvm', fallback: undefined }
  }
  if (problem !== undefined) return { accel: 'tcg', fallback: `KVM is not available (${problem}); falling back to TCG (software emulation, slow).` }
  if (kernel === undefined) {
    return { accel: 'tcg', fallback: 'Cannot probe KVM without --kernel=; falling back to TCG (software emulation, slow). Use --accel=kvm to insist on KVM.' }
  }
  const r = await (deps.probe ?? probeKvm)(qemu, kernel)
  if (r.ok) return { accel: 'kvm', fallback: undefined }
  return { accel: 'tcg', fallback: `/dev/kvm is there but a probe guest made no progress under KVM (${r.reason}); falling back to TCG (software emulation, slow).` }
}

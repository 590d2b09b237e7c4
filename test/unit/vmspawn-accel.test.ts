// --accel=auto: KVM only when a probe guest makes progress under it. The
// probe runs stand-in "qemu" scripts here (a working KVM, the hang seen on
// PVM hosts, and qemu aborting), so the decision logic is tested on any
// host; test/e2e/vmspawn.test.ts runs the real probe.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chooseAccel, kvmDeviceProblem, probeKvm } from '../../src/vmspawn/accel.ts'
import { PreflightError } from '../../src/vmspawn/preflight.ts'
import { processesMentioning } from '../helpers/vm.ts'

let dir: string
function fakeQemu(name: string, body: string): string {
  const path = join(dir, name)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, 0o755)
  return path
}

describe('KVM probe', () => {
  before(() => { dir = mkdtempSync(join(tmpdir(), 'vmspawn-accel-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  test('a kernel banner on the serial port means KVM works; the probe guest is gone afterwards', async () => {
    const qemu = fakeQemu('qemu-works', 'echo "SeaBIOS (version 1.16)"; echo "[    0.000000] Linux version 6.1.0-56-cloud-amd64 (gcc)"; exec sleep 30')
    const r = await probeKvm(qemu, '/k', { timeoutMs: 5000 })
    assert.equal(r.ok, true)
    assert.deepEqual(processesMentioning(qemu), [])
  })

  test('no banner in time (the PVM hang): no progress, and the probe guest is killed', async () => {
    const qemu = fakeQemu('qemu-hangs', 'echo "Probing EDD (edd=off to disable)... ok"; exec sleep 30')
    const started = Date.now()
    const r = await probeKvm(qemu, '/k', { timeoutMs: 500 })
    assert.deepEqual(r, { ok: false, reason: 'its kernel printed nothing within 0.5s' })
    assert.ok(Date.now() - started < 5000)
    assert.deepEqual(processesMentioning(qemu), [])
  })

  test('qemu dying: its first error line is the reason (warnings skipped)', async () => {
    const qemu = fakeQemu('qemu-aborts', [
      'echo "qemu-system-x86_64: warning: host doesn\'t support requested feature" >&2',
      'echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2',
      'kill -ABRT $$',
    ].join('\n'))
    const r = await probeKvm(qemu, '/k', { timeoutMs: 5000 })
    assert.deepEqual(r, { ok: false, reason: 'qemu died of SIGABRT: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' })
  })

  test('qemu exiting with a status', async () => {
    const r = await probeKvm(fakeQemu('qemu-fails', 'echo "qemu: could not load kernel" >&2; exit 1'), '/k', { timeoutMs: 5000 })
    assert.deepEqual(r, { ok: false, reason: 'qemu exited with status 1: qemu: could not load kernel' })
  })
})

describe('choosing the accelerator', () => {
  const noProbe = async (): Promise<never> => { throw new Error('must not probe') }
  const passes = async (): Promise<{ ok: true; ms: number }> => ({ ok: true, ms: 12 })
  const hangs = async (): Promise<{ ok: false; reason: string }> => ({ ok: false, reason: 'its kernel printed nothing within 4s' })
  const usable = '/dev/null' // opens read-write like a working /dev/kvm

  test('tcg asks nothing', async () => {
    assert.deepEqual(await chooseAccel('tcg', 'q', '/k', { probe: noProbe, kvmDevice: '/nonexistent' }), { accel: 'tcg', fallback: undefined })
  })

  test('kvm insists: no probe, but an error without /dev/kvm', async () => {
    assert.deepEqual(await chooseAccel('kvm', 'q', '/k', { probe: noProbe, kvmDevice: usable }), { accel: 'kvm', fallback: undefined })
    await assert.rejects(chooseAccel('kvm', 'q', '/k', { probe: noProbe, kvmDevice: '/nonexistent/kvm' }),
      (err: unknown) => err instanceof PreflightError && err.message === '--accel=kvm: KVM is not available (/nonexistent/kvm: No such file or directory)')
  })

  test('auto: KVM when the probe guest makes progress', async () => {
    assert.deepEqual(await chooseAccel('auto', 'q', '/k', { probe: passes, kvmDevice: usable }), { accel: 'kvm', fallback: undefined })
  })

  test('auto: TCG, saying why, when the probe makes no progress, /dev/kvm is missing, or there is no kernel to probe with', async () => {
    assert.deepEqual(await chooseAccel('auto', 'q', '/k', { probe: hangs, kvmDevice: usable }), {
      accel: 'tcg',
      fallback: '/dev/kvm is there but a probe guest made no progress under KVM (its kernel printed nothing within 4s); falling back to TCG (software emulation, slow).',
    })
    assert.deepEqual(await chooseAccel('auto', 'q', '/k', { probe: noProbe, kvmDevice: '/nonexistent/kvm' }), {
      accel: 'tcg', fallback: 'KVM is not available (/nonexistent/kvm: No such file or directory); falling back to TCG (software emulation, slow).',
    })
    const noKernel = await chooseAccel('auto', 'q', undefined, { probe: noProbe, kvmDevice: usable })
    assert.equal(noKernel.accel, 'tcg')
    assert.match(noKernel.fallback ?? '', /^Cannot probe KVM without --kernel=; falling back to TCG/)
  })

  test('/dev/kvm checks', () => {
    assert.equal(kvmDeviceProblem('/dev/null'), undefined)
    assert.equal(kvmDeviceProblem('/nonexistent/kvm'), '/nonexistent/kvm: No such file or directory')
  })
})

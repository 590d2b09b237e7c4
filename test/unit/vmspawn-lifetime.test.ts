// What the launcher does with qemu when machinectl's signals arrive, and
// the exit status it reports: the state machine with recorded effects.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { exitStatusOf, Lifetime, type LifetimeEffects } from '../../src/vmspawn/lifetime.ts'
import { terminatingSignal } from '../../src/vmspawn/qemu-process.ts'

function harness(options: { powerdownFails?: boolean } = {}): { life: Lifetime; calls: string[]; fireTimer: () => void; timers: () => number } {
  const calls: string[] = []
  let pending: (() => void) | undefined
  const fx: LifetimeEffects = {
    powerdown: async () => { calls.push('powerdown'); if (options.powerdownFails === true) throw new Error('QMP connection is closed') },
    reset: async () => { calls.push('reset') },
    kill: (s) => { calls.push(`kill ${s}`) },
    log: (m) => { calls.push(`log ${m}`) },
    setTimer: (ms, fn) => { calls.push(`timer ${ms}`); pending = fn; return () => { calls.push('cancel'); pending = undefined } },
  }
  return { life: new Lifetime(fx, 30_000), calls, fireTimer: () => pending?.(), timers: () => (pending === undefined ? 0 : 1) }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('launcher lifetime', () => {
  test('SIGRTMIN+4 (machinectl poweroff) presses the ACPI power button, nothing else', async () => {
    const h = harness()
    h.life.onSignal('poweroff')
    await settle()
    assert.deepEqual(h.calls, ['log Powering off the guest (ACPI power button).', 'powerdown'])
  })

  test('SIGINT (machinectl reboot) resets the guest', async () => {
    const h = harness()
    h.life.onSignal('reboot')
    await settle()
    assert.deepEqual(h.calls, ['log Resetting the guest.', 'reset'])
  })

  test('SIGTERM: power button and a timer; qemu is killed when the timer fires', async () => {
    const h = harness()
    h.life.onSignal('terminate')
    await settle()
    assert.deepEqual(h.calls, ['log Powering off the guest; qemu is killed if it is still running in 30s (SIGTERM again kills it now).', 'timer 30000', 'powerdown'])
    h.fireTimer()
    assert.deepEqual(h.calls.slice(3), ['log The guest did not power off within 30s: killing qemu.', 'kill SIGKILL'])
  })

  test('a second SIGTERM kills at once', async () => {
    const h = harness()
    h.life.onSignal('terminate')
    h.life.onSignal('terminate')
    await settle()
    assert.deepEqual(h.calls.filter((c) => !c.startsWith('log')), ['timer 30000', 'powerdown', 'kill SIGKILL'])
  })

  test('qemu exiting in time cancels the timer; later signals do nothing', async () => {
    const h = harness()
    h.life.onSignal('terminate')
    assert.equal(h.life.onQemuExit({ code: 0, signal: null }), 0)
    assert.equal(h.timers(), 0)
    h.life.onSignal('poweroff')
    h.life.onEscape()
    await settle()
    assert.deepEqual(h.calls.filter((c) => !c.startsWith('log')), ['timer 30000', 'powerdown', 'cancel'])
  })

  test('without a monitor to talk to, poweroff stops qemu instead', async () => {
    const h = harness({ powerdownFails: true })
    h.life.onSignal('poweroff')
    await settle()
    assert.deepEqual(h.calls.slice(-2), ['log Failed to power off the guest (QMP connection is closed); stopping qemu.', 'kill SIGTERM'])
  })

  test('Ctrl-] three times stops qemu', () => {
    const h = harness()
    h.life.onEscape()
    assert.deepEqual(h.calls, ['log Ctrl-] pressed three times: stopping the VM.', 'kill SIGTERM'])
  })

  test("exit status: qemu's code, or 128+N for a signal", () => {
    assert.equal(exitStatusOf({ code: 0, signal: null }), 0)
    assert.equal(exitStatusOf({ code: 1, signal: null }), 1)
    assert.equal(exitStatusOf({ code: null, signal: 'SIGKILL' }), 137)
    assert.equal(exitStatusOf({ code: null, signal: 'SIGTERM' }), 143)
    assert.equal(exitStatusOf({ code: 0, signal: null, terminatedBy: 15 }), 143, 'qemu caught SIGTERM and quit with 0')
    assert.equal(exitStatusOf({ code: 1, signal: null, terminatedBy: 15 }), 1)
  })

  test("qemu's own words when it quits on a signal", () => {
    assert.equal(terminatingSignal('qemu-system-x86_64: terminating on signal 15 from pid 4242 (node)\n'), 15)
    assert.equal(terminatingSignal('qemu-system-x86_64: terminating on signal 2\n'), 2)
    assert.equal(terminatingSignal('qemu-system-x86_64: warning: something\n'), undefined)
  })
})

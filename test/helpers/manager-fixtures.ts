// What the Manager's unit tests share: a registration request for a live
// leader of the fake ports, waiting for queued work, and error matching.
import assert from 'node:assert/strict'
import type { RegisterRequest } from '../../src/core/register.ts'

/** The leader the fake ports report alive (createFakePorts()). */
export const LEADER = 4605

/** A CreateMachine call for a live leader, unless overridden. */
export function registerRequest(overrides: Partial<RegisterRequest> = {}): RegisterRequest {
  return {
    name: 'golden', id: new Uint8Array(0), service: 'svc', class: 'container', leader: LEADER, rootDirectory: '',
    netifs: undefined, allocateUnit: true, scopeProperties: [], ...overrides,
  }
}

/** Lets queued garbage collection (promise chains over the fakes) finish. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Rejects with an instance of `cls` carrying exactly `message`. */
export async function rejectsWith(promise: Promise<unknown>, cls: abstract new (...args: never[]) => Error, message: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`)
    assert.equal(err.message, message)
    return true
  })
}

/** Throws, at once, an instance of `cls` carrying exactly `message` (a transport's lookup by name). */
export function throwsWith(fn: () => unknown, cls: abstract new (...args: never[]) => Error, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`)
    assert.equal(err.message, message)
    return true
  })
}

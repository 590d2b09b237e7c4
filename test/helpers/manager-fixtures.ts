// What the core's unit tests share: a Manager over fake ports, a
// registration request for a live leader of those ports, waiting for
// queued work, and error matching.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Manager, type ManagerLimits } from '../../src/core/manager.ts'
import type { RegisterRequest } from '../../src/core/register.ts'
import { createFakePorts, type FakePorts } from '../fakes/ports.ts'

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

/** The Manager over fresh fake ports, with what it announced. */
export interface World {
  readonly ports: FakePorts
  readonly manager: Manager
  readonly events: { readonly added: string[]; readonly removed: string[] }
}

export function world(options: { allowUserRegistration?: boolean; limits?: ManagerLimits } = {}): World {
  const ports = createFakePorts({ allowUserRegistration: options.allowUserRegistration ?? false })
  const manager = new Manager(ports, options.limits)
  const events = { added: [] as string[], removed: [] as string[] }
  manager.on({ machineNew: (m) => events.added.push(m.name), machineRemoved: (m) => events.removed.push(m.name) })
  return { ports, manager, events }
}

/** The registered machines' names, sorted. */
export function names(manager: Manager): string[] {
  return manager.list().map((m) => m.name).sort()
}

/** A file captured from systemd-machined 252. */
export function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/machined-252/${name}`, import.meta.url), 'utf8')
}

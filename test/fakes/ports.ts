/**
 * A full set of the core's ports in memory, for unit tests of the core:
 * one fake per port (this directory), each kept honest against its real
 * port by test/contract/.
 * @module
 */

import { Authorizer, type AuthorizationPolicy } from '../../src/core/authorization.ts'
import type { ManagerPorts } from '../../src/core/manager.ts'
import type { HostInfo } from '../../src/core/ports.ts'
import { FakeClock } from './clock.ts'
import { FakeImagePool } from './image-pool.ts'
import { FakeInspector } from './inspector.ts'
import { FakeLog } from './log.ts'
import { FakeMachineFiles } from './machine-files.ts'
import { FakeProcesses } from './processes.ts'
import { FakeStateStore } from './state-store.ts'
import { FakeTerminals } from './terminals.ts'
import { FakeUnits } from './units.ts'

export const FAKE_MACHINE_ID = Uint8Array.from([0x9d, 0x8b, 0x3c, 0x2e, 0x7a, 0x11, 0x4f, 0x55, 0x86, 0x01, 0xe2, 0xc4, 0x3b, 0x0a, 0x5d, 0x77])

export interface FakePorts extends ManagerPorts {
  readonly host: HostInfo
  readonly processes: FakeProcesses
  readonly units: FakeUnits
  readonly state: FakeStateStore
  readonly inspector: FakeInspector
  readonly files: FakeMachineFiles
  readonly terminals: FakeTerminals
  readonly images: FakeImagePool
  readonly clock: FakeClock
  readonly log: FakeLog
  readonly authorizer: Authorizer
}

/** A full set of fake ports; PID 1 is alive and in init.scope. */
export function createFakePorts(policy: Partial<AuthorizationPolicy> = {}): FakePorts {
  const processes = new FakeProcesses()
  const init = processes.spawn(1, { startTime: 1n })
  const units = new FakeUnits(processes)
  units.place(1, 'init.scope', '/init.scope')
  return {
    host: { machineId: FAKE_MACHINE_ID, bootRealtimeUsec: 1_795_615_000_000_000n, init },
    processes,
    units,
    state: new FakeStateStore(),
    inspector: new FakeInspector(processes),
    files: new FakeMachineFiles(processes),
    terminals: new FakeTerminals(processes),
    images: new FakeImagePool(),
    clock: new FakeClock(),
    log: new FakeLog(),
    authorizer: new Authorizer({ allowUserRegistration: policy.allowUserRegistration ?? false }),
  }
}

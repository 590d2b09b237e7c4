// Every method the interface descriptions declare has a handler, and no
// handler answers a method they do not declare: the tables are checked
// against the descriptions at compile time (`satisfies Record<MethodName<…>, …>`),
// which only works while MethodName is a union of the names, never plain
// string; and at run time here, on the tables the daemon serves.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Manager } from '../../src/core/manager.ts'
import { IMAGE_INTERFACE, MACHINE_INTERFACE, MANAGER_INTERFACE, type MethodName } from '../../src/protocol/dbus/org.freedesktop.machine1.ts'
import type { MethodName as VarlinkMethodName } from '../../src/protocol/varlink/idl.ts'
import { MACHINE_INTERFACE as VARLINK_MACHINE_INTERFACE } from '../../src/protocol/varlink/io.systemd.Machine.ts'
import { MACHINE_IMAGE_INTERFACE } from '../../src/protocol/varlink/io.systemd.MachineImage.ts'
import { imageObject } from '../../src/transports/dbus/image.ts'
import { machineImageBinding } from '../../src/transports/varlink/image.ts'
import { machinesBinding } from '../../src/transports/varlink/machines.ts'
import { MACHINES_INTERFACE } from '../../src/protocol/varlink/io.machinedts.Machines.ts'
import { machineObject } from '../../src/transports/dbus/machine.ts'
import { managerObject } from '../../src/transports/dbus/manager.ts'
import { machineBinding } from '../../src/transports/varlink/machine.ts'
import { createFakePorts } from '../fakes/ports.ts'

/** Misspelt names: each must fail to type-check as a method name (else a table could hold it unnoticed). */
const MISSPELT = {
  // @ts-expect-error: not a method of org.freedesktop.machine1.Manager.
  manager: 'GetMachin' satisfies MethodName<typeof MANAGER_INTERFACE>,
  // @ts-expect-error: not a method of org.freedesktop.machine1.Machine.
  machine: 'OpenPty' satisfies MethodName<typeof MACHINE_INTERFACE>,
  // @ts-expect-error: not a method of io.systemd.Machine.
  varlink: 'Lists' satisfies VarlinkMethodName<typeof VARLINK_MACHINE_INTERFACE>,
}

function sorted(names: Iterable<string>): string[] {
  return [...names].sort()
}

void describe('handler tables', () => {
  const ports = createFakePorts()
  const manager = new Manager(ports)
  const ctx = { manager, callerOf: async () => ({ uid: 0, pid: 1 }) }

  void test('D-Bus: the Manager, Machine and Image objects handle exactly the methods their interfaces declare', () => {
    const managerMethods = MANAGER_INTERFACE.methods.map((m): string => m.name)
    const machineMethods = MACHINE_INTERFACE.methods.map((m): string => m.name)
    assert.deepEqual(sorted(Object.keys(managerObject(ctx).methods)), sorted(managerMethods))
    const machine = machineObject(ctx, manager.host, manager.view(manager.host, undefined))
    assert.deepEqual(sorted(Object.keys(machine.methods)), sorted(machineMethods))
    const image = imageObject(ctx, ports.images.host)
    assert.deepEqual(sorted(Object.keys(image.methods)), sorted(IMAGE_INTERFACE.methods.map((m): string => m.name)))
    assert.ok(!managerMethods.includes(MISSPELT.manager))
    assert.ok(!machineMethods.includes(MISSPELT.machine))
  })

  void test('Varlink: io.systemd.Machine handles exactly the methods its IDL declares', () => {
    const binding = machineBinding({ manager, identity: { bootId: '', pidfdIdOfPid: () => undefined, pidfdIdOf: () => undefined } })
    const declared = VARLINK_MACHINE_INTERFACE.symbols.filter((s) => s.kind === 'method').map((s): string => s.name)
    assert.deepEqual(sorted(Object.keys(binding.handlers)), sorted(declared))
    assert.ok(!declared.includes(MISSPELT.varlink))
  })

  void test('Varlink: io.machinedts.Machines handles exactly the methods its IDL declares', () => {
    const declared = MACHINES_INTERFACE.symbols.filter((s) => s.kind === 'method').map((s): string => s.name)
    assert.deepEqual(sorted(Object.keys(machinesBinding({ manager, services: undefined }).handlers)), sorted(declared))
  })

  void test('Varlink: io.systemd.MachineImage handles exactly the methods its IDL declares', () => {
    const declared = MACHINE_IMAGE_INTERFACE.symbols.filter((s) => s.kind === 'method').map((s): string => s.name)
    assert.deepEqual(sorted(Object.keys(machineImageBinding({ manager }).handlers)), sorted(declared))
  })
})

/**
 * Registering the VM with machined, as vmspawn-register.c does: class
 * "vm", our service name, the VM's UUID as Id (its 16 bytes in string
 * order — the value the guest takes as machine-id), the launcher itself as
 * leader (it supervises qemu and gets machinectl's signals), and the vsock
 * CID when the VM has a vsock device. Unregistered when the launcher exits.
 * @module
 */

import { connect } from '../client/connect.ts'
import type { MachinedClient } from '../client/types.ts'
import { NoSuchMachineError } from '../protocol/errors.ts'

export const SERVICE = 'machined-vmspawn'

export class RegistrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RegistrationError'
  }
}

export interface VmRegistration {
  readonly name: string
  readonly uuid: string
  readonly vsockCid?: number | undefined
  /** The pool image the VM's disk is, told to machined-ts (docs/images.md). */
  readonly image?: { readonly name: string; readonly path: string } | undefined
}

export class Registered {
  readonly #client: MachinedClient
  readonly #name: string

  private constructor(client: MachinedClient, name: string) {
    this.#client = client
    this.#name = name
  }

  static async register(vm: VmRegistration): Promise<Registered> {
    let client: MachinedClient
    try {
      // Only the D-Bus registration (CreateMachineEx/RegisterMachineEx) carries the image.
      client = await connect(vm.image === undefined ? {} : { transport: 'dbus' })
    } catch (err) {
      throw new RegistrationError(`Failed to register machine ${vm.name}: ${(err as Error).message} (--register=no runs without machined)`, { cause: err })
    }
    try {
      await client.register({
        name: vm.name,
        class: 'vm',
        service: SERVICE,
        leader: process.pid,
        id: vm.uuid.replace(/-/g, ''),
        ...(vm.vsockCid === undefined ? {} : { vsockCid: vm.vsockCid }),
        ...(vm.image === undefined ? {} : { image: vm.image }),
      })
    } catch (err) {
      client.close()
      throw new RegistrationError(`Failed to register machine ${vm.name}: ${(err as Error).message}`, { cause: err })
    }
    return new Registered(client, vm.name)
  }

  /** Unregisters (a machine already gone counts as done); the error text when that failed. */
  async unregister(): Promise<string | undefined> {
    try {
      await this.#client.unregister(this.#name)
      return undefined
    } catch (err) {
      if (err instanceof NoSuchMachineError) return undefined
      return (err as Error).message
    } finally {
      this.#client.close()
    }
  }
}

/**
 * ListMachines' reply, marshalled once and sent as it is until a machine
 * is added or removed (a row holds the name, class, service and object
 * path, none of which changes while a machine is registered). With
 * 10,000 machines, marshalling the rows anew took a few milliseconds of
 * every call and left that much garbage behind for a collection to land
 * in a later call; now a call copies one buffer. An idle daemon lets go
 * of it (forget(), from the idle-time trim: about 1 MiB with 10,000
 * machines) and the next call marshals it again.
 * @module
 */

import { machineObjectPath } from '../../protocol/bus-path.ts'
import type { Manager } from '../../core/manager.ts'
import type { Disposable } from '../../core/ports.ts'
import { MarshalledBody } from '../../wire/dbus/bus.ts'
import type { Reply } from './object-tree.ts'

const SIGNATURE = 'a(ssso)'

export class MachineListReply implements Disposable {
  readonly #manager: Manager
  readonly #subscription: Disposable
  #body: MarshalledBody | undefined

  constructor(manager: Manager) {
    this.#manager = manager
    const changed = (): void => { this.#body = undefined }
    this.#subscription = manager.on({ machineNew: changed, machineRemoved: changed })
  }

  reply(): Reply {
    this.#body ??= MarshalledBody.of(SIGNATURE, [this.#manager.list().map((m) => [m.name, m.class ?? '', m.service, machineObjectPath(m.name)])])
    return { signature: SIGNATURE, body: this.#body }
  }

  /** Drops the marshalled reply (the next call makes it again); returns the bytes it held. */
  forget(): number {
    const bytes = this.#body?.bytes.length ?? 0
    this.#body = undefined
    return bytes
  }

  dispose(): void {
    this.#subscription.dispose()
    this.#body = undefined
  }
}

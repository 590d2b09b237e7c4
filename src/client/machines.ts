/**
 * machined-ts's own calls (io.machinedts.Machines, docs/images.md):
 * machines from images of the pool as services, and what the daemon knows
 * of a machine beyond systemd's fields. They are Varlink only, on the
 * io.systemd.Machine socket, so the D-Bus API stays systemd 252's: a
 * client that talks D-Bus opens that socket for these calls (as the
 * Varlink client uses the bus for ptys). A failed start carries what the
 * launcher said (StartFailed's message).
 * @module
 */

import { errorFromCode, type ErrorCode } from '../protocol/errors.ts'
import { MACHINES_ERRORS, MACHINES_INTERFACE_NAME } from '../protocol/varlink/io.machinedts.Machines.ts'
import { SERVICE_ERRORS } from '../protocol/varlink/org.varlink.service.ts'
import { fromVarlinkError, MachinedUnavailableError } from './errors.ts'
import type { MachineDescription } from './types.ts'
import { VarlinkConnection, VarlinkReplyError } from './varlink-connection.ts'

function describer(name: string): (code: ErrorCode) => string {
  return (code) => {
    switch (code) {
      case 'NO_SUCH_IMAGE': return `No image '${name}' known`
      case 'NO_SUCH_MACHINE': return `No machine '${name}' known`
      case 'MACHINE_EXISTS': return `Machine '${name}' already exists`
      case 'ACCESS_DENIED': return 'Permission denied'
      case 'NOT_SUPPORTED': return 'Operation not supported'
      case 'TOO_MANY_OPERATIONS': return 'Too many ongoing operations.'
      case 'LIMITS_EXCEEDED': return 'No buffer space available'
      default: return code
    }
  }
}

export class MachinesClient {
  readonly #source: VarlinkConnection | string
  #conn: Promise<VarlinkConnection> | undefined

  /** `source`: the Varlink client's own connection, or the socket to connect to on first use. */
  constructor(source: VarlinkConnection | string) {
    this.#source = source
  }

  #connection(): Promise<VarlinkConnection> {
    const source = this.#source
    if (typeof source !== 'string') return Promise.resolve(source)
    this.#conn ??= VarlinkConnection.connect(source).catch((err: unknown) => {
      this.#conn = undefined
      throw new MachinedUnavailableError(`machined-ts's ${MACHINES_INTERFACE_NAME} needs Varlink, and nothing listens on ${source}`, { cause: err })
    })
    return this.#conn
  }

  async #call(method: string, name: string): Promise<Record<string, unknown>> {
    const conn = await this.#connection()
    try {
      return await conn.call(`${MACHINES_INTERFACE_NAME}.${method}`, { name })
    } catch (err) {
      if (!(err instanceof VarlinkReplyError)) throw err
      if (err.error === MACHINES_ERRORS.START_FAILED) throw errorFromCode('FAILED', typeof err.parameters.message === 'string' ? err.parameters.message : 'Failed')
      // A daemon without this interface (systemd-machined, an older machined-ts).
      if (err.error === SERVICE_ERRORS.INTERFACE_NOT_FOUND || err.error === SERVICE_ERRORS.METHOD_NOT_FOUND) {
        throw errorFromCode('NOT_SUPPORTED', `This machined does not serve ${MACHINES_INTERFACE_NAME}`)
      }
      throw fromVarlinkError(err.error, err.parameters, describer(name))
    }
  }

  /** Boots image `name` of the pool as a machine and resolves once it is registered (`machinectl start`). */
  async start(name: string): Promise<void> {
    await this.#call('Start', name)
  }

  /** Starts the machine with machined-ts (or the host) from now on (`machinectl enable`). */
  async enable(name: string): Promise<void> {
    await this.#call('Enable', name)
  }

  async disable(name: string): Promise<void> {
    await this.#call('Disable', name)
  }

  /** The pool image a registered machine runs from, and whether it is enabled. */
  async describe(name: string): Promise<MachineDescription> {
    const r = await this.#call('Describe', name)
    return {
      imageName: typeof r.imageName === 'string' ? r.imageName : undefined,
      imagePath: typeof r.imagePath === 'string' ? r.imagePath : undefined,
      enabled: r.enabled === true,
    }
  }

  /** Closes the connection this opened itself (never the Varlink client's). */
  close(): void {
    if (typeof this.#source === 'string') void this.#conn?.then((c) => c.close(), () => undefined)
  }
}

/**
 * State files in a Map (the StateStore port in memory): name → contents,
 * and the unit:<unit> links as unit → name.
 * @module
 */

import { machineNameIsValid } from '../../src/protocol/hostname.ts'
import type { StateStore } from '../../src/core/ports.ts'

export class FakeStateStore implements StateStore {
  /** name → contents */
  readonly files = new Map<string, string>()
  /** unit → machine name (the unit:<unit> links) */
  readonly links = new Map<string, string>()
  initialised = false
  /** When set, the next write throws this. */
  failWrite: Error | undefined = undefined

  async init(): Promise<void> {
    this.initialised = true
  }

  async write(name: string, contents: string): Promise<void> {
    if (this.failWrite !== undefined) {
      const err = this.failWrite
      this.failWrite = undefined
      throw err
    }
    this.files.set(name, contents)
  }

  async remove(name: string): Promise<void> {
    this.files.delete(name)
  }

  async linkUnit(unit: string, name: string): Promise<void> {
    this.links.set(unit, name)
  }

  async unlinkUnit(unit: string, name: string): Promise<void> {
    if (this.links.get(unit) === name) this.links.delete(unit)
  }

  async removeLink(unit: string): Promise<void> {
    this.links.delete(unit)
  }

  async list(): Promise<{ name: string; contents: string }[]> {
    return [...this.files].filter(([name]) => machineNameIsValid(name)).map(([name, contents]) => ({ name, contents }))
  }

  async listLinks(): Promise<{ unit: string; name: string }[]> {
    return [...this.links].map(([unit, name]) => ({ unit, name }))
  }
}

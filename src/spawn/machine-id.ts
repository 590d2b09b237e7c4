/**
 * Which 128-bit ID a container gets (docs/machine-id.md; checklist item 59,
 * nspawn's setup_machine_id()): a valid /etc/machine-id in the tree
 * wins, so machined's Id and the guest's machine-id agree; otherwise
 * --uuid=, otherwise a random one. The guest's systemd takes
 * $container_uuid when its /etc/machine-id is missing, empty or
 * "uninitialized".
 * @module
 */

const HEX32 = /^[0-9a-fA-F]{32}$/
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const NULL_ID = '0'.repeat(32)

/** 32 hex digits or 8-4-4-4-12, any case → 32 lower-case hex digits; undefined for anything else or all zeros. */
export function parseId128(text: string): string | undefined {
  if (!HEX32.test(text) && !UUID.test(text)) return undefined
  const id = text.replace(/-/g, '').toLowerCase()
  return id === NULL_ID ? undefined : id
}

/** 32 hex digits → 8-4-4-4-12, the form nspawn passes in $container_uuid and /run/host/container-uuid. */
export function uuidFromId(id: string): string {
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`
}

/** The 16 bytes machined's Id carries. */
export function idBytes(id: string): Uint8Array {
  return Uint8Array.from(id.match(/../g) ?? [], (b) => parseInt(b, 16))
}

export type MachineIdFile =
  | { readonly kind: 'unset'; readonly why: 'missing' | 'empty' | 'uninitialized' }
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'invalid' }

/** machine-id(5): one line of 32 hex digits; missing, empty and "uninitialized" mean "not set yet". */
export function parseMachineIdFile(text: string | undefined): MachineIdFile {
  if (text === undefined) return { kind: 'unset', why: 'missing' }
  const t = text.endsWith('\n') ? text.slice(0, -1) : text
  if (t === '') return { kind: 'unset', why: 'empty' }
  if (t === 'uninitialized') return { kind: 'unset', why: 'uninitialized' }
  if (!HEX32.test(t)) return { kind: 'invalid' }
  const id = t.toLowerCase()
  return id === NULL_ID ? { kind: 'invalid' } : { kind: 'id', id }
}

export interface ContainerId {
  readonly id: string
  readonly source: 'image' | 'option' | 'random'
}

/** The container's ID, as nspawn's setup_machine_id() picks it. Throws on a corrupt /etc/machine-id. */
export function chooseContainerId(file: MachineIdFile, requested: string | undefined, random: () => string): ContainerId {
  if (file.kind === 'invalid') throw new Error('The container\'s /etc/machine-id is malformed; fix or empty it')
  if (file.kind === 'id') return { id: file.id, source: 'image' }
  if (requested !== undefined) return { id: requested, source: 'option' }
  const id = parseId128(random())
  if (id === undefined) throw new Error('The random source gave no valid ID')
  return { id, source: 'random' }
}

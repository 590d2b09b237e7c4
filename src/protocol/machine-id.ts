/**
 * The machine-id rule a VM manager relies on, host side
 * (docs/machine-id.md): a systemd guest on KVM or
 * QEMU whose /etc/machine-id is empty takes the SMBIOS product UUID as its
 * machine ID — the kernel's /sys/class/dmi/id/product_uuid text, lower-cased,
 * dashes removed, no byte swapping (systemd's machine_id_setup() →
 * id128_get_product()). QEMU hands the guest exactly the string it was
 * given with `-smbios type=1,uuid=`, so the VM's UUID, the registered Id
 * (its 16 bytes in string order) and the guest's machine-id are one value.
 *
 * Pure functions, no Node: machined-vmspawn, its tests and `mctl status`
 * share them.
 * @module
 */

const UUID_FORM = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const HEX32 = /^[0-9a-fA-F]{32}$/
const NULL_ID = '0'.repeat(32)
const MAX_ID = 'f'.repeat(32)

/** 32 lower-case hex digits → 8-4-4-4-12. */
export function uuidFromHex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A UUID as a user types it (8-4-4-4-12 or 32 hex digits, any case), in
 * canonical lower-case UUID form; undefined when it is not one, or when
 * it is all zeros or all ones: the kernel publishes no product_uuid for
 * those (dmi_save_uuid), so a guest could never take it as its ID.
 */
export function parseVmUuid(text: string): string | undefined {
  const t = text.trim()
  if (!UUID_FORM.test(t) && !HEX32.test(t)) return undefined
  const hex = t.replace(/-/g, '').toLowerCase()
  if (hex === NULL_ID || hex === MAX_ID) return undefined
  return uuidFromHex(hex)
}

/** The 16 bytes of a UUID in string (RFC 4122, big-endian) order: what machined's `Id` carries. */
export function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '')
  if (!HEX32.test(hex)) throw new TypeError(`Not a UUID: ${uuid}`)
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16))
}

/**
 * The machine ID a systemd guest takes from this product UUID
 * (/sys/class/dmi/id/product_uuid content, newline allowed). systemd
 * accepts only the UUID text form there and refuses all-zero and all-ff
 * values (then it picks a random ID): undefined in those cases.
 */
export function machineIdFromProductUuid(productUuid: string): string | undefined {
  const t = productUuid.endsWith('\n') ? productUuid.slice(0, -1) : productUuid
  if (!UUID_FORM.test(t)) return undefined
  const id = t.replace(/-/g, '').toLowerCase()
  return id === NULL_ID || id === MAX_ID ? undefined : id
}

/** machine-id(5): exactly 32 lower-case hex digits, not all zeros. */
export function isValidMachineId(s: string): boolean {
  return /^[0-9a-f]{32}$/.test(s) && s !== NULL_ID
}

export type MachineIdFile =
  | { readonly state: 'id'; readonly id: string }
  /** Empty: not initialised; systemd sets a transient ID at boot. */
  | { readonly state: 'empty' }
  /** "uninitialized": first boot pending. */
  | { readonly state: 'uninitialized' }
  | { readonly state: 'corrupt' }

/**
 * Reads /etc/machine-id content the way systemd's id128_read_fd() does:
 * one optional trailing newline; upper case is accepted on read (and
 * lower-cased here) but an all-zero ID is not.
 */
export function parseMachineIdFile(content: string): MachineIdFile {
  const t = content.endsWith('\n') ? content.slice(0, -1) : content
  if (t === '') return { state: 'empty' }
  if (t === 'uninitialized') return { state: 'uninitialized' }
  if (HEX32.test(t) && t !== NULL_ID) return { state: 'id', id: t.toLowerCase() }
  return { state: 'corrupt' }
}

export type GuestIdVerdict =
  /** The guest's machine-id is the registered Id: it took its ID from the VM UUID. */
  | 'match'
  /** The guest runs with another ID (it had one already, or is not a systemd/KVM/QEMU guest). */
  | 'mismatch'
  /** The machine was registered without an Id: nothing to compare. */
  | 'no-registered-id'
  /** The guest's machine-id is not known, empty or malformed. */
  | 'unknown'

/**
 * Whether a VM's guest took the ID it was registered with.
 * `registeredId`: the machine's Id as 32 hex digits ('' for none, as
 * machinectl and the client library print it). `guestMachineId`: the
 * guest's /etc/machine-id content, or undefined when it is not known.
 */
export function guestIdVerdict(registeredId: string, guestMachineId: string | undefined): GuestIdVerdict {
  const registered = registeredId.replace(/-/g, '').toLowerCase()
  if (!isValidMachineId(registered)) return 'no-registered-id'
  if (guestMachineId === undefined) return 'unknown'
  const file = parseMachineIdFile(guestMachineId)
  if (file.state !== 'id') return 'unknown'
  return file.id === registered ? 'match' : 'mismatch'
}

/**
 * Varlink interface descriptions as data (what systemd declares with
 * SD_VARLINK_DEFINE_* in systemd's src/shared/varlink-io.*.c), and the IDL text
 * org.varlink.service.GetInterfaceDescription returns, generated from that
 * data so the two can never disagree.
 * @module
 */

/** Built-in types; any other name refers to a type declared in the interface. */
export type VarlinkBaseType = 'bool' | 'int' | 'float' | 'string' | 'object'

export interface VarlinkField {
  readonly name: string
  /** A base type or the name of a `type` in the same interface. */
  readonly type: VarlinkBaseType | (string & {})
  /** `?T`: may be null or missing. */
  readonly nullable?: boolean
  /** `[]T` */
  readonly array?: boolean
  /** `[string]T` */
  readonly map?: boolean
  readonly comment?: string
  /**
   * Another type the server's dispatcher takes for this field although the
   * IDL does not say so (json_dispatch_pidref() takes a PID as a plain
   * integer where the IDL declares a ProcessId). Checked by the call
   * validator, never printed in the IDL text.
   */
  readonly alsoAccepts?: VarlinkBaseType
}

export interface VarlinkStructType {
  readonly kind: 'struct'
  readonly name: string
  readonly fields: readonly VarlinkField[]
  readonly comment?: string
}

export interface VarlinkEnumType {
  readonly kind: 'enum'
  readonly name: string
  readonly values: readonly { readonly name: string; readonly comment?: string }[]
  readonly comment?: string
}

export interface VarlinkMethod {
  readonly kind: 'method'
  readonly name: string
  readonly input: readonly VarlinkField[]
  readonly output: readonly VarlinkField[]
  /** SD_VARLINK_SUPPORTS_MORE / SD_VARLINK_REQUIRES_MORE. */
  readonly more?: 'supports' | 'requires'
  readonly comment?: string
}

export interface VarlinkErrorSymbol {
  readonly kind: 'error'
  readonly name: string
  readonly fields: readonly VarlinkField[]
  readonly comment?: string
}

export type VarlinkSymbol = VarlinkStructType | VarlinkEnumType | VarlinkMethod | VarlinkErrorSymbol

export interface VarlinkInterface {
  readonly name: string
  readonly comment?: string
  /** In declaration order, which is also the order of the IDL text. */
  readonly symbols: readonly VarlinkSymbol[]
}

/** The names of an interface's methods, for handler tables that must cover exactly those (`satisfies Record<…>`). */
export type MethodName<I extends VarlinkInterface> = Extract<I['symbols'][number], { readonly kind: 'method' }>['name']

/** Each interface's methods by name, made on first use (a server looks one up for every call); the interfaces are constants. */
const methodTables = new WeakMap<VarlinkInterface, ReadonlyMap<string, VarlinkMethod>>()

export function findMethod(iface: VarlinkInterface, name: string): VarlinkMethod | undefined {
  let table = methodTables.get(iface)
  if (table === undefined) {
    const made = new Map<string, VarlinkMethod>()
    // The first of a name wins, as a search from the start would find it.
    for (const s of iface.symbols) if (s.kind === 'method' && !made.has(s.name)) made.set(s.name, s)
    table = made
    methodTables.set(iface, table)
  }
  return table.get(name)
}

export function findType(iface: VarlinkInterface, name: string): VarlinkStructType | VarlinkEnumType | undefined {
  return iface.symbols.find((s): s is VarlinkStructType | VarlinkEnumType => (s.kind === 'struct' || s.kind === 'enum') && s.name === name)
}

// ── IDL text ────────────────────────────────────────────────────────────────

function comment(text: string | undefined, indent: string): string {
  return text === undefined ? '' : text.split('\n').map((line) => `${indent}# ${line}\n`).join('')
}

function typeText(f: VarlinkField): string {
  return `${f.nullable === true ? '?' : ''}${f.array === true ? '[]' : ''}${f.map === true ? '[string]' : ''}${f.type}`
}

/**
 * A parenthesised field list: on one line when no field carries a comment,
 * otherwise one field per line with its comment above it, tab-indented as
 * systemd's varlink_idl_format() prints it.
 */
function fieldList(items: readonly { readonly text: string; readonly comment?: string | undefined }[]): string {
  if (items.length === 0) return '()'
  if (items.every((i) => i.comment === undefined)) return `(${items.map((i) => i.text).join(', ')})`
  return `(\n${items.map((i) => `${comment(i.comment, '\t')}\t${i.text}`).join(',\n')}\n)`
}

function fields(list: readonly VarlinkField[]): string {
  return fieldList(list.map((f) => ({ text: `${f.name}: ${typeText(f)}`, comment: f.comment })))
}

function symbolText(s: VarlinkSymbol): string {
  switch (s.kind) {
    case 'struct': return `type ${s.name}${fields(s.fields)}`
    case 'enum': return `type ${s.name}${fieldList(s.values.map((v) => ({ text: v.name, comment: v.comment })))}`
    case 'method': return `method ${s.name}${fields(s.input)} -> ${fields(s.output)}`
    case 'error': return `error ${s.name}${fields(s.fields)}`
  }
}

/** The interface in Varlink IDL, as GetInterfaceDescription returns it. */
export function formatInterface(iface: VarlinkInterface): string {
  let out = `${comment(iface.comment, '')}interface ${iface.name}\n`
  for (const s of iface.symbols) out += `\n${comment(s.comment, '')}${symbolText(s)}\n`
  return out
}

/**
 * Checks a call's parameters against the method's IDL before the method
 * runs, as sd-varlink does (varlink_idl_validate_method_call()): every
 * declared input field in declaration order (type, null-ness), then any
 * field the method does not declare. The first bad top-level field is
 * returned; the server answers org.varlink.service.InvalidParameter with
 * it. A problem inside a nested object names the top-level field, as in
 * systemd.
 *
 * Unknown fields are refused, not ignored: systemd's server side never
 * allows extensions in calls (sd_varlink_dispatch() uses no
 * SD_JSON_ALLOW_EXTENSIONS; only clients reading replies do), so a client
 * that works against systemd-machined sends none.
 * @module
 */

import { findType, type VarlinkField, type VarlinkInterface } from './idl.ts'

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function elementIsValid(iface: VarlinkInterface, type: string, v: unknown): boolean {
  switch (type) {
    case 'bool': return typeof v === 'boolean'
    // Integers may come as strings: integers beyond 2^53 often have to (sd-varlink allows any string here).
    case 'int': return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'string'
    case 'float': return typeof v === 'number'
    case 'string': return typeof v === 'string'
    case 'object': return isPlainObject(v)
  }
  const named = findType(iface, type)
  if (named === undefined) return false
  if (named.kind === 'enum') return typeof v === 'string' && named.values.some((e) => e.name === v)
  return isPlainObject(v) && badField(iface, named.fields, v) === undefined
}

function fieldIsValid(iface: VarlinkInterface, field: VarlinkField, v: unknown): boolean {
  if (v === undefined || v === null) return field.nullable === true
  const element = (e: unknown): boolean => elementIsValid(iface, field.type, e) || (field.alsoAccepts !== undefined && elementIsValid(iface, field.alsoAccepts, e))
  if (field.array === true) return Array.isArray(v) && v.every(element)
  if (field.map === true) return isPlainObject(v) && Object.values(v).every(element)
  return element(v)
}

/** The first field of `object` that does not match `fields`, or undefined when all do. */
export function badField(iface: VarlinkInterface, fields: readonly VarlinkField[], object: Record<string, unknown>): string | undefined {
  for (const f of fields) {
    if (!fieldIsValid(iface, f, Object.hasOwn(object, f.name) ? object[f.name] : undefined)) return f.name
  }
  for (const key of Object.keys(object)) {
    if (!fields.some((f) => f.name === key)) return key
  }
  return undefined
}

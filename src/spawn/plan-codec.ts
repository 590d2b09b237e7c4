/**
 * The plan as the helper reads it: one line per step, fields separated by
 * a space, each field percent-encoded (so spaces, newlines and any byte of
 * a path survive), "-" for none, and a line "." at the end
 * (native/spawn_helper/plan.c, decode_field()).
 * @module
 */

import type { PlanStep } from './plan.ts'

const SAFE = /^[A-Za-z0-9._/:=,+@-]$/

export function encodeField(value: string | null): string {
  if (value === null) return '-'
  // The helper keeps C strings: an empty field is a lone NUL.
  if (value === '') return '%00'
  if (value === '-') return '%2D'
  let out = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += SAFE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

export function encodeStep(s: PlanStep): string {
  return [(s.optional === true ? '?' : '') + s.op, ...s.args.map(encodeField)].join(' ')
}

export function encodePlan(steps: readonly PlanStep[]): string {
  return `${steps.map(encodeStep).join('\n')}\n.\n`
}

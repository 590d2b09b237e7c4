/**
 * One Varlink call off the wire, checked the way sd-varlink's
 * varlink_dispatch_method() checks it. Anything it would call a protocol
 * violation (not UTF-8, not JSON, not an object, a key other than method,
 * parameters, oneway and more, a wrong type, oneway together with more)
 * comes back as a reason string: the connection then closes without a
 * reply, as systemd's does.
 * @module
 */

import { isPlainObject } from '../../protocol/varlink/validate.ts'

export interface IncomingCall {
  /** Fully qualified, e.g. io.systemd.Machine.List. */
  readonly method: string
  /** Absent or null parameters read as {} (varlink_sanitize_parameters()). */
  readonly parameters: Record<string, unknown>
  readonly oneway: boolean
  readonly more: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function parseJson(bytes: Buffer): { value: unknown } | string {
  try {
    return { value: JSON.parse(utf8.decode(bytes)) as unknown }
  } catch (err) {
    // Also RangeError for absurdly deep nesting: never more than a bad message.
    return `malformed message: ${(err as Error).message}`
  }
}

export function parseCall(bytes: Buffer): IncomingCall | string {
  const parsed = parseJson(bytes)
  if (typeof parsed === 'string') return parsed
  const message = parsed.value
  if (!isPlainObject(message)) return 'message is not a JSON object'
  let method: string | undefined
  let parameters: Record<string, unknown> = {}
  let oneway = false
  let more = false
  for (const [key, value] of Object.entries(message)) {
    switch (key) {
      case 'method':
        if (typeof value !== 'string') return 'method is not a string'
        method = value
        break
      case 'parameters':
        if (value === null) parameters = {}
        else if (isPlainObject(value)) parameters = value
        else return 'parameters is not an object'
        break
      case 'oneway':
      case 'more':
        // sd-varlink refuses the second of the two flags once either is set, whatever its value.
        if (oneway || more) return 'oneway and more together'
        if (typeof value !== 'boolean') return `${key} is not a boolean`
        if (key === 'oneway') oneway = value
        else more = value
        break
      default:
        return `unknown message field '${key}'`
    }
  }
  if (method === undefined) return 'message has no method'
  return { method, parameters, oneway, more }
}

/** A reply or error as it goes on the wire, NUL included. */
export function encodeMessage(message: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify(message)}\0`, 'utf8')
}

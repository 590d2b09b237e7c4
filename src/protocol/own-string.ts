/**
 * Strings kept as long as a machine is registered must not hold on to
 * what they were cut from: in V8 a substring of more than 12 characters
 * is a view into the whole string (a /proc/PID/cgroup text of about 500
 * bytes, a state file), which then lives as long as the substring does.
 * @module
 */

/** A copy of `s` that refers to no other string. */
export function ownString(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string)
}

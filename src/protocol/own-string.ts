/**
 * Strings kept as long as a machine is registered must not hold on to
 * what they were cut from: in V8 a substring of more than 12 characters
 * is a view into the whole string (a /proc/PID/cgroup text of about 500
 * bytes, a state file), which then lives as long as the substring does.
 * @module
 */

/** A copy of `s` that refers to nothing it was cut from. */
export function ownString(s: string): string {
  // Slicing a concatenation copies the concatenation into a string of its own first (V8 flattens it):
  // the result refers to that copy, one character longer than `s`, and no longer to what `s` was cut
  // from. A quarter of the cost of a JSON round trip, and ownString runs for every registration.
  return s.length < 13 ? s : ` ${s}`.slice(1)
}

/**
 * The limits of the D-Bus specification that both directions enforce.
 * @module
 */

/** Containers (arrays, structs, dict entries, variants) nested deeper than this are refused. */
export const MAX_DEPTH = 64
/** One array's contents (2^26 bytes). */
export const MAX_ARRAY_BYTES = 64 * 1024 * 1024
/** A whole message (2^27 bytes). */
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024

/**
 * The errors of the wire layer, each with a stable `code`. A peer's bad
 * bytes are a MalformedMessageError (the connection drops the peer); a bad
 * JS value handed to the marshaller is an InvalidValueError (a bug or bad
 * input on our side: nothing is sent); a D-Bus ERROR reply to one of our
 * calls is a DBusError carrying the error name.
 * @module
 */

/** Why bytes from a peer were refused. */
export type MalformedCode =
  | 'TRUNCATED' // fewer bytes than a length, the header or the signature asks for
  | 'BAD_PADDING' // an alignment byte that is not zero
  | 'BAD_UTF8' // a string that is not well-formed UTF-8
  | 'BAD_STRING' // a string with a NUL inside or without its terminating NUL
  | 'BAD_SIGNATURE' // a signature that breaks the grammar or a limit
  | 'BAD_OBJECT_PATH' // an object path that breaks the grammar
  | 'BAD_BOOLEAN' // a boolean other than 0 or 1
  | 'BAD_FD' // a UNIX fd index past the fds that came with the message
  | 'BAD_ARRAY' // array contents that do not end exactly at the array's length
  | 'TOO_DEEP' // containers (arrays, structs, dict entries, variants) nested deeper than 64
  | 'TOO_LONG' // an array over 64 MiB or a message over 128 MiB
  | 'TRAILING_BYTES' // bytes left after the last value the signature names
  | 'BAD_HEADER' // a missing, repeated or ill-typed header field, a zero serial, an unknown type
  | 'BAD_NAME' // an interface, member, error or bus name that breaks its grammar
  | 'BAD_ENDIAN' // an endianness byte other than 'l' or 'B'
  | 'BAD_VERSION' // a protocol version other than 1

export class MalformedMessageError extends Error {
  readonly code: MalformedCode
  /** Byte offset in the message where the problem was found, when known. */
  readonly offset: number | undefined

  constructor(code: MalformedCode, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`)
    this.name = 'MalformedMessageError'
    this.code = code
    this.offset = offset
  }
}

/** A JS value that does not fit the D-Bus type it is marshalled as. */
export class InvalidValueError extends Error {
  readonly code = 'INVALID_VALUE'

  constructor(message: string) {
    super(message)
    this.name = 'InvalidValueError'
  }
}

/** The SASL handshake failed: the bus refused us or spoke nonsense. */
export class AuthError extends Error {
  readonly code = 'AUTH_FAILED'

  constructor(message: string) {
    super(message)
    this.name = 'AuthError'
  }
}

/** The connection closed (or was never open) while a call waited for its reply. */
export class ConnectionClosedError extends Error {
  readonly code = 'CONNECTION_CLOSED'

  constructor(message = 'The bus connection is closed', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ConnectionClosedError'
  }
}

/** An ERROR reply to one of our method calls. */
export class DBusError extends Error {
  readonly code = 'DBUS_ERROR'
  /** The D-Bus error name, e.g. org.freedesktop.systemd1.NoSuchUnit. */
  readonly type: string
  /** The error's whole body; its first string, if any, is also the message. */
  readonly body: readonly unknown[]

  constructor(type: string, body: readonly unknown[]) {
    super(typeof body[0] === 'string' ? body[0] : type)
    this.name = 'DBusError'
    this.type = type
    this.body = body
  }
}

/**
 * A D-Bus variant: a value together with the signature it is marshalled
 * as. The marshaller checks both when the variant is sent.
 * @module
 */

export class Variant<T = unknown> {
  readonly signature: string
  readonly value: T

  constructor(signature: string, value: T) {
    this.signature = signature
    this.value = value
  }
}

import { MeshbusError } from '@meshbus/core';

/** Stable codes of {@link DerError}. */
export const DerErrorCode = {
  /** The input ends before the element or its content does. */
  Truncated: 'Truncated',
  /** An element has a different tag than the structure requires. */
  UnexpectedTag: 'UnexpectedTag',
  /** A length is indefinite, not minimally encoded, or too large. */
  BadLength: 'BadLength',
  /** Bytes follow the last element of a structure or of the input. */
  TrailingBytes: 'TrailingBytes',
  /** The content of an element is not a valid DER value of its type. */
  InvalidValue: 'InvalidValue',
  /** A value cannot be encoded (out of range, wrong characters). */
  Unencodable: 'Unencodable',
} as const;
export type DerErrorCode = (typeof DerErrorCode)[keyof typeof DerErrorCode];

/** Malformed or unencodable DER. `offset` points into the input when decoding. */
export class DerError extends MeshbusError {
  override readonly name = 'DerError';
  declare readonly code: DerErrorCode;
  readonly offset: number | undefined;

  constructor(code: DerErrorCode, message: string, offset?: number) {
    super(code, offset === undefined ? message : `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** Stable codes of {@link X509Error}. */
export const X509ErrorCode = {
  /** Text is not PEM, or has no block with the expected label. */
  MalformedPem: 'MalformedPem',
  /** The bytes are not a DER X.509 certificate. */
  MalformedCertificate: 'MalformedCertificate',
  /** The bytes are not a DER PKCS#10 certification request. */
  MalformedCsr: 'MalformedCsr',
  /** The public key is not of an accepted algorithm or curve. */
  UnsupportedKey: 'UnsupportedKey',
  /** The signature algorithm is not one this library accepts or produces. */
  UnsupportedSignatureAlgorithm: 'UnsupportedSignatureAlgorithm',
  /** A signature does not verify. */
  SignatureInvalid: 'SignatureInvalid',
  /** A value passed to a builder cannot go into a certificate or CSR. */
  InvalidArgument: 'InvalidArgument',
} as const;
export type X509ErrorCode = (typeof X509ErrorCode)[keyof typeof X509ErrorCode];

/** A certificate, CSR or PEM input that cannot be used, or a builder argument that is invalid. */
export class X509Error extends MeshbusError {
  override readonly name = 'X509Error';
  declare readonly code: X509ErrorCode;

  constructor(code: X509ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Runs `parse`, turning a {@link DerError} into an {@link X509Error} with `code`. */
export function withMalformedAs<T>(code: X509ErrorCode, what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DerError) {
      throw new X509Error(code, `${what}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Identifier octets of the universal types this library reads and writes. */
export const DerTag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  ObjectIdentifier: 0x06,
  Utf8String: 0x0c,
  NumericString: 0x12,
  PrintableString: 0x13,
  TeletexString: 0x14,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  VisibleString: 0x1a,
  UniversalString: 0x1c,
  BmpString: 0x1e,
  Sequence: 0x30,
  Set: 0x31,
} as const;

const CONTEXT_CLASS = 0x80;
const CONSTRUCTED = 0x20;

/** The identifier octet of a context-specific tag `[tagNumber]` (low-tag-number form, 0..30). */
export function contextTag(tagNumber: number, constructed: boolean): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
    throw new RangeError(`context tag number must be 0..30, got ${tagNumber}`);
  }
  return CONTEXT_CLASS | (constructed ? CONSTRUCTED : 0) | tagNumber;
}

/** Whether the identifier octet marks a constructed encoding. */
export function isConstructed(tag: number): boolean {
  return (tag & CONSTRUCTED) !== 0;
}

const universalNames = new Map<number, string>(Object.entries(DerTag).map(([name, tag]) => [tag, name]));

/** A readable name of an identifier octet, for error messages. */
export function describeTag(tag: number): string {
  const universal = universalNames.get(tag);
  if (universal !== undefined) return universal;
  const tagClass = ['UNIVERSAL', 'APPLICATION', 'CONTEXT', 'PRIVATE'][tag >> 6] ?? 'UNKNOWN';
  const form = isConstructed(tag) ? 'constructed' : 'primitive';
  return tagClass === 'CONTEXT' ? `[${tag & 0x1f}] ${form}` : `${tagClass} ${tag & 0x1f} ${form}`;
}

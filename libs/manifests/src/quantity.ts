const decimalExponents: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const binaryExponents: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const quantityPattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d{1,3}))?$/;

/**
 * Converts a Kubernetes quantity (`1`, `0.5`, `500m`, `2k`, `1Ki`, `1e3`) or
 * a plain number into integer milli-units, rounding fractions of a milli-unit
 * up as Kubernetes does. Returns undefined when the value is not a quantity
 * or too large to be exact.
 */
export function quantityToMilli(value: number | string): number | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    if (Number.isInteger(value)) return checked(BigInt(value) * 1000n);
    value = String(value);
  }
  const m = quantityPattern.exec(value.trim());
  if (!m) return undefined;
  const [, sign, digits, suffix = '', exponent] = m;
  const [intPart = '', fracPart = ''] = digits!.split('.');
  let mantissa = BigInt((intPart + fracPart).replace(/^0+(?=\d)/, '') || '0');
  if (binaryExponents[suffix] !== undefined) mantissa *= 2n ** BigInt(binaryExponents[suffix]);
  const exp10 = (exponent !== undefined ? Number(exponent) : (decimalExponents[suffix] ?? 0)) + 3 - fracPart.length;
  let milli: bigint;
  if (exp10 >= 0) {
    if (exp10 > 40) return undefined;
    milli = mantissa * 10n ** BigInt(exp10);
  } else {
    const divisor = 10n ** BigInt(-exp10);
    milli = (mantissa + divisor - 1n) / divisor;
  }
  return checked(sign === '-' ? -milli : milli);
}

function checked(milli: bigint): number | undefined {
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  return milli > limit || milli < -limit ? undefined : Number(milli);
}

/**
 * Kubernetes resource quantities as exact integers (bytes, for memory and discs). Covers the
 * forms our CRDs accept: an integer with an optional binary (Ki..Ei) or decimal (k..E) suffix.
 */
const SUFFIX: Record<string, bigint> = {
  "": 1n,
  k: 1000n,
  M: 1000n ** 2n,
  G: 1000n ** 3n,
  T: 1000n ** 4n,
  P: 1000n ** 5n,
  E: 1000n ** 6n,
  Ki: 1024n,
  Mi: 1024n ** 2n,
  Gi: 1024n ** 3n,
  Ti: 1024n ** 4n,
  Pi: 1024n ** 5n,
  Ei: 1024n ** 6n,
};

const QUANTITY = /^([0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

/** Parses "2Gi" into 2147483648n; throws on anything else. */
export function parseQuantity(text: string): bigint {
  const match = QUANTITY.exec(text);
  if (!match) throw new Error(`not a quantity: ${JSON.stringify(text)} (expected e.g. 512Mi, 2Gi, 5G)`);
  return BigInt(match[1]!) * SUFFIX[match[2] ?? ""]!;
}

/** The largest binary unit that divides the value exactly, e.g. 2147483648n -> "2Gi". */
export function formatQuantity(value: bigint): string {
  for (const unit of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]) {
    const size = SUFFIX[unit]!;
    if (value >= size && value % size === 0n) return `${value / size}${unit}`;
  }
  return value.toString();
}

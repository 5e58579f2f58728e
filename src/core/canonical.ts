/**
 * Canonical encoding: JSON with object keys sorted, no whitespace. Signatures and digests are
 * computed over these bytes. Validators reject unknown keys and non-integer numbers, so a
 * message that verifies has exactly one encoding.
 */
const encoder = new TextEncoder();

/**
 * Encodings of FROZEN objects, computed once. A frozen object cannot change, so its encoding
 * cannot either; the simulator deep-freezes everything that crosses its network, and one
 * message is verified by every replica it reaches (and its parts again inside certificates).
 * Objects that are not frozen (everything in the real runtime) are encoded afresh each time.
 */
const jsonOfFrozen = new WeakMap<object, string>();
const bytesOfFrozen = new WeakMap<object, Uint8Array>();

export function canonicalJson(value: unknown): string {
  if (typeof value === 'object' && value !== null && Object.isFrozen(value)) {
    let s = jsonOfFrozen.get(value);
    if (s === undefined) {
      s = encodeJson(value);
      jsonOfFrozen.set(value, s);
    }
    return s;
  }
  return encodeJson(value);
}

function encodeJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

export function canonicalBytes(value: unknown): Uint8Array {
  if (typeof value === 'object' && value !== null && Object.isFrozen(value)) {
    let b = bytesOfFrozen.get(value);
    if (b === undefined) {
      b = encoder.encode(canonicalJson(value));
      bytesOfFrozen.set(value, b);
    }
    return b;
  }
  return encoder.encode(canonicalJson(value));
}

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

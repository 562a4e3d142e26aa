// The browser side of Steward's private aggregation (secretshare.md §2.2–§2.5, §4):
// encoding decimal values as Field64 elements, additive shares from the
// browser's CSPRNG, the config and batch digests, and adding the parties' sealed
// aggregate shares into exact decimal sums. All arithmetic is BigInt, since
// protobuf-es gives fixed64/int64 fields as bigint and doubles are exact only to
// 2^53. Values and shares are never logged.
//
// Bundled on its own into dist/secretshare.js (an ES module) by ./generate.

import type { Field, ValueEncoding } from "./gen/steward/secretshare/v1/secretshare_service_pb.js";

// The proto's enum numbers, written here so the bundle does not pull in (and
// change with) the generated message code.
const FIELD_UNSPECIFIED = 0 as Field;
const FIELD_FIELD64 = 1 as Field;
const VALUE_ENCODING_INTEGER = 1 as ValueEncoding;
const VALUE_ENCODING_FIXED_POINT = 2 as ValueEncoding;

/** The field's modulus p = 2^64 − 2^32 + 1 (the VDAF "Field64"). */
export const P = 18446744069414584321n;
/** (p − 1) / 2: the largest |integer| a field element stands for. */
export const HALF = (P - 1n) / 2n;

/** What the encoding and the digests read from an endpoint (an `Endpoint` from a party fits). */
export interface EndpointConfig {
  name: string;
  vectorLength: number;
  field?: Field;
  encoding: ValueEncoding;
  decimalScale: number;
  minValue: bigint;
  maxValue: bigint;
  minBatchSize?: number;
  maxSubmissionsPerContributor?: number;
  configDigest?: string;
}

/** What sumAggregates reads from each party's `Batch` (GetBatch or SealBatch). */
export interface BatchShare {
  endpoint: string;
  batchDigest: string;
  submissionCount: bigint;
  contributorCount: bigint;
  partyIndex: number;
  partyCount: number;
  configDigest: string;
  aggregateShare: bigint[];
}

/** The parties' aggregate shares added up: still field elements, for `decode`. */
export interface SummedBatch {
  endpoint: string;
  batchDigest: string;
  configDigest: string;
  submissionCount: bigint;
  contributorCount: bigint;
  aggregate: bigint[];
}

/** A refusal by this module: bad input, or parties that disagree. */
export class SecretShareError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretShareError";
  }
}

const DECIMAL_TEXT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const SUBMISSION_ID = /^[0-9a-fA-F]{32}$/;
/** getRandomValues fills at most 65 536 bytes per call. */
const MAX_RANDOM_WORDS = 8192;

function scaleOf(endpoint: EndpointConfig): number {
  if (endpoint.encoding === VALUE_ENCODING_INTEGER) {
    if (endpoint.decimalScale !== 0) {
      throw new SecretShareError(
        `endpoint "${endpoint.name}": integer encoding with decimal_scale ${endpoint.decimalScale}`,
      );
    }
    return 0;
  }
  if (endpoint.encoding === VALUE_ENCODING_FIXED_POINT) return endpoint.decimalScale;
  throw new SecretShareError(
    `endpoint "${endpoint.name}" has no value encoding; is it an Endpoint returned by a party?`,
  );
}

/** value · 10^scale as an integer, or null when that is not an integer (never rounds). */
function toInteger(text: string, scale: number): bigint | null {
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  if (!match) return null;
  const [, sign, whole, fraction = "", exponentText = "0"] = match;
  const exponent = Number(exponentText) - fraction.length;
  const digits = (whole + fraction).replace(/^0+/, "");
  if (digits === "") return 0n;
  const stripped = digits.replace(/0+$/, ""); // 2.50 at d = 1 is 25: zeros past d change nothing
  const shift = exponent + (digits.length - stripped.length) + scale;
  if (shift < 0) return null;
  // Far beyond any int64 bound: never build a huge integer.
  const integer = shift + stripped.length > 40 ? 10n ** 40n : BigInt(stripped) * 10n ** BigInt(shift);
  return sign === "-" ? -integer : integer;
}

/** An integer divided by 10^scale, as an exact decimal string ("-0.05", "12.30", "7"). */
function unscaled(integer: bigint, scale: number): string {
  const negative = integer < 0n;
  const digits = (negative ? -integer : integer).toString().padStart(scale + 1, "0");
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/**
 * Encodes one submission's values as field elements (§2.2, §4.3). Each value is a
 * decimal string ("12.5", "-3", "1e2") or a number (read from its shortest decimal
 * form). Refuses more than decimal_scale fractional digits (nothing is rounded),
 * values outside [min_value, max_value] after scaling, and vectors of the wrong length.
 */
export function encode(values: readonly (string | number | bigint)[], endpoint: EndpointConfig): bigint[] {
  if (!Array.isArray(values)) throw new SecretShareError("values must be an array of decimal strings or numbers");
  if (values.length !== endpoint.vectorLength) {
    throw new SecretShareError(
      `endpoint "${endpoint.name}" takes ${endpoint.vectorLength} values, got ${values.length}`,
    );
  }
  const scale = scaleOf(endpoint);
  return values.map((value, position) => {
    let text: string;
    if (typeof value === "string") text = value.trim();
    else if (typeof value === "bigint") text = value.toString();
    else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
    else throw new SecretShareError(`value ${position} is not a finite decimal number`);
    if (!DECIMAL_TEXT.test(text)) {
      throw new SecretShareError(`value ${position} is not a decimal number (e.g. "12", "-0.25", "1e3")`);
    }
    const integer = toInteger(text, scale);
    if (integer === null) {
      throw new SecretShareError(
        `value ${position} has more than ${scale} fractional digits, which endpoint "${endpoint.name}" ` +
          "cannot hold; round it yourself first if that is what you mean",
      );
    }
    if (integer < endpoint.minValue || integer > endpoint.maxValue) {
      throw new SecretShareError(
        `value ${position} is outside the range [${unscaled(endpoint.minValue, scale)}, ` +
          `${unscaled(endpoint.maxValue, scale)}] of endpoint "${endpoint.name}"`,
      );
    }
    return ((integer % P) + P) % P;
  });
}

/**
 * Decodes summed field elements into exact decimal strings (§2.2): s > (p − 1)/2
 * stands for s − p, divided by 10^d exactly, always with d fractional digits.
 */
export function decode(aggregate: readonly bigint[], endpoint: EndpointConfig): string[] {
  if (aggregate.length !== endpoint.vectorLength) {
    throw new SecretShareError(
      `endpoint "${endpoint.name}" has ${endpoint.vectorLength} elements, got ${aggregate.length}`,
    );
  }
  const scale = scaleOf(endpoint);
  return aggregate.map((element, position) => {
    if (typeof element !== "bigint" || element < 0n || element >= P) {
      throw new SecretShareError(`aggregate element ${position} is not a field element (a bigint in [0, p))`);
    }
    return unscaled(element > HALF ? element - P : element, scale);
  });
}

/** `count` independent uniform elements of [0, p): 64-bit CSPRNG words, rejected when ≥ p. */
function randomElements(count: number): bigint[] {
  const out: bigint[] = [];
  while (out.length < count) {
    const words = crypto.getRandomValues(new BigUint64Array(Math.min(count - out.length, MAX_RANDOM_WORDS)));
    for (const word of words) if (word < P) out.push(word);
  }
  return out;
}

/**
 * Splits field elements into `n` additive shares; share i goes to party i. Shares
 * 0…n−2 are uniform draws from crypto.getRandomValues; the last is
 * (f − Σ others) mod p. Any n − 1 shares reveal nothing.
 */
export function split(encoded: readonly bigint[], n: number): bigint[][] {
  if (!Number.isInteger(n) || n < 2) throw new SecretShareError(`need at least 2 parties, got ${n}`);
  encoded.forEach((element, position) => {
    if (typeof element !== "bigint" || element < 0n || element >= P) {
      throw new SecretShareError(`element ${position} is not a field element (a bigint in [0, p))`);
    }
  });
  const shares: bigint[][] = [];
  for (let i = 0; i < n - 1; i++) shares.push(randomElements(encoded.length));
  const last = encoded.map((element, j) => {
    let rest = element;
    for (const share of shares) rest -= share[j];
    return ((rest % P) + P) % P;
  });
  shares.push(last);
  return shares;
}

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

/** The endpoint's config digest for `partyCount` parties (§2.3): lowercase hex SHA-256. */
export async function configDigest(endpoint: EndpointConfig, partyCount: number): Promise<string> {
  if (endpoint.field !== undefined && endpoint.field !== FIELD_UNSPECIFIED && endpoint.field !== FIELD_FIELD64) {
    throw new SecretShareError(`endpoint "${endpoint.name}" uses a field this client does not know (${endpoint.field})`);
  }
  const encoding =
    endpoint.encoding === VALUE_ENCODING_INTEGER
      ? "integer"
      : endpoint.encoding === VALUE_ENCODING_FIXED_POINT
        ? "fixed_point"
        : null;
  if (encoding === null) throw new SecretShareError(`endpoint "${endpoint.name}" has no value encoding`);
  if (endpoint.minBatchSize === undefined) {
    throw new SecretShareError(
      `endpoint "${endpoint.name}" has no min_batch_size; digest the Endpoint a party returned`,
    );
  }
  if (!Number.isInteger(partyCount) || partyCount < 2) {
    throw new SecretShareError(`need at least 2 parties, got ${partyCount}`);
  }
  const text =
    "steward-secretshare-endpoint/v1\n" +
    `name=${endpoint.name}\n` +
    `party_count=${partyCount}\n` +
    "field=field64\n" +
    `modulus=${P}\n` +
    `vector_length=${endpoint.vectorLength}\n` +
    `encoding=${encoding}\n` +
    `decimal_scale=${endpoint.decimalScale}\n` +
    `min_value=${endpoint.minValue}\n` +
    `max_value=${endpoint.maxValue}\n` +
    `min_batch_size=${endpoint.minBatchSize}\n` +
    `max_submissions_per_contributor=${endpoint.maxSubmissionsPerContributor ?? 1}\n`;
  return sha256Hex(new TextEncoder().encode(text));
}

function idBytes(id: string): Uint8Array {
  if (typeof id !== "string" || !SUBMISSION_ID.test(id)) {
    throw new SecretShareError(`submission id "${id}" is not 32 hex digits`);
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(id.slice(2 * i, 2 * i + 2), 16);
  if (bytes.every((b) => b === 0)) throw new SecretShareError("the all-zero submission id is not allowed");
  return bytes;
}

/**
 * The batch digest of endpoint `name` and a set of submission ids (§2.5): SHA-256 of
 * "steward-secretshare-batch/v1\n" ‖ name ‖ "\n" ‖ the 16-byte ids sorted ascending.
 * The order of `ids` does not matter.
 */
export async function batchDigest(name: string, ids: readonly string[]): Promise<string> {
  if (ids.length === 0) throw new SecretShareError("a batch needs at least one submission id");
  const sorted = ids.map((id) => id.toLowerCase()).sort(); // lowercase hex sorts like the bytes
  if (new Set(sorted).size !== sorted.length) throw new SecretShareError("a batch lists each submission id once");
  const prefix = new TextEncoder().encode(`steward-secretshare-batch/v1\n${name}\n`);
  const text = new Uint8Array(prefix.length + 16 * sorted.length);
  text.set(prefix);
  sorted.forEach((id, i) => text.set(idBytes(id), prefix.length + 16 * i));
  return sha256Hex(text);
}

/** A fresh submission id: 16 CSPRNG bytes as 32 lowercase hex digits, never all zeros. */
export function newSubmissionId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    if (bytes.some((b) => b !== 0)) return hex(bytes);
  }
}

/**
 * Adds every party's aggregate share of one sealed batch (GetBatch or SealBatch on
 * each party) element-wise mod p, after checking that the parties agree: the same
 * endpoint, batch digest, config digest, submission and contributor counts and
 * length, party indices exactly 0…N−1 and party_count N everywhere. When
 * `endpoint` is given, its name, vector length and (if set) config digest must
 * match too.
 * Refuses to sum when anything differs.
 */
export function sumAggregates(batches: readonly BatchShare[], endpoint?: EndpointConfig): SummedBatch {
  const n = batches.length;
  if (n < 2) throw new SecretShareError(`need the batch from every party (at least 2), got ${n}`);
  const ordered = [...batches].sort((a, b) => a.partyIndex - b.partyIndex);
  const first = ordered[0];
  const length = endpoint?.vectorLength ?? first.aggregateShare.length;
  ordered.forEach((batch, index) => {
    let problem = "";
    if (batch.partyIndex !== index || batch.partyCount !== n) {
      problem = `party ${batch.partyIndex} of ${batch.partyCount}, expected ${index} of ${n} (each index 0…${n - 1} once)`;
    } else if (batch.endpoint !== first.endpoint || (endpoint && batch.endpoint !== endpoint.name)) {
      problem = `endpoint "${batch.endpoint}", expected "${endpoint?.name ?? first.endpoint}"`;
    } else if (batch.batchDigest !== first.batchDigest) {
      problem = `batch digest ${batch.batchDigest}, party 0 ${first.batchDigest}`;
    } else if (
      batch.configDigest !== first.configDigest ||
      (endpoint?.configDigest && batch.configDigest !== endpoint.configDigest)
    ) {
      problem = `config digest ${batch.configDigest}, expected ${endpoint?.configDigest || first.configDigest}`;
    } else if (batch.submissionCount !== first.submissionCount) {
      problem = `${batch.submissionCount} submissions, party 0 ${first.submissionCount}`;
    } else if (batch.contributorCount !== first.contributorCount) {
      problem = `${batch.contributorCount} contributors, party 0 ${first.contributorCount}`;
    } else if (
      batch.aggregateShare.length !== length ||
      batch.aggregateShare.some((e) => typeof e !== "bigint" || e < 0n || e >= P)
    ) {
      problem = `an aggregate share of ${batch.aggregateShare.length} elements, expected ${length} below p`;
    }
    if (problem) {
      throw new SecretShareError(
        `party ${index}'s answer for batch ${first.batchDigest} of endpoint "${first.endpoint}" has ${problem}; ` +
          "the parties disagree, so no sum is computed",
      );
    }
  });
  const aggregate: bigint[] = [];
  for (let j = 0; j < length; j++) {
    let total = 0n;
    for (const batch of ordered) total += batch.aggregateShare[j];
    aggregate.push(total % P);
  }
  return {
    endpoint: first.endpoint,
    batchDigest: first.batchDigest,
    configDigest: first.configDigest,
    submissionCount: first.submissionCount,
    contributorCount: first.contributorCount,
    aggregate,
  };
}

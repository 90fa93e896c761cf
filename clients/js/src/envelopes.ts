// What the client buffers: one envelope of the wire protocol per call (contract §3), built and encoded
// once, when the app makes the call, so that every send of it carries the same bytes.

export type ProfileId = string | number;
export type Properties = { [key: string]: unknown };

/** Sent with the first event of a request after the buffer had to drop events (README: "Bounded"). Not one
 * of the `__` specials of contract §3.1: the server stores it as an ordinary property. */
export const DROPPED_PROPERTY = "spool_dropped_events";

export interface Envelope {
  type: string;
  payload: { [key: string]: unknown };
}

/** ISO-8601 UTC to the millisecond. Never an epoch number: a device clock still at 1970 gives a number
 * below 10^11, which the server reads as seconds (contract §3.1). */
export function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** Compact JSON, refusing what JSON cannot carry instead of changing it silently (JSON.stringify turns
 * NaN into null and drops functions): the app learns at the call, and nothing is buffered. */
export function encode(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, key: string, item: unknown) {
    if (typeof item === "number" && !Number.isFinite(item)) throw new TypeError(`${where(key)} is ${item}: not a JSON number`);
    if (typeof item === "function" || typeof item === "symbol") throw new TypeError(`${where(key)} is a ${typeof item}: not JSON`);
    if (item instanceof Map || item instanceof Set) throw new TypeError(`${where(key)} is a ${item.constructor.name}: not JSON (use an object or an array)`);
    return item;
  });
}

function where(key: string): string {
  return key ? `the value of ${JSON.stringify(key)}` : "the value";
}

/** UTF-8 bytes of a string (what the server counts), without TextEncoder, which older React Native lacks. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair: one code point
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

export interface TrackIds {
  insertId: string;
  timestamp: string;
  deviceId: string;
  sessionId: string;
}

/** A `track` envelope. The app's own `__insertId`, `__timestamp`, `__deviceId` or `__sessionId` win. */
export function track(name: string, properties: Properties, profileId: ProfileId | undefined, groups: string[], ids: TrackIds): Envelope {
  const merged: Properties = {
    ...properties,
    __insertId: properties.__insertId ?? ids.insertId,
    __timestamp: properties.__timestamp ?? ids.timestamp,
    __deviceId: properties.__deviceId ?? ids.deviceId,
    __sessionId: properties.__sessionId ?? ids.sessionId,
  };
  const payload: Envelope["payload"] = { name, properties: merged };
  if (profileId !== undefined && profileId !== null) payload.profileId = profileId;
  if (groups.length) payload.groups = groups;
  return { type: "track", payload };
}

/** A buffered track envelope with one more property (the dropped-events count): only this send's copy. */
export function withProperty(body: string, key: string, value: unknown): string {
  const envelope = JSON.parse(body) as Envelope;
  const properties = (envelope.payload.properties ?? {}) as Properties;
  envelope.payload.properties = { ...properties, [key]: value };
  return JSON.stringify(envelope);
}

// Random UUIDs (version 4) for insert ids, device ids and session ids, from the platform's secure random
// source when there is one (React Native has none without a polyfill: Math.random then, still unique
// enough for ids that are scoped by device and event name on the server).

type RandomSource = { getRandomValues?<T extends Uint8Array>(array: T): T };

export function uuid4(source: RandomSource | undefined = (globalThis as { crypto?: RandomSource }).crypto): string {
  const bytes = new Uint8Array(16);
  if (source?.getRandomValues) source.getRandomValues(bytes);
  else for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40; // version 4
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // the RFC 4122 variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

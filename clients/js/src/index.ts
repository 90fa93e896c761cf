// spool-offline: an offline-first analytics client for browsers and React Native (README.md).

export { SpoolClient } from "./client.js";
export type { GroupPayload, IdentifyPayload, IncrementPayload, Status, TrackProperties } from "./client.js";
export type { SpoolOptions } from "./options.js";
export type { FlushResult, Limits } from "./flush.js";
export type { DeadLetter } from "./buffer.js";
export type { Envelope, ProfileId, Properties } from "./envelopes.js";
export type { LockManagerLike } from "./lock.js";
export { appStatePage, browserPage } from "./page.js";
export type { AppStateLike, PageEvents, PageHandlers } from "./page.js";
export { memoryStorage } from "./storage/memory.js";
export { indexedDBStorage } from "./storage/indexeddb.js";
export { asyncStorage } from "./storage/asyncstorage.js";
export type { AsyncStorageLike } from "./storage/asyncstorage.js";
export type { Doc, Entry, Json, ListOptions, Mode, SpoolStorage, StorageTx, Table } from "./storage/types.js";
export type { FetchLike, ResponseLike, Timers } from "./transport.js";
export { SDK_NAME, VERSION } from "./version.js";

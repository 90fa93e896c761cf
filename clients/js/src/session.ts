// The client's session (contract §6.2 rule 0): decided on the device, which sees its events in order. A
// new session after `idleMs` without events or once the session is `maxMs` old, as Amplitude's and
// PostHog's SDKs do; a device clock that jumps back by more than `idleMs` starts one too.

export interface Session {
  id: string; // 1 to 128 printable characters (a UUID), sent as `__sessionId`
  startedAt: number; // ms, by the device clock
  lastAt: number; // the latest event's time
}

export interface SessionRule {
  idleMs: number;
  maxMs: number;
}

export const DEFAULT_SESSION_RULE: SessionRule = { idleMs: 30 * 60_000, maxMs: 24 * 60 * 60_000 };

/** Whether an event at `now` starts a new session after `current`. */
export function startsSession(current: Session | undefined, now: number, rule: SessionRule): boolean {
  if (!current) return true;
  if (now - current.lastAt > rule.idleMs) return true;
  if (now - current.startedAt >= rule.maxMs) return true;
  return now < current.startedAt - rule.idleMs;
}

/** The session an event at `now` belongs to, with its times moved on. */
export function sessionAt(current: Session | undefined, now: number, rule: SessionRule, newId: () => string): Session {
  if (!current || startsSession(current, now, rule)) return { id: newId(), startedAt: now, lastAt: now };
  return { id: current.id, startedAt: current.startedAt, lastAt: Math.max(current.lastAt, now) };
}

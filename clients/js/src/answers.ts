// Reading the server's answer to a batch (contract §4): which rows were taken, which are refused for good
// (dead letters), and which the server failed on and wants again.

/** A 2xx that is not a batch answer: the server may or may not have taken the rows, so they stay and go
 * again (their insert ids collapse on the server). `stop`: trying again cannot help (a crawler UA). */
export class UnreadableAnswer extends Error {
  constructor(
    message: string,
    readonly stop = false,
  ) {
    super(message);
  }
}

/** By position in the request. */
export interface Verdict {
  accepted: number[];
  dead: { index: number; code: string; error: string }[];
  kept: { index: number; code: string; error: string }[]; // `internal` (or a reason not known yet): sent again later
  clockSkewMs: number | undefined;
}

/** The verdict on the `count` rows of a request answered 2xx with `body`. Only `validation` is final: any
 * other reason keeps the row, since sending a row twice costs nothing and losing it cannot be undone. */
export function readBatchAnswer(body: string, count: number): Verdict {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    throw new UnreadableAnswer(`the answer is not JSON: ${snippet(body)}`);
  }
  if (!isObject(answer)) throw new UnreadableAnswer(`the answer is not a JSON object: ${snippet(body)}`);
  if ("bot" in answer && !("accepted" in answer)) {
    throw new UnreadableAnswer("the server took this client for a crawler and stored nothing", true);
  }
  const rejected = answer.rejected ?? [];
  if (!Number.isInteger(answer.accepted) || !Array.isArray(rejected)) {
    throw new UnreadableAnswer(`the answer is not a batch answer: ${snippet(body)}`);
  }
  const verdict: Verdict = { accepted: [], dead: [], kept: [], clockSkewMs: integerOrUndefined(answer.clockSkewMs) };
  const refused = new Set<number>();
  for (const entry of rejected) {
    const index = isObject(entry) ? entry.index : undefined;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count || refused.has(index)) continue;
    refused.add(index);
    const row = entry as { [key: string]: unknown };
    const error = typeof row.error === "string" ? row.error : "";
    const code = typeof row.code === "string" && row.code ? row.code : undefined;
    if (row.reason === "validation") verdict.dead.push({ index, code: code ?? "validation", error });
    else verdict.kept.push({ index, code: code ?? String(row.reason ?? "rejected"), error: error || `rejected: ${String(row.reason)}` });
  }
  for (let index = 0; index < count; index += 1) if (!refused.has(index)) verdict.accepted.push(index);
  return verdict;
}

/** `413 payload_too_large: request body larger than ...` from a Spool error answer, or the status and the
 * start of whatever else answered (a proxy's HTML page). */
export function errorText(status: number, body: string): string {
  const answer = parseObject(body);
  if (answer && "error" in answer) {
    const message = typeof answer.message === "string" ? answer.message : "";
    return message ? `${status} ${String(answer.error)}: ${message}` : `${status} ${String(answer.error)}`;
  }
  const start = body.slice(0, 120).trim();
  return start ? `${status} ${start}` : `HTTP ${status}`;
}

export function errorCode(body: string, fallback: string): string {
  const code = parseObject(body)?.error;
  return typeof code === "string" && code ? code : fallback;
}

function parseObject(body: string): { [key: string]: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function integerOrUndefined(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}

function snippet(body: string): string {
  return JSON.stringify(body.slice(0, 200));
}

// One HTTP request of a batch: JSON to `POST /track/batch`, gzip-compressed where the platform has
// CompressionStream. What the answer means is flush.ts's; here a network failure is only told apart
// from an answer.

export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<ResponseLike>;

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Answer {
  kind: "answer";
  status: number;
  retryAfter: string | null;
  date: string | null;
  body: string;
}

/** No complete answer: refused, timed out, cut short. The server may have taken the batch. */
export interface Failure {
  kind: "failure";
  error: string;
}

export interface Post {
  url: string;
  body: string;
  headers: { [name: string]: string };
  gzip: boolean;
  /** For a page being hidden: the request outlives the page (at most 64 KiB of body), and fetch must be
   * called now, before anything asynchronous, or an unloading page never sends it. */
  keepalive: boolean;
  timeoutMs: number;
}

export function post(fetch: FetchLike, request: Post, timers: Timers): Promise<Answer | Failure> {
  if (request.gzip && !request.keepalive && canGzip()) {
    return gzip(request.body).then(
      (bytes) => send(fetch, request, bytes, { "Content-Encoding": "gzip" }, timers),
      () => send(fetch, request, request.body, {}, timers),
    );
  }
  return send(fetch, request, request.body, {}, timers);
}

function send(fetch: FetchLike, request: Post, body: BodyInit, extra: { [name: string]: string }, timers: Timers): Promise<Answer | Failure> {
  // A keepalive request may outlive the page, so nothing aborts it; any other gives up after timeoutMs.
  const controller = !request.keepalive && typeof AbortController === "function" ? new AbortController() : undefined;
  const timer = controller ? timers.setTimeout(() => controller.abort(), request.timeoutMs) : undefined;
  const init: RequestInit = {
    method: "POST",
    headers: { "Content-Type": "application/json", ...request.headers, ...extra },
    body,
    credentials: "omit", // the client id is the credential; no cookies to the analytics host
    keepalive: request.keepalive,
  };
  if (controller) init.signal = controller.signal;
  let pending: Promise<ResponseLike>;
  try {
    pending = fetch(request.url, init);
  } catch (error) {
    pending = Promise.reject(error);
  }
  return pending
    .then(async (response): Promise<Answer> => {
      const text = await response.text(); // rejects when the answer is cut short
      return { kind: "answer", status: response.status, retryAfter: response.headers.get("retry-after"), date: response.headers.get("date"), body: text };
    })
    .catch((error: unknown): Failure => ({ kind: "failure", error: describe(error, request.timeoutMs) }))
    .finally(() => {
      if (timer !== undefined) timers.clearTimeout(timer);
    });
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function canGzip(): boolean {
  return typeof CompressionStream === "function" && typeof Response === "function" && typeof Blob === "function" && typeof Blob.prototype.stream === "function";
}

async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

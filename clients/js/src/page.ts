// When to drain besides the timer: the page or app going to the background (it may never come back), coming
// back to the foreground, and the network coming back. Browsers say it with DOM events, React Native with
// AppState; both are read through this one shape.

export interface PageHandlers {
  hidden(): void;
  visible(): void;
  online(): void;
}

export interface PageEvents {
  /** A browser may unload a hidden page at once: the hidden send must be a keepalive fetch, made at the
   * event. React Native keeps the app running a few seconds in the background: an ordinary flush works. */
  readonly keepalive: boolean;
  /** Start listening; returns the function that stops. */
  listen(handlers: PageHandlers): () => void;
}

/** What this uses of `window` and `document`. */
export interface EventSource {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}
export interface DocumentLike extends EventSource {
  readonly visibilityState: string;
}

/** `visibilitychange` (the one event mobile browsers fire reliably before a page is killed), `pagehide`
 * (a page being unloaded or put in the back-forward cache) and `online`. Undefined outside a browser. */
export function browserPage(
  win: EventSource | undefined = (globalThis as { window?: EventSource }).window,
  doc: DocumentLike | undefined = (globalThis as { document?: DocumentLike }).document,
): PageEvents | undefined {
  if (!win || !doc || typeof win.addEventListener !== "function") return undefined;
  return {
    keepalive: true,
    listen(handlers) {
      const visibility = () => (doc.visibilityState === "hidden" ? handlers.hidden() : handlers.visible());
      const hide = () => handlers.hidden();
      const online = () => handlers.online();
      doc.addEventListener("visibilitychange", visibility);
      win.addEventListener("pagehide", hide);
      win.addEventListener("online", online);
      return () => {
        doc.removeEventListener("visibilitychange", visibility);
        win.removeEventListener("pagehide", hide);
        win.removeEventListener("online", online);
      };
    },
  };
}

/** What this uses of React Native's `AppState`. */
export interface AppStateLike {
  addEventListener(type: "change", listener: (state: string) => void): { remove(): void };
}

/** `appStatePage(AppState)`: `background` drains, `active` drains what waits. (React Native has no
 * `online` event: call `client.flush()` from a NetInfo listener.) */
export function appStatePage(appState: AppStateLike): PageEvents {
  return {
    keepalive: false,
    listen(handlers) {
      const subscription = appState.addEventListener("change", (state) => {
        if (state === "background") handlers.hidden();
        else if (state === "active") handlers.visible();
      });
      return () => subscription.remove();
    },
  };
}

/**
 * Live updates from `GET /api/v1/stream` (server-sent events). `EventSource` cannot send the bearer token,
 * so the stream is read with `fetch()` and parsed here:
 *
 * - `event: alert` (`id:` a resumable cursor, `data:` an `AlertView`) whenever an alert of the caller's
 *   scope opens or changes; `event: ingestion` (`data: {hour, rows, minute, minute_rows}`) when the
 *   current hour's ingested rows changed; `: keep-alive` comments.
 * - The server ends a stream after about 15 minutes: the client reconnects at once, sending the last
 *   cursor as `Last-Event-ID` so no change is missed. A failure (no answer, 404, 5xx) reconnects after 1 s,
 *   doubling to 30 s; meanwhile `useLiveUpdates` re-reads the alerts every 3 s instead.
 * - A 401 refreshes the session once and reconnects; stopping (logout, unmount) aborts the request.
 */
import { skipToken, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { keys } from "./queries";
import type { Schemas } from "./types";
import type { Session } from "../auth/session";
import { useSession } from "../auth/AuthContext";

export const STREAM_PATH = "/api/v1/stream";
/** How often the alerts are re-read while the stream is down (an alert still shows within 5 s). */
export const FALLBACK_POLL_MS = 3_000;
export const MIN_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
/** A stream that lasted this long and ended was closed by the server on schedule: reconnect at once. */
const SCHEDULED_END_MS = 30_000;

/**
 * `event: ingestion`'s data (the stream is `text/event-stream`, so the OpenAPI document does not describe
 * its events).
 */
export interface IngestionTick {
  /** RFC 3339, the start of the current hour. */
  hour: string;
  /** Rows ingested this hour. */
  rows: number;
  /** RFC 3339, the start of the current minute (absent from servers older than the minute count). */
  minute?: string;
  /** Rows ingested during `minute`. */
  minute_rows?: number;
}

/** Where `useLiveUpdates` keeps the newest ingestion tick (in the query cache, so it goes with the session). */
export const INGESTION_KEY = ["live", "ingestion"] as const;

/** One server-sent event: its type (`message` when none is named), its data lines joined, its id. */
export interface SseFrame {
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser of the `text/event-stream` format: feed it decoded text as it arrives, in chunks
 * of any size; it returns the frames completed so far. Lines end with LF, CR or CRLF (also split across
 * chunks); `field: value` loses one space after the colon; `data` lines are joined with LF; a blank line
 * ends a frame; comment lines (`:`) and unknown fields (`retry`) are ignored; a frame without data is not
 * dispatched.
 */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;

  /** The previous chunk ended with a CR: an LF starting this one completes that CRLF. */
  private pendingCr = false;

  push(text: string): SseFrame[] {
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const frames: SseFrame[] = [];
    for (;;) {
      const end = /\r\n|\r|\n/.exec(this.buffer);
      if (!end) break;
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end[0].length);
      if (end[0] === "\r" && this.buffer === "") this.pendingCr = true;
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    return frames;
  }

  private line(line: string): SseFrame | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return null;
  }

  private dispatch(): SseFrame | null {
    const frame: SseFrame | null =
      this.data.length > 0
        ? { event: this.event || "message", data: this.data.join("\n"), ...(this.id !== undefined ? { id: this.id } : {}) }
        : null;
    this.event = "";
    this.data = [];
    this.id = undefined;
    return frame;
  }
}

/** `open`: events are flowing; `down`: the stream failed and a reconnection is scheduled. */
export type LiveStatus = "connecting" | "open" | "down";

export interface LiveHandlers {
  alert: (alert: Schemas["AlertView"]) => void;
  ingestion: (tick: IngestionTick) => void;
  status: (status: LiveStatus) => void;
}

export interface LiveOptions {
  session: Pick<Session, "accessToken" | "canRefresh" | "refresh">;
  url?: string;
  /** Resolved per call so tests can stub the global fetch. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** The first retry's delay (doubling to `MAX_RETRY_MS`). */
  minRetryMs?: number;
}

/** Connects to the stream and keeps it connected until the returned function is called. */
export function connectLive(handlers: LiveHandlers, options: LiveOptions): () => void {
  const abort = new AbortController();
  void run(handlers, options, abort.signal);
  return () => abort.abort();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

function deliver(frame: SseFrame, h: LiveHandlers): void {
  try {
    if (frame.event === "alert") h.alert(JSON.parse(frame.data) as Schemas["AlertView"]);
    else if (frame.event === "ingestion") h.ingestion(JSON.parse(frame.data) as IngestionTick);
  } catch {
    // A frame that does not parse is skipped; the next one may.
  }
}

async function run(h: LiveHandlers, o: LiveOptions, signal: AbortSignal): Promise<void> {
  const url = o.url ?? `${typeof window === "undefined" ? "" : window.location.origin}${STREAM_PATH}`;
  const get = o.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
  const minRetry = o.minRetryMs ?? MIN_RETRY_MS;
  let lastId: string | undefined;
  let retry = minRetry;
  let refreshed = false;
  h.status("connecting");
  while (!signal.aborted) {
    const started = Date.now();
    let opened = false;
    try {
      const token = o.session.accessToken();
      if (!token) return; // logged out
      const headers: Record<string, string> = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const resp = await get(url, { headers, signal, cache: "no-store" });
      if (resp.status === 401) {
        void resp.body?.cancel().catch(() => undefined);
        // One refresh per failure: a second 401 in a row leaves the session to the API calls.
        if (refreshed || !o.session.canRefresh() || !(await o.session.refresh())) return;
        refreshed = true;
        continue;
      }
      refreshed = false;
      if (resp.status === 422 && lastId) {
        // Not a cursor this server knows (another database, say): start from now.
        void resp.body?.cancel().catch(() => undefined);
        lastId = undefined;
        continue;
      }
      if (!resp.ok || !resp.body) {
        void resp.body?.cancel().catch(() => undefined);
        throw new Error(`the stream answered ${resp.status}`);
      }
      opened = true;
      retry = minRetry;
      h.status("open");
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
          if (frame.id !== undefined) lastId = frame.id;
          deliver(frame, h);
        }
      }
    } catch {
      // A failed or broken stream: retried below.
    }
    if (signal.aborted) return;
    if (opened && Date.now() - started >= SCHEDULED_END_MS) {
      h.status("connecting");
      continue;
    }
    h.status("down");
    await sleep(retry, signal);
    retry = Math.min(retry * 2, MAX_RETRY_MS);
  }
}

/** Runs `fn` once `ms` after the first of a burst of calls. */
function coalesced(fn: () => void, ms = 100) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    run: () => {
      if (timer === undefined) {
        timer = setTimeout(() => {
          timer = undefined;
          fn();
        }, ms);
      }
    },
    cancel: () => clearTimeout(timer),
  };
}

/**
 * Keeps the panel's alerts and dashboard current (mounted once, in `Layout`): an `alert` event refreshes
 * every alert query (lists, the badge's count, details), an `ingestion` event the dashboard (and is kept
 * for `useIngestion`). While the stream is down the alerts are re-read every `FALLBACK_POLL_MS`.
 */
export function useLiveUpdates(): LiveStatus {
  const qc = useQueryClient();
  const session = useSession();
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const wasDown = useRef(false);
  useEffect(() => {
    const alerts = coalesced(() => void qc.invalidateQueries({ queryKey: keys.alerts.all }));
    const dashboard = coalesced(() => void qc.invalidateQueries({ queryKey: keys.dashboard.all }));
    const stop = connectLive(
      {
        alert: alerts.run,
        ingestion: (tick) => {
          qc.setQueryData(INGESTION_KEY, tick);
          dashboard.run();
        },
        status: (s) => {
          // Back after a failure: what changed meanwhile is read again.
          if (s === "open" && wasDown.current) alerts.run();
          if (s === "down") wasDown.current = true;
          else if (s === "open") wasDown.current = false;
          setStatus(s);
        },
      },
      { session },
    );
    return () => {
      stop();
      alerts.cancel();
      dashboard.cancel();
    };
  }, [qc, session]);
  useEffect(() => {
    if (status !== "down") return;
    const t = setInterval(() => void qc.invalidateQueries({ queryKey: keys.alerts.all }), FALLBACK_POLL_MS);
    return () => clearInterval(t);
  }, [status, qc]);
  return status;
}

/** The newest ingestion tick from the stream, once one arrived (it is never fetched). */
export function useIngestion(): IngestionTick | undefined {
  return useQuery<IngestionTick>({ queryKey: INGESTION_KEY, queryFn: skipToken, staleTime: Infinity }).data;
}

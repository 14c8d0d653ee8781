import { describe, expect, it, vi } from "vitest";
import { connectLive, SseParser, type IngestionTick, type LiveStatus } from "./live";

describe("the stream's frame parser", () => {
  it("reads event, id and data lines; a blank line ends a frame", () => {
    const p = new SseParser();
    expect(p.push('event: alert\nid: 17-4\ndata: {"id":4}\n\n')).toEqual([{ event: "alert", id: "17-4", data: '{"id":4}' }]);
    expect(p.push('event: ingestion\ndata: {"rows":3}\n\n')).toEqual([{ event: "ingestion", data: '{"rows":3}' }]);
  });

  it("ignores comments and unknown fields, and dispatches nothing without data", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\n\n")).toEqual([]);
    expect(p.push("retry: 5000\nevent: alert\n\n")).toEqual([]);
    // The previous frame's event name does not leak into the next one.
    expect(p.push("data: x\n\n")).toEqual([{ event: "message", data: "x" }]);
  });

  it("joins data lines with a newline, and keeps the value after exactly one space", () => {
    const p = new SseParser();
    expect(p.push("data: a\ndata:  b\ndata:c\ndata\n\n")).toEqual([{ event: "message", data: "a\n b\nc\n" }]);
  });

  it("takes text in chunks of any size, split anywhere, CRLF and CR line ends included", () => {
    const text = 'event: alert\r\nid: 1-1\r\ndata: {"a":1}\r\n\r\n: ping\revent: ingestion\rdata: {"b":2}\r\r';
    const expected = [
      { event: "alert", id: "1-1", data: '{"a":1}' },
      { event: "ingestion", data: '{"b":2}' },
    ];
    for (const size of [1, 2, 3, 7, text.length]) {
      const p = new SseParser();
      const frames = [];
      for (let i = 0; i < text.length; i += size) frames.push(...p.push(text.slice(i, i + size)));
      expect(frames, `chunks of ${size}`).toEqual(expected);
    }
  });

  it("holds an unfinished frame until its blank line arrives", () => {
    const p = new SseParser();
    expect(p.push("event: alert\ndata: {")).toEqual([]);
    expect(p.push('"id":1}\n')).toEqual([]);
    expect(p.push("\n")).toEqual([{ event: "alert", data: '{"id":1}' }]);
  });
});

/** A response whose body streams `chunks` and ends (or stays open). */
function streamed(chunks: string[], end = true): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(enc.encode(chunk));
      if (end) c.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
}

describe("the stream's client", () => {
  it("delivers events, reconnects with Last-Event-ID after a break, and stops when asked", async () => {
    const asked: Record<string, string>[] = [];
    const alerts: number[] = [];
    const ticks: IngestionTick[] = [];
    const statuses: LiveStatus[] = [];
    const fetch = vi.fn(async (_url: string, init: RequestInit) => {
      asked.push({ ...(init.headers as Record<string, string>) });
      if (asked.length === 1) {
        return streamed(['event: alert\nid: 100-7\ndata: {"id":7}\n\n', ": keep-alive\n\n", 'event: ingestion\ndata: {"hour":"h","rows":5,"minute":"m","minute_rows":2}\n\n']);
      }
      if (asked.length === 2) return new Response("{}", { status: 503 });
      // Stays open (until stopped).
      return streamed(['event: alert\nid: 200-8\ndata: {"id":8}\n\n'], false);
    });
    const stop = connectLive(
      {
        alert: (a) => alerts.push(a.id),
        ingestion: (t) => ticks.push(t),
        status: (s) => statuses.push(s),
      },
      {
        session: { accessToken: () => "tok", canRefresh: () => false, refresh: async () => false },
        url: "http://panel/api/v1/stream",
        fetch,
        minRetryMs: 5,
      },
    );
    await vi.waitFor(() => expect(alerts).toEqual([7, 8]));
    stop();
    expect(ticks).toEqual([{ hour: "h", rows: 5, minute: "m", minute_rows: 2 }]);
    expect(asked[0]?.Authorization).toBe("Bearer tok");
    expect(asked[0]?.["Last-Event-ID"]).toBeUndefined();
    expect(asked[1]?.["Last-Event-ID"]).toBe("100-7");
    // A failed attempt does not lose the cursor.
    expect(asked[2]?.["Last-Event-ID"]).toBe("100-7");
    expect(statuses).toEqual(["connecting", "open", "down", "down", "open"]);
  });

  it("refreshes the session once on a 401, and gives up without a session", async () => {
    let token = "old";
    const seen: string[] = [];
    const fetch = vi.fn(async (_url: string, init: RequestInit) => {
      const auth = (init.headers as Record<string, string>).Authorization ?? "";
      seen.push(auth);
      return new Response("{}", { status: 401 });
    });
    const refresh = vi.fn(async () => {
      token = "new";
      return true;
    });
    const statuses: LiveStatus[] = [];
    connectLive(
      { alert: () => undefined, ingestion: () => undefined, status: (s) => statuses.push(s) },
      { session: { accessToken: () => token, canRefresh: () => true, refresh }, url: "http://panel/s", fetch, minRetryMs: 5 },
    );
    await vi.waitFor(() => expect(seen).toEqual(["Bearer old", "Bearer new"]));
    await new Promise((r) => setTimeout(r, 30));
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(seen.length).toBe(2);
  });
});

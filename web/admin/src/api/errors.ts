/** The API's `{"error": {...}}` body as an exception the pages can show. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly requestId?: string;
  /** Seconds, from `Retry-After` on a 429. */
  readonly retryAfter?: number;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { field?: string; requestId?: string; retryAfter?: number } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.requestId = extra.requestId;
    this.retryAfter = extra.retryAfter;
  }
}

interface ErrorShape {
  error?: { code?: unknown; message?: unknown; field?: unknown; request_id?: unknown };
}

/** Builds the error from a failed response and its parsed body (which may be anything). */
export function apiError(response: Response, body: unknown): ApiError {
  const detail = (body as ErrorShape | null)?.error;
  const retry = Number(response.headers.get("retry-after"));
  const message =
    typeof detail?.message === "string"
      ? detail.message
      : response.status === 0
        ? "The server could not be reached."
        : `The server answered ${response.status}.`;
  return new ApiError(response.status, typeof detail?.code === "string" ? detail.code : "http_error", message, {
    field: typeof detail?.field === "string" ? detail.field : undefined,
    requestId:
      typeof detail?.request_id === "string" ? detail.request_id : (response.headers.get("x-request-id") ?? undefined),
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
  });
}

/** A sentence for any thrown value. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429) return `Too many requests. Try again in ${e.retryAfter ?? 60} s.`;
    return e.field ? `${e.field}: ${e.message}` : e.message;
  }
  if (e instanceof TypeError) return "The server could not be reached. Check that dbpower is running.";
  return e instanceof Error ? e.message : String(e);
}

/**
 * The API's types that are not in the generated schema yet: the window comparison (`GET /api/v1/compare`),
 * change markers (`GET/POST /api/v1/events`), the live stream's events (`GET /api/v1/stream`), the
 * change marker an alert's evidence cites and the organization a super admin's mute names. Written by hand to mirror the Rust types in
 * `crates/dbpower-types/src/alerts.rs` and `routes/stream.rs`.
 *
 * These move to the generated schema: after `npm run gen:all`, replace each declaration below with its
 * `Schemas["..."]` alias (or move it to `types.ts`), turn the `send(...)` fetchers in `queries.ts` into
 * `api.GET(...)` calls, and delete this file. Nothing else declares these shapes.
 */
import type { Schemas } from "./types";

// ---- GET /api/v1/compare -------------------------------------------------------------------------------

/** How a class changed from window A to window B (Rust `ClassChange`). */
export type ClassChange = "new" | "gone" | "regressed" | "improved" | "unchanged";

/** The compare endpoint's sort keys (validated by the handler; not an enum in Rust). */
export type CompareSort = "total_time_delta" | "b_total_time" | "a_total_time" | "mean_ratio" | "calls_delta";
export type SortOrder = "desc" | "asc";

/** `GET /api/v1/compare`'s query (Rust `CompareQuery`). */
export interface CompareQuery {
  a_from: string;
  a_to: string;
  b_from: string;
  b_to: string;
  /** 1.05 to 100, default 1.5. */
  ratio?: number;
  change?: ClassChange;
  database_type?: Schemas["DatabaseType"];
  sort?: CompareSort;
  order?: SortOrder;
  page?: number;
  per_page?: number;
  /** json (default) or csv: every matching row, no paging. */
  format?: "json" | "csv";
}

/** One window's numbers of a class (Rust `CompareSide`). */
export interface CompareSide {
  calls: number;
  total_time_ms: number;
  mean_ms: number | null;
  p95_ms: number | null;
}

/** One class in both windows (Rust `CompareRow`). */
export interface CompareRow {
  query_id: string;
  database_type: string;
  fingerprint: string;
  change: ClassChange;
  a: CompareSide;
  b: CompareSide;
  /** B's mean over A's (both ran). */
  mean_ratio: number | null;
  p95_ratio: number | null;
  /** B's total time minus A's. */
  total_time_delta_ms: number;
  /** B's calls minus A's. */
  calls_delta: number;
}

/** How many classes of each change, before the `change` filter (Rust `CompareSummary`). */
export type CompareSummary = Record<ClassChange, number>;

/** Rust `CompareResponse`. */
export interface CompareResponse {
  a_from: string;
  a_to: string;
  b_from: string;
  b_to: string;
  ratio: number;
  summary: CompareSummary;
  items: CompareRow[];
  total: number;
  page: number;
  per_page: number;
}

// ---- GET/POST /api/v1/events ---------------------------------------------------------------------------

/** What a change marker records (Rust `ChangeKind`). */
export type ChangeKind = "deploy" | "schema" | "config" | "note";

/** A change marker (Rust `EventView`). */
export interface EventView {
  id: number;
  organization_id: number;
  team_id: number | null;
  identity_id: number | null;
  kind: ChangeKind;
  title: string;
  at: string;
  labels: Record<string, string>;
  /** `user` (a bearer token) or `api_key` (a signed request). */
  source: "user" | "api_key";
  created_at: string;
}

/** `POST /api/v1/events` (Rust `CreateEventRequest`). */
export interface CreateEventRequest {
  kind: ChangeKind;
  /** 1 to 200 characters. */
  title: string;
  /** Default now; at most 90 days ago and a day ahead. */
  at?: string | null;
  labels?: Record<string, string> | null;
  /** Required for a super admin. */
  organization_id?: number | null;
}

/** `GET /api/v1/events` (Rust `EventListQuery`). */
export interface EventListQuery {
  from?: string;
  to?: string;
  kind?: ChangeKind;
  page?: number;
  per_page?: number;
}

/** Rust `Page<EventView>`. */
export interface EventPage {
  items: EventView[];
  total: number;
  total_capped?: boolean;
  page: number;
  per_page: number;
}

// ---- AlertEvidence.change_marker -----------------------------------------------------------------------

/** An alert's evidence with the newest change marker before it (Rust `AlertEvidence.change_marker`). */
export type AlertEvidence = Schemas["AlertEvidence"] & { change_marker?: EventView | null };

/** The change marker an alert's evidence cites, if any. */
export function changeMarker(evidence: Schemas["AlertEvidence"]): EventView | null {
  return (evidence as AlertEvidence).change_marker ?? null;
}

// ---- POST /api/v1/query-classes/{query_id}/mute -------------------------------------------------------

/** The mute's body with the organization a super admin names (Rust `MuteRequest.organization_id`). */
export type MuteRequest = Schemas["MuteRequest"] & { organization_id?: number | null };

// ---- GET /api/v1/stream --------------------------------------------------------------------------------

/** `event: ingestion`'s data: the current hour's ingested rows. */
export interface IngestionTick {
  /** RFC 3339, the start of the hour. */
  hour: string;
  rows: number;
}

/** Formatting shared by every page: durations, counts, dates, the API's names. */
import type { DatabaseType, Role } from "../api/types";

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = s / 60;
  if (m < 60) return `${m.toFixed(1)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

const intFormat = new Intl.NumberFormat("en-US");

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return intFormat.format(Math.round(n));
}

export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return "—";
  if (r >= 100) return intFormat.format(Math.round(r));
  return r.toFixed(r < 10 ? 1 : 0);
}

const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** A number to one decimal (`1,234.5`), `—` for none. */
export function formatDecimal(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return oneDecimal.format(n);
}

const costFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const smallCostFormat = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 2 });

/** A planner cost: whole above 100 (`35,000`), one decimal below (`8.1`), two significant digits under 1. */
export function formatCost(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (n >= 100) return intFormat.format(Math.round(n));
  if (n > 0 && n < 1) return smallCostFormat.format(n);
  return costFormat.format(n);
}

/** How many times cheaper `after` is than `before` (`4.3×`, `12×`, `4,321×`); null when either is unknown. */
export function formatSpeedup(before: number | null | undefined, after: number | null | undefined): string | null {
  if (before === null || before === undefined || after === null || after === undefined) return null;
  if (!Number.isFinite(before) || !Number.isFinite(after) || after <= 0 || before <= 0) return null;
  return `${formatRatio(before / after)}×`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString("en-GB", {
    year: "numeric",
    month: "short",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** "3 min ago", "2 h ago", "5 d ago"; `now` is injectable for tests. */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "—";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function shortDay(isoDate: string): string {
  const d = new Date(`${isoDate}T00:00:00Z`);
  return d.toLocaleDateString("en-GB", { weekday: "short", day: "2-digit", timeZone: "UTC" });
}

const ROLE_LABELS: Record<Role, string> = {
  SUPER_ADMIN: "Super admin",
  ORG_ADMIN: "Org admin",
  TEAM_LEAD: "Team lead",
  USER: "User",
};

export function roleLabel(role: Role): string {
  return ROLE_LABELS[role] ?? role;
}

const DB_LABELS: Record<DatabaseType, string> = { mysql: "MySQL", postgresql: "PostgreSQL" };

export function dbLabel(t: DatabaseType): string {
  return DB_LABELS[t] ?? t;
}

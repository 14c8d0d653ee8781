/** Times as the pickers show them (`datetime-local`: the browser's local time, to the minute) and as the API takes them. */

export const HOUR_MS = 3_600_000;

/** A `datetime-local` value (the browser's local time) as an RFC 3339 instant; nothing for empty or invalid. */
export function instant(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** An instant (milliseconds or RFC 3339) as a `datetime-local` value, to the minute. */
export function localInput(t: number | string): string {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Two windows to compare: A before, B after. */
export interface Windows {
  a_from: string;
  a_to: string;
  b_from: string;
  b_to: string;
}

export type Preset = "hour" | "day" | "week";
const PRESET_HOURS: Record<Preset, number> = { hour: 1, day: 24, week: 24 * 7 };

/**
 * B is the last `preset` ending at the current (UTC, as the rollups') hour, A the one before it; as
 * `datetime-local` values.
 */
export function presetWindows(preset: Preset, now: number = Date.now()): Windows {
  const span = PRESET_HOURS[preset] * HOUR_MS;
  const end = Math.floor(now / HOUR_MS) * HOUR_MS;
  return {
    a_from: localInput(end - 2 * span),
    a_to: localInput(end - span),
    b_from: localInput(end - span),
    b_to: localInput(end),
  };
}

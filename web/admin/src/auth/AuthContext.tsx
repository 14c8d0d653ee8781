import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { session, type Session, type SessionState, type User } from "./session";
import { LoadingState } from "../components/States";
import { bindSession } from "../api/client";

const SessionContext = createContext<Session>(session);

export function SessionProvider({ value, children }: { value?: Session; children: ReactNode }) {
  const s = value ?? session;
  // Bound before any child query runs, so API calls carry this session's token.
  bindSession(s);
  useEffect(() => {
    void s.restore();
  }, [s]);
  return <SessionContext.Provider value={s}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  return useContext(SessionContext);
}

export function useSessionState(): SessionState {
  const s = useSession();
  return useSyncExternalStore(s.subscribe, s.getState, s.getState);
}

/** The logged-in user; only valid under `RequireAuth`. */
export function useUser(): User {
  const state = useSessionState();
  if (state.status !== "authenticated") throw new Error("useUser outside an authenticated route");
  return state.user;
}

export type Role = User["role"];

/** What each role may manage, mirroring the server's permission table (which is what actually decides). */
export function can(user: Pick<User, "role">, what: Capability): boolean {
  const r = user.role;
  switch (what) {
    case "organizations":
      return r === "SUPER_ADMIN";
    case "teams":
    case "identities":
    case "api_keys":
    case "audit":
    case "settings":
      return r === "SUPER_ADMIN" || r === "ORG_ADMIN";
    case "users":
    case "handle_alerts":
    case "view_teams":
      return r !== "USER";
  }
}

/**
 * Whether the user may set, turn off and preview a team's weekly report: an administrator any team of
 * theirs, a team lead its own (the server's `HandleAlerts` on the team, which is what actually decides).
 */
export function mayManageWeeklyReport(user: Pick<User, "role" | "team_id">, teamId: number): boolean {
  if (can(user, "teams")) return true;
  return user.role === "TEAM_LEAD" && user.team_id === teamId;
}

/**
 * `settings` includes the alert channels and rules; `handle_alerts` is acknowledging, resolving and muting;
 * `view_teams` is the Teams page (where a team lead finds its own team's weekly report), `teams` managing them.
 */
export type Capability =
  | "organizations"
  | "teams"
  | "view_teams"
  | "identities"
  | "users"
  | "api_keys"
  | "audit"
  | "settings"
  | "handle_alerts";

/** Protected routes: a spinner while a reload restores the session, the login page without one. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const state = useSessionState();
  const location = useLocation();
  if (state.status === "restoring") return <LoadingState label="Restoring your session…" />;
  if (state.status === "anonymous") {
    const next = location.pathname + location.search;
    const params = new URLSearchParams();
    if (next !== "/") params.set("next", next);
    if (state.reason === "expired") params.set("expired", "1");
    const qs = params.toString();
    return <Navigate to={`/login${qs ? `?${qs}` : ""}`} replace />;
  }
  return <>{children}</>;
}

/** A page a role may not use is not offered; typed URLs land on a plain explanation. */
export function RequireCapability({ what, children }: { what: Capability; children: ReactNode }) {
  const user = useUser();
  if (!can(user, what)) {
    return (
      <div className="page">
        <div className="empty" role="alert">
          <h2>Not available for your role</h2>
          <p>Ask an administrator of your organization if you need access to this page.</p>
        </div>
      </div>
    );
  }
  return <>{children}</>;
}

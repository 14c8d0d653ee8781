import { Suspense } from "react";
import { useQuery } from "@tanstack/react-query";
import { NavLink, Outlet, useNavigate } from "react-router";
import { LoadingState } from "./States";
import { can, useSession, useUser, type Capability } from "../auth/AuthContext";
import { useLiveUpdates } from "../api/live";
import { queries } from "../api/queries";
import { formatCount, roleLabel } from "../lib/format";

interface NavItem {
  to: string;
  label: string;
  needs?: Capability;
}

const ANALYZE: NavItem[] = [
  { to: "/", label: "Dashboard" },
  { to: "/alerts", label: "Alerts" },
  { to: "/queries", label: "Queries" },
  { to: "/classes", label: "Query classes" },
  { to: "/compare", label: "Compare" },
  { to: "/index-advice", label: "Index advice" },
  { to: "/agents", label: "Agents" },
];

/** The number of open alerts beside the Alerts link (nothing at 0). */
function OpenAlertsBadge() {
  const open = useQuery(queries.alerts.list({ status: "open", per_page: 1 }));
  const n = open.data?.total ?? 0;
  if (n === 0) return null;
  return (
    <>
      <span className="sr-only">, open: {formatCount(n)}</span>
      <span className="nav-badge" data-testid="open-alerts-badge" aria-hidden="true">
        {formatCount(n)}
      </span>
    </>
  );
}

const MANAGE: NavItem[] = [
  { to: "/organizations", label: "Organizations", needs: "organizations" },
  { to: "/teams", label: "Teams", needs: "view_teams" },
  { to: "/identities", label: "Identities", needs: "identities" },
  { to: "/users", label: "Users", needs: "users" },
  { to: "/api-keys", label: "API keys", needs: "api_keys" },
  { to: "/audit", label: "Audit log", needs: "audit" },
  { to: "/settings", label: "Settings", needs: "settings" },
];

export function Layout() {
  const user = useUser();
  const s = useSession();
  const navigate = useNavigate();
  const manage = MANAGE.filter((i) => !i.needs || can(user, i.needs));
  // Alerts and the dashboard follow the server's stream while the panel is open.
  useLiveUpdates();
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Sidebar">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          <span>DBPower</span>
        </div>
        <nav aria-label="Main">
          <ul>
            {ANALYZE.map((i) => (
              <li key={i.to}>
                <NavLink to={i.to} end={i.to === "/"}>
                  {i.label}
                  {i.to === "/alerts" && <OpenAlertsBadge />}
                </NavLink>
              </li>
            ))}
          </ul>
          {manage.length > 0 && (
            <>
              <div className="nav-group">Manage</div>
              <ul>
                {manage.map((i) => (
                  <li key={i.to}>
                    <NavLink to={i.to}>{i.label}</NavLink>
                  </li>
                ))}
              </ul>
            </>
          )}
        </nav>
        <div className="whoami">
          <div className="whoami-name" title={user.email}>
            {user.full_name || user.email}
          </div>
          <div className="muted small">{roleLabel(user.role)}</div>
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={async () => {
              // The cache is emptied as the session ends (`CacheFollowsSession` in App.tsx).
              await s.logout();
              navigate("/login", { replace: true });
            }}
          >
            Log out
          </button>
        </div>
      </aside>
      <main id="main" className="main" tabIndex={-1}>
        <Suspense fallback={<LoadingState />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

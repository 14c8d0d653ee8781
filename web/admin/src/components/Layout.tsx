import { Suspense } from "react";
import { NavLink, Outlet, useNavigate } from "react-router";
import { LoadingState } from "./States";
import { can, useSession, useUser, type Capability } from "../auth/AuthContext";
import { roleLabel } from "../lib/format";

interface NavItem {
  to: string;
  label: string;
  needs?: Capability;
}

const ANALYZE: NavItem[] = [
  { to: "/", label: "Dashboard" },
  { to: "/queries", label: "Queries" },
  { to: "/classes", label: "Query classes" },
  { to: "/agents", label: "Agents" },
];

const MANAGE: NavItem[] = [
  { to: "/organizations", label: "Organizations", needs: "organizations" },
  { to: "/teams", label: "Teams", needs: "teams" },
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

import { useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { useSession, useSessionState } from "../auth/AuthContext";
import { ApiError, describeError } from "../api/errors";

export function Login() {
  const s = useSession();
  const state = useSessionState();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState("");
  // The organization an account belongs to is part of its name (e-mail addresses are unique per
  // organization); the last one used is remembered, and `?organization=` fills it in from a link.
  const [organization, setOrganization] = useState(
    () => params.get("organization") ?? localStorage.getItem(ORGANIZATION_KEY) ?? "",
  );
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get("next"));

  if (state.status === "authenticated") return <Navigate to={next} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!email.trim() || !password) {
      setError("Enter your email and password.");
      return;
    }
    setBusy(true);
    try {
      const org = organization.trim();
      await s.login(email.trim(), password, org);
      if (org) localStorage.setItem(ORGANIZATION_KEY, org);
      else localStorage.removeItem(ORGANIZATION_KEY);
      navigate(next, { replace: true });
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "Wrong email, password or organization, or the account is disabled."
          : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login">
      <form className="login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <div className="brand brand-large">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <span>DBPower</span>
        </div>
        <h1 id="login-title">Log in</h1>
        <p className="muted">Slow-query intelligence for MySQL, MariaDB and PostgreSQL.</p>
        {params.get("expired") && !error && (
          <p className="notice" role="status">
            Your session has expired. Log in again to continue.
          </p>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="field">
          <label htmlFor="email">Email</label>
          <input
            id="email"
            type="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoFocus
          />
        </div>
        <div className="field">
          <label htmlFor="organization">Organization</label>
          <input
            id="organization"
            type="text"
            autoComplete="organization"
            aria-describedby="organization-hint"
            value={organization}
            onChange={(e) => setOrganization(e.target.value)}
          />
          <small id="organization-hint" className="muted">
            Your organization&apos;s name. Leave it empty for a platform administrator account.
          </small>
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </div>
  );
}

const ORGANIZATION_KEY = "dbpower.organization";

/** Only same-origin paths: `?next=//evil.example` must not become an open redirect. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}

import { BrowserRouter, Route, Routes } from "react-router";
import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { lazy, useEffect, useState, type ComponentType, type ReactNode } from "react";
import { RequireAuth, RequireCapability, SessionProvider, useSessionState } from "./auth/AuthContext";
import type { Session } from "./auth/session";
import { ApiError } from "./api/errors";
import { Layout } from "./components/Layout";
import { Login } from "./pages/Login";
import { NotFound } from "./pages/NotFound";

// Each page is its own chunk, loaded on first visit (the charts library only with the pages that chart).
const page = <K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K) =>
  lazy(async () => ({ default: (await load())[name] }));
const Dashboard = page(() => import("./pages/Dashboard"), "Dashboard");
const Queries = page(() => import("./pages/Queries"), "Queries");
const Classes = page(() => import("./pages/Classes"), "Classes");
const Agents = page(() => import("./pages/Agents"), "Agents");
const Organizations = page(() => import("./pages/Organizations"), "Organizations");
const Teams = page(() => import("./pages/Teams"), "Teams");
const Identities = page(() => import("./pages/Identities"), "Identities");
const Users = page(() => import("./pages/Users"), "Users");
const ApiKeys = page(() => import("./pages/ApiKeys"), "ApiKeys");
const Audit = page(() => import("./pages/Audit"), "Audit");
const Settings = page(() => import("./pages/Settings"), "Settings");
const Alerts = page(() => import("./pages/Alerts"), "Alerts");
const Compare = page(() => import("./pages/Compare"), "Compare");
const IndexAdvice = page(() => import("./pages/IndexAdvice"), "IndexAdvice");
const AlertChannels = page(() => import("./pages/AlertChannels"), "AlertChannels");
const AlertRules = page(() => import("./pages/AlertRules"), "AlertRules");

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Retry what may pass (server errors, a network blip); never 4xx answers.
        retry: (count, e) => count < 2 && !(e instanceof ApiError && e.status < 500),
        refetchOnWindowFocus: false,
        staleTime: 10_000,
      },
    },
  });
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Dashboard />} />
        <Route path="alerts" element={<Alerts />} />
        <Route path="queries" element={<Queries />} />
        <Route path="classes" element={<Classes />} />
        <Route path="compare" element={<Compare />} />
        <Route path="index-advice" element={<IndexAdvice />} />
        <Route path="agents" element={<Agents />} />
        <Route path="organizations" element={guard("organizations", <Organizations />)} />
        <Route path="teams" element={guard("view_teams", <Teams />)} />
        <Route path="identities" element={guard("identities", <Identities />)} />
        <Route path="users" element={guard("users", <Users />)} />
        <Route path="api-keys" element={guard("api_keys", <ApiKeys />)} />
        <Route path="audit" element={guard("audit", <Audit />)} />
        <Route path="settings" element={guard("settings", <Settings />)} />
        <Route path="settings/alert-channels" element={guard("settings", <AlertChannels />)} />
        <Route path="settings/alert-rules" element={guard("settings", <AlertRules />)} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function guard(what: Parameters<typeof RequireCapability>[0]["what"], page: ReactNode) {
  return <RequireCapability what={what}>{page}</RequireCapability>;
}

/**
 * Nothing cached outlives the session it was fetched in: when the session ends (logout, or a refresh the
 * server refused) the cache is emptied, so whoever logs in next never sees the previous user's data.
 */
function CacheFollowsSession() {
  const qc = useQueryClient();
  const status = useSessionState().status;
  useEffect(() => {
    if (status === "anonymous") qc.clear();
  }, [status, qc]);
  return null;
}

export function App({ session, client }: { session?: Session; client?: QueryClient }) {
  const [queryClient] = useState(() => client ?? makeQueryClient());
  return (
    <SessionProvider value={session}>
      <QueryClientProvider client={queryClient}>
        <CacheFollowsSession />
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </QueryClientProvider>
    </SessionProvider>
  );
}

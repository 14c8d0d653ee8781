import { BrowserRouter, Route, Routes } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { RequireAuth, RequireCapability, SessionProvider } from "./auth/AuthContext";
import type { Session } from "./auth/session";
import { ApiError } from "./api/errors";
import { Layout } from "./components/Layout";
import { Login } from "./pages/Login";
import { Dashboard } from "./pages/Dashboard";
import { Queries } from "./pages/Queries";
import { Classes } from "./pages/Classes";
import { Agents } from "./pages/Agents";
import { Organizations } from "./pages/Organizations";
import { Teams } from "./pages/Teams";
import { Identities } from "./pages/Identities";
import { Users } from "./pages/Users";
import { ApiKeys } from "./pages/ApiKeys";
import { Audit } from "./pages/Audit";
import { Settings } from "./pages/Settings";
import { NotFound } from "./pages/NotFound";

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
        <Route path="queries" element={<Queries />} />
        <Route path="classes" element={<Classes />} />
        <Route path="agents" element={<Agents />} />
        <Route path="organizations" element={guard("organizations", <Organizations />)} />
        <Route path="teams" element={guard("teams", <Teams />)} />
        <Route path="identities" element={guard("identities", <Identities />)} />
        <Route path="users" element={guard("users", <Users />)} />
        <Route path="api-keys" element={guard("api_keys", <ApiKeys />)} />
        <Route path="audit" element={guard("audit", <Audit />)} />
        <Route path="settings" element={guard("settings", <Settings />)} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function guard(what: Parameters<typeof RequireCapability>[0]["what"], page: ReactNode) {
  return <RequireCapability what={what}>{page}</RequireCapability>;
}

export function App({ session, client }: { session?: Session; client?: QueryClient }) {
  const [queryClient] = useState(() => client ?? makeQueryClient());
  return (
    <SessionProvider value={session}>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </QueryClientProvider>
    </SessionProvider>
  );
}

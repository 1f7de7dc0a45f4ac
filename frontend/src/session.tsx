// The signed-in designer: GET /api/session on load (cookie), sign in (POST), sign out (DELETE). RequireSignIn sends
// anyone without a session to /signin?next=<where they were going>.
import { Center, Loader } from "@mantine/core";
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { Navigate, useLocation } from "react-router-dom";

import { api, cookie, setUnauthorizedHandler, type Account, type SessionInfo } from "./api";

interface SessionState {
  /** undefined while loading, null when nobody is signed in */
  account: Account | null | undefined;
  signIn(name: string, password: string): Promise<Account>;
  signOut(): Promise<void>;
  refresh(): Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const [account, setAccount] = useState<Account | null | undefined>(undefined);

  const refresh = useCallback(async () => {
    try {
      const info = await api<SessionInfo>("GET", "/api/session", undefined, { redirectOn401: false });
      setAccount(info.account);
    } catch {
      setAccount(null); // 401: nobody signed in; anything else: the sign-in page says what the gateway answers
    }
  }, []);

  // A 401 from any call later (the session expired or was revoked): RequireSignIn then sends to /signin.
  useEffect(() => setUnauthorizedHandler(() => setAccount(null)), []);

  useEffect(() => {
    // A participant's page needs no designer session: ask only on designer pages.
    const params = new URLSearchParams(location.search);
    // No pc_csrf cookie: no session either (it comes with one), so no request that can only answer 401.
    if (location.pathname === "/play" || (location.pathname === "/" && params.get("token"))) setAccount(null);
    else if (cookie("pc_csrf") === null) setAccount(null);
    else void refresh();
  }, [refresh]);

  const signIn = useCallback(async (name: string, password: string) => {
    const info = await api<SessionInfo>("POST", "/api/session", { name, password }, { redirectOn401: false });
    setAccount(info.account);
    return info.account;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api<void>("DELETE", "/api/session", undefined, { redirectOn401: false });
    } finally {
      setAccount(null);
    }
  }, []);

  const value = useMemo(() => ({ account, signIn, signOut, refresh }), [account, signIn, signOut, refresh]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}

export function RequireSignIn({ children }: { children: React.ReactNode }) {
  const { account } = useSession();
  const location = useLocation();
  if (account === undefined) {
    return (
      <Center h="60vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (account === null) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  return <>{children}</>;
}

/**
 * Routes. Signed-out pages (sign-in, sign-up) are in the initial bundle; everything else is a
 * lazy chunk, the calendar and the charts especially (FullCalendar and Recharts are large).
 */
import { useQueryClient } from "@tanstack/react-query";
import { lazy, type ReactNode, Suspense, useEffect } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { setUnauthorizedHandler } from "./api/client";
import { Loading } from "./components/ui";
import { SignInPage, SignUpPage } from "./pages/auth";
import { type Me, useMe, WorkspaceProvider } from "./session";

const Shell = lazy(() => import("./pages/shell"));

export function App() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      const here = window.location.pathname + window.location.search;
      if (window.location.pathname.startsWith("/sign-")) return;
      queryClient.setQueryData(["me"], null);
      navigate(`/sign-in?next=${encodeURIComponent(here)}`, { replace: true });
    });
    return () => setUnauthorizedHandler(undefined);
  }, [navigate, queryClient]);

  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route path="/sign-up" element={<SignUpPage />} />
      <Route
        path="/*"
        element={
          <RequireSession>
            {(me) => (
              <WorkspaceProvider me={me}>
                <Suspense fallback={<Loading />}>
                  <Shell />
                </Suspense>
              </WorkspaceProvider>
            )}
          </RequireSession>
        }
      />
    </Routes>
  );
}

function RequireSession({ children }: { children: (me: Me) => ReactNode }) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading what="Opening Herald" />;
  if (me.isError)
    return (
      <main className="centered">
        <p role="alert">Herald could not be reached. Is the server running?</p>
        <button type="button" onClick={() => void me.refetch()}>
          Try again
        </button>
      </main>
    );
  if (!me.data?.user) {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/sign-in" : `/sign-in?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children(me.data)}</>;
}

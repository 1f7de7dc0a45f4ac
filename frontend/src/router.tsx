// The routes. Designer pages sit inside the app shell (header and nav) and need a signed-in designer; the player,
// the labelling page (a participant's pages) and the sign-in page stand alone.
import { Navigate, createBrowserRouter, useSearchParams } from "react-router-dom";

import { AppLayout } from "./components/AppLayout";
import { CampaignDashboard } from "./views/campaign/CampaignDashboard";
import { CampaignPage } from "./views/campaign/CampaignPage";
import { RequireSignIn } from "./session";
import { EpisodesPage } from "./views/episodes/EpisodesPage";
import { LabelPage } from "./views/label/LabelPage";
import { LivePage } from "./views/live/LivePage";
import { NotFoundPage } from "./views/NotFoundPage";
import { PlayerPage } from "./views/player/PlayerPage";
import { ReplayPage } from "./views/replay/ReplayPage";
import { SignInPage } from "./views/SignInPage";
import { StudiesPage } from "./views/studies/StudiesPage";
import { StudyPage } from "./views/studies/StudyPage";

/** `/`: a participant link (`/?token=...`) opens the player; otherwise the designer's studies. */
function Home() {
  const [params] = useSearchParams();
  if (params.get("token")) return <PlayerPage />;
  return (
    <RequireSignIn>
      <AppLayout>
        <StudiesPage />
      </AppLayout>
    </RequireSignIn>
  );
}

function Designer({ children }: { children: React.ReactNode }) {
  return (
    <RequireSignIn>
      <AppLayout>{children}</AppLayout>
    </RequireSignIn>
  );
}

export const router = createBrowserRouter([
  { path: "/", element: <Home /> },
  { path: "/signin", element: <SignInPage /> },
  { path: "/play", element: <PlayerPage /> },
  { path: "/c/:campaignId", element: <CampaignPage /> },
  { path: "/label/:experimentId", element: <LabelPage /> },
  { path: "/studies", element: <Navigate to="/" replace /> },
  { path: "/studies/new", element: <Designer><StudyPage /></Designer> },
  { path: "/studies/:id", element: <Designer><StudyPage /></Designer> },
  { path: "/studies/:id/episodes", element: <Designer><EpisodesPage /></Designer> },
  { path: "/episodes/:id", element: <Designer><ReplayPage /></Designer> },
  { path: "/campaigns/:id", element: <Designer><CampaignDashboard /></Designer> },
  { path: "/live/:sessionId", element: <Designer><LivePage /></Designer> },
  { path: "*", element: <Designer><NotFoundPage /></Designer> },
]);

// Sets the browser tab's title for a view ("Studies · Playcorder").
import { useEffect } from "react";

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Playcorder` : "Playcorder";
  }, [title]);
}

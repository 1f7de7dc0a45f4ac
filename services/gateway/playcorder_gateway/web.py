"""The web app and the API docs, served without internet: `/docs` (Swagger UI) and `/redoc` (ReDoc) load their
scripts from the built web app's `vendor/` folder (frontend/vite.config.ts copies them there), and every other GET
outside the API that names no file of the app is answered with its `index.html`, so that the app's own routes
(`/studies/...`, `/episodes/...`, `/live/...`) load on a reload or from a link. Its pages and the docs carry a
Content-Security-Policy each (security_headers.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .security_headers import APP_CSP, campaign_csp, docs_csp, label_csp

SWAGGER_JS = "/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/vendor/swagger-ui/swagger-ui.css"
SWAGGER_ICON = "/vendor/swagger-ui/favicon-32x32.png"
REDOC_JS = "/vendor/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Paths the gateway itself answers: an unknown one there is a 404 of the API, never the web app.
NOT_THE_APP = ("/api/", "/ws/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics")
# Built files: a missing one is a 404 (an HTML page in place of a script only hides the error).
FILES_ONLY = ("/assets/", "/vendor/")


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode())
    return page


def install_docs(app: FastAPI) -> None:
    """`/docs` and `/redoc` with local assets (create the app with docs_url=None, redoc_url=None), each with a
    Content-Security-Policy allowing its inline scripts by hash."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_csp(get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} — API docs",
                                             swagger_js_url=SWAGGER_JS, swagger_css_url=SWAGGER_CSS,
                                             swagger_favicon_url=SWAGGER_ICON, oauth2_redirect_url=OAUTH2_REDIRECT))

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_csp(get_redoc_html(openapi_url=openapi_url, title=f"{app.title} — ReDoc", redoc_js_url=REDOC_JS,
                                        redoc_favicon_url=SWAGGER_ICON, with_google_fonts=False))


class SinglePageApp(StaticFiles):
    """The built app's files; `index.html` for any other GET of a page path (the app's router takes it from there).
    Hashed build assets may be cached for good; index.html is revalidated so that a new build is seen at once."""

    def __init__(self, directory: Path, media_origin: str) -> None:
        super().__init__(directory=directory, html=True, check_dir=True)
        self.index = Path(directory) / "index.html"
        self.label_csp = label_csp(media_origin)
        self.campaign_csp = campaign_csp(media_origin)

    async def get_response(self, path: str, scope: Scope) -> Response:
        url_path = "/" + path.lstrip("/")
        if url_path.startswith(NOT_THE_APP) or url_path in ("/api", "/ws"):
            raise HTTPException(status_code=404)  # whatever the method: no such route of the API
        try:
            response = await super().get_response(path, scope)
        except HTTPException as e:
            if e.status_code != 404 or not self._is_page(url_path, scope) or not self.index.is_file():
                raise
            response = FileResponse(self.index, media_type="text/html")
        if url_path.startswith("/assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        elif response.media_type == "text/html" or url_path.endswith(".html") or url_path == "/":
            response.headers["Cache-Control"] = "no-cache"
            if url_path.startswith("/c/"):  # a campaign's page: MTurk frames it (frame-ancestors overrides XFO)
                response.headers["Content-Security-Policy"] = self.campaign_csp
                response.headers["X-Frame-Options"] = "SAMEORIGIN"
            elif url_path.startswith("/label/"):  # the labelling page plays clips from the object store
                response.headers["Content-Security-Policy"] = self.label_csp
            else:
                response.headers["Content-Security-Policy"] = APP_CSP
        return response

    @staticmethod
    def _is_page(url_path: str, scope: Scope) -> bool:
        return scope["method"] in ("GET", "HEAD") and not url_path.startswith(FILES_ONLY)


def install_app(app: FastAPI, directory: Path, media_origin: str) -> None:
    """Serve the built web app at / (last: every route of the API wins over it); `media_origin` is where presigned
    links to clips point (the object store, as browsers reach it)."""
    app.mount("/", SinglePageApp(directory, media_origin), name="frontend")

"""``/docs``: Swagger UI for the API, served from the gateway itself (its script and styles come from the
``fastapi-swagger`` package), so the page works on a machine with no internet, as the office's often is."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` and its assets under ``/docs/assets`` (FastAPI's own ``/docs`` is turned off
    with ``docs_url=None``: it loads them from a CDN)."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_swagger") / "resources")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API documentation",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

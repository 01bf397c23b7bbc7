"""The web UI: Jinja2 pages, a cookie session, and uPlot charts bundled by esbuild."""

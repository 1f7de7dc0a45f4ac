// Builds the web app into dist/ (the gateway serves it with an SPA fallback) and copies the Swagger UI and ReDoc
// bundles into dist/vendor/ so /docs and /redoc work without internet. `npm run dev` proxies the API to a gateway
// (PLAYCORDER_URL, default http://127.0.0.1:8000).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { viteStaticCopy } from "vite-plugin-static-copy";

const gateway = process.env.PLAYCORDER_URL ?? "http://127.0.0.1:8000";
const REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E";

export default defineConfig({
  plugins: [
    react(),
    viteStaticCopy({
      targets: [
        { src: "node_modules/swagger-ui-dist/swagger-ui-bundle.js", dest: "vendor/swagger-ui" },
        { src: "node_modules/swagger-ui-dist/swagger-ui.css", dest: "vendor/swagger-ui" },
        { src: "node_modules/swagger-ui-dist/favicon-32x32.png", dest: "vendor/swagger-ui" },
        // ReDoc's sidebar loads its logo from cdn.redoc.ly: an empty local image instead (no request leaves)
        { src: "node_modules/redoc/bundles/redoc.standalone.js", dest: "vendor/redoc",
          transform: (content) => content.replaceAll(REDOC_LOGO, EMPTY_SVG) },
      ],
    }),
  ],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: {
      "/api": gateway,
      "/ws": { target: gateway.replace(/^http/, "ws"), ws: true },
      "/docs": gateway,
      "/redoc": gateway,
      "/openapi.json": gateway,
      "/healthz": gateway,
    },
  },
});

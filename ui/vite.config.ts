import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The npm scripts pass `ui` as Vite's root (`vite ui`), which is also how Vite finds this file;
// paths below are relative to ui/.
// Tauri loads the dev server from tauri.conf.json's devUrl, so the port must not drift.
export default defineConfig({
  clearScreen: false,
  plugins: [svelte()],
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**", "**/target/**", "**/crates/**"] },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Tauri's webview on Linux is WebKitGTK 2.4x; es2022 and safari16 are safe floors.
    target: ["es2022", "safari16"],
  },
});

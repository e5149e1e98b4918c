import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Builds the fake backend into one classic script that Playwright injects before the app's own
// scripts (`page.addInitScript`). Output goes outside the repository's tracked files.
const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  logLevel: "warn",
  build: {
    // BATON_UI_TESTS_OUT: another place, for worktrees that share one node_modules.
    outDir:
      process.env.BATON_UI_TESTS_OUT ||
      fileURLToPath(new URL("../../../node_modules/.cache/baton-ui-tests", import.meta.url)),
    emptyOutDir: true,
    minify: false,
    target: "es2022",
    lib: {
      entry: "backend.ts",
      formats: ["iife"],
      name: "BatonFakeBackend",
      fileName: () => "fake-backend.js",
    },
  },
});

import { getVersion } from "@tauri-apps/api/app";
import { isTauri } from "@tauri-apps/api/core";
import "./style.css";

// Shows the app version as a first round trip over IPC. Outside Tauri (plain `npm run ui:dev`
// in a browser) there is no IPC, so the line stays hidden.
async function showVersion(): Promise<void> {
  const line = document.getElementById("version");
  if (!line || !isTauri()) return;
  try {
    line.textContent = `Version ${await getVersion()}`;
    line.hidden = false;
  } catch (error) {
    console.error("could not read the app version", error);
  }
}

void showVersion();

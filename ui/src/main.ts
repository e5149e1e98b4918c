import { mount } from "svelte";
import App from "./App.svelte";
import "./style.css";

const target = document.getElementById("app");
if (!target) throw new Error("index.html has no #app element");
performance.mark("baton:script");
mount(App, { target });

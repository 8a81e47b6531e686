/** The console page: a header with navigation and connection state, and the view the hash names. */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { AlertsView } from "./AlertsView.js";
import { EventsView } from "./EventsView.js";
import { useRoute, useStore } from "./hooks.js";
import { ServicesView } from "./ServicesView.js";
import { ServiceView } from "./ServiceView.js";
import { store } from "./store.js";

function Login() {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  return (
    <form
      class="login card"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!(await store.login(token))) setError("That token was not accepted.");
      }}
    >
      <h1>Sign in</h1>
      <label for="token">Bearer token</label>
      <input id="token" type="password" autoComplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} required />
      <button type="submit">Sign in</button>
      {error ? <p role="alert" class="err">{error}</p> : null}
    </form>
  );
}

function App() {
  useStore();
  const route = useRoute();
  const m = /^\/service\/(.+)$/.exec(route);
  const service = m ? m[1] : undefined;
  useEffect(() => store.connect(service), [service]);
  const firing = [...store.alerts.values()].filter((a) => a.status === "firing").length;
  const tab = m ? "services" : route.replace(/^\//, "");
  const link = (name: string, label: string, extra?: preact.ComponentChildren) => (
    <a href={`#/${name}`} aria-current={tab === name ? "page" : undefined}>
      {label}
      {extra}
    </a>
  );
  let view;
  if (store.connection === "unauthorized") view = <Login />;
  else if (service) view = <ServiceView service={service} />;
  else if (route === "/alerts") view = <AlertsView />;
  else if (route === "/events") view = <EventsView />;
  else view = <ServicesView />;
  const conn = store.connection;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">Switchboard</span>
        <nav aria-label="views">
          {link("services", "Services")}
          {link("alerts", "Alerts", firing ? <span class="badge s-firing" aria-label={`${firing} firing`}>{firing}</span> : null)}
          {link("events", "Events")}
        </nav>
        <span class={`conn ${conn}`} role="status" aria-live="polite">
          {conn === "live" ? "● live" : conn === "reconnecting" ? "reconnecting…" : conn === "unauthorized" ? "sign-in needed" : "connecting…"}
        </span>
        <span class="meta">
          {store.prefix ? `prefix ${store.prefix}` : ""}
          {store.registry ? ` · registry rev ${store.registry.revision}${store.registry.synced ? "" : " (no coordinator)"}` : ""}
          {store.collector && !store.collector.ok ? " · no collector" : ""}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
(window as unknown as { __sbStore: typeof store }).__sbStore = store;

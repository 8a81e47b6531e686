/** Hooks tying views to the store and the location hash. */
import { useEffect, useState } from "preact/hooks";
import { store } from "./store.js";

/** Re-renders the component whenever the store changed (at most once per frame). */
export function useStore(): number {
  const [version, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), []);
  return version;
}

/** The current hash route, e.g. `/service/echo` for `#/service/echo`. */
export function useRoute(): string {
  const read = () => decodeURIComponent(location.hash.replace(/^#/, "")) || "/services";
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** The current time, refreshed every second (ages and "last heartbeat" count up without data). */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

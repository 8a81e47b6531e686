/**
 * A list that renders only the rows in view (plus a few), so 10,000 rows cost as much as 30.
 * Rows have a fixed height and are keyed by position, so an update reuses the row elements in view
 * and only changes their text (new events arriving at the top cost no DOM churn). Arrow keys, Home/End and PageUp/PageDown move the focused row (a
 * roving tabindex); Enter on a row calls `onOpen`.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

interface Props<T> {
  items: readonly T[];
  rowHeight: number;
  /** Accessible name of the list. */
  label: string;
  /** Header row (rendered above the scrolling area, with role="row"). */
  header: ComponentChildren;
  row: (item: T, index: number) => ComponentChildren;
  rowClass?: (item: T) => string;
  onOpen?: (item: T) => void;
  /** Height of the scrolling area (CSS), default fills the view. */
  height?: string;
  empty?: ComponentChildren;
}

const OVERSCAN = 8;

export function VirtualList<T>(p: Props<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [focused, setFocused] = useState(0);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => setViewport(el.clientHeight || 600);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const n = p.items.length;
  const first = Math.max(0, Math.floor(scrollTop / p.rowHeight) - OVERSCAN);
  const last = Math.min(n, Math.ceil((scrollTop + viewport) / p.rowHeight) + OVERSCAN);
  const focusIndex = Math.min(focused, Math.max(0, n - 1));

  const moveTo = (i: number) => {
    const el = scroller.current;
    if (!el || n === 0) return;
    const target = Math.max(0, Math.min(n - 1, i));
    setFocused(target);
    const top = target * p.rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + p.rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + p.rowHeight - el.clientHeight;
    requestAnimationFrame(() => el.querySelector<HTMLElement>(`[data-index="${target}"]`)?.focus());
  };

  const onKey = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(viewport / p.rowHeight) - 1);
    const keys: Record<string, number> = { ArrowDown: focusIndex + 1, ArrowUp: focusIndex - 1, Home: 0, End: n - 1, PageDown: focusIndex + page, PageUp: focusIndex - page };
    const next = keys[e.key];
    if (next !== undefined) {
      e.preventDefault();
      moveTo(next);
    } else if (e.key === "Enter" && p.onOpen && p.items[focusIndex] !== undefined) {
      e.preventDefault();
      p.onOpen(p.items[focusIndex]!);
    }
  };

  const rows = [];
  for (let i = first; i < last; i++) {
    const item = p.items[i]!;
    rows.push(
      <div
        role="row"
        key={i}
        data-index={i}
        aria-rowindex={i + 2}
        tabIndex={i === focusIndex ? 0 : -1}
        class={`vrow ${p.rowClass ? p.rowClass(item) : ""}`}
        style={{ transform: `translateY(${i * p.rowHeight}px)`, height: `${p.rowHeight}px` }}
        onFocus={() => setFocused(i)}
        onClick={() => setFocused(i)}
        onDblClick={() => p.onOpen?.(item)}
      >
        {p.row(item, i)}
      </div>,
    );
  }

  return (
    <div role="table" aria-label={p.label} aria-rowcount={n + 1} class="vtable">
      <div role="rowgroup" class="vhead">
        <div role="row" aria-rowindex={1} class="vrow head">
          {p.header}
        </div>
      </div>
      <div
        ref={scroller}
        role="rowgroup"
        class="vbody"
        style={{ height: p.height ?? "calc(100vh - 190px)" }}
        onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}
        onKeyDown={onKey}
      >
        {n === 0 ? <p class="empty">{p.empty ?? "Nothing to show."}</p> : null}
        <div style={{ height: `${n * p.rowHeight}px`, position: "relative" }}>{rows}</div>
      </div>
    </div>
  );
}

/**
 * The one event mechanism of every component (client, registry cache, coordinator, collector, notifier),
 * cockatiel style: `component.onRetry(listener)` subscribes and returns a handle whose `dispose()`
 * unsubscribes. Listener exceptions are caught (and reported to the emitter's owner), so an observer can
 * never break a call, a registry update or a mail delivery.
 */

/** Returned by an event subscription; `dispose()` removes the listener. */
export interface Disposable {
  dispose(): void;
}

/** Subscribes a listener to an event. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/** Holds the listeners of one event and fires it. */
export class EventEmitter<T> {
  private listeners: Array<(value: T) => void> = [];

  /** Called with the error when a listener throws; default: ignore. */
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** The subscribe function to expose publicly. */
  readonly event: Event<T> = (listener) => {
    // Copy on write: firing iterates a snapshot, so a listener may unsubscribe while firing.
    this.listeners = [...this.listeners, listener];
    return {
      dispose: () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  /** True when at least one listener is subscribed (lets callers skip building the event value). */
  get hasListeners(): boolean {
    return this.listeners.length > 0;
  }

  /** Removes every listener (the owner stopped: nothing will fire again). */
  clear(): void {
    this.listeners = [];
  }

  /** Calls every listener with `value`. */
  fire(value: T): void {
    for (const l of this.listeners) {
      try {
        l(value);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

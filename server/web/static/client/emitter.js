/** A small typed event emitter: `on()` returns the function that unsubscribes. */
export class Emitter {
    #handlers = new Map();
    /** Call `handler` with every `event` from now on; returns the function that stops it. */
    on(event, handler) {
        let handlers = this.#handlers.get(event);
        if (handlers === undefined) {
            handlers = new Set();
            this.#handlers.set(event, handlers);
        }
        handlers.add(handler);
        return () => void handlers.delete(handler);
    }
    /** Call every handler of `event`. A handler that throws is reported, like an event listener, and the others still run. */
    emit(event, payload) {
        for (const handler of this.#handlers.get(event) ?? []) {
            try {
                handler(payload);
            }
            catch (error) {
                queueMicrotask(() => {
                    throw error;
                });
            }
        }
    }
}

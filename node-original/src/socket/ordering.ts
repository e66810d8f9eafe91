// Replies in request order. socket.io calls a socket's listeners in arrival order, but an async
// listener answers after its awaits, so a later event could answer first: a refusal by the rate
// limiter, or a quick handler, overtaking a database read. Whether it did depended on how the
// client's packets happened to be split into TCP reads, so the same requests got their answers
// in different orders from run to run. Each socket's work runs one piece after another instead,
// as on the Rust server (server/src/handlers/ordering.rs).
import type { Socket } from 'socket.io';
import { logger } from '../utils/logger';

/** Wraps a listener so that it starts only once the socket's earlier work has finished. */
export type InOrder = <A extends unknown[]>(work: (...args: A) => unknown) => (...args: A) => void;

export function inOrderFor(socket: Socket): InOrder {
  let tail: Promise<unknown> = Promise.resolve();
  return (work) =>
    (...args) => {
      tail = tail
        .then(() => work(...args))
        .catch((error: unknown) => {
          // Handlers answer their own errors; this only keeps one failure from stopping the queue.
          logger.error('event handler failed', { socketId: socket.id, error: (error as Error).message });
        });
    };
}

// A socket's events handled one after another, in arrival order, as on the Rust server
// (docs/compatibility.md, rows 1 and 2). With an asynchronous database (pg) two handlers of one
// socket would otherwise run at once and their replies could overtake each other. Packet
// middleware runs synchronously as each packet arrives, so that is where events take their turn.
import type { Event, Socket } from 'socket.io';
import { logger } from '../utils/logger';

export type Handler = (...args: unknown[]) => void | Promise<void>;

export interface Sequencer {
  /** Registers `handler` for `event`; it runs after every earlier event of the socket. */
  on(event: string, handler: Handler): void;
  /** Runs `task` after every event received so far has been handled. */
  after(task: () => void | Promise<void>): void;
  /** Packet middleware that queues the registered events (install with `socket.use`). */
  dispatch(packet: Event, next: (err?: Error) => void): void;
}

export function sequencer(socket: Socket): Sequencer {
  const handlers = new Map<string, Handler>();
  let turn: Promise<void> = Promise.resolve();
  const after = (task: () => void | Promise<void>): void => {
    turn = turn.then(task).catch((error: unknown) => {
      logger.error('event handler failed', { socketId: socket.id, error: (error as Error).message });
    });
  };
  return {
    on: (event, handler) => {
      handlers.set(event, handler);
    },
    after,
    dispatch: ([event, ...args], next) => {
      const handler = handlers.get(event);
      if (!handler) return next();
      after(() => handler(...args));
    },
  };
}

// Seed section 8: the browser client, as written there, with the URL passed in (the seed read
// it from NEXT_PUBLIC_API_URL) so tests can point it at either server. Added for the dashboard
// page (page/), which is built from this file: `active` and the two reconnection hooks, since the
// seed's class gave a page no way to tell a refused token from a lost connection, nor to show
// reconnection progress (socket.io-client reports that on the Manager, not the socket).
import { io, Socket } from 'socket.io-client';

export class SocketClient {
  private socket: Socket | null = null;

  constructor(private readonly url: string = process.env.NEXT_PUBLIC_API_URL || 'http://localhost:4000') {}

  connect(token: string): void {
    if (this.socket?.connected) return;

    this.socket = io(this.url, {
      auth: { token },
      transports: ['websocket', 'polling'],
      reconnection: true,
      reconnectionAttempts: 5,
      reconnectionDelay: 1000,
    });

    this.setupEventHandlers();
  }

  private setupEventHandlers(): void {
    if (!this.socket) return;

    this.socket.on('connect', () => {
      console.log('Socket connected');
      this.socket?.emit('subscribe:status');
      this.socket?.emit('subscribe:notifications');
    });

    this.socket.on('disconnect', (reason) => {
      console.log('Socket disconnected:', reason);
    });

    this.socket.on('error', (error) => {
      console.error('Socket error:', error);
    });
  }

  disconnect(): void {
    this.socket?.disconnect();
    this.socket = null;
  }

  on(event: string, handler: (...args: any[]) => void): void {
    this.socket?.on(event, handler);
  }

  emit(event: string, ...args: any[]): void {
    this.socket?.emit(event, ...args);
  }

  /** False once the server refused the handshake (socket.io-client never retries a refusal). */
  get active(): boolean {
    return this.socket?.active ?? false;
  }

  /** Called before each reconnection attempt, with its number (1, 2, ...). */
  onReconnectAttempt(handler: (attempt: number) => void): void {
    this.socket?.io.on('reconnect_attempt', handler);
  }

  /** Called when the last reconnection attempt has failed and the client gives up. */
  onReconnectFailed(handler: () => void): void {
    this.socket?.io.on('reconnect_failed', handler);
  }
}

export const socketClient = new SocketClient();

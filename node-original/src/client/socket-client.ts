// Seed section 8: the browser client, as written there, with the URL passed in (the seed read
// it from NEXT_PUBLIC_API_URL) so tests can point it at either server.
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
}

export const socketClient = new SocketClient();

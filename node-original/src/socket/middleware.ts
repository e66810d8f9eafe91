// Seed section 2: the handshake. Token from auth.token, else `Authorization: Bearer`.
import type { Socket } from 'socket.io';
import type { ExtendedError } from 'socket.io/dist/namespace';
import jwt from 'jsonwebtoken';
import type { KeyObject } from 'crypto';
import type { UserService } from '../services/user.service';
import { DatabaseUnavailableError, type DatabaseAvailability } from '../db/availability';
import { logger } from '../utils/logger';
import { metrics } from '../http/metrics';

export interface SocketUser {
  id: string;
  role: 'admin' | 'user';
  email: string;
}

interface Claims {
  userId: string;
}

/**
 * Verifies an HS256 token with a required `exp` (and `nbf`, checked by jsonwebtoken); returns
 * its `userId`, or throws. Also refuses what jsonwebtoken lets through: a `crit` header and an
 * `iat` in the future or not a number (the Rust port refuses the same, `auth.rs`).
 */
export function verifyToken(token: string, secret: KeyObject): string {
  const { header, payload: decoded } = jwt.verify(token, secret, { algorithms: ['HS256'], complete: true });
  // RFC 7515 4.1.11: extensions listed in `crit` must be understood or the token refused; we
  // understand none.
  if ((header as jwt.JwtHeader & { crit?: unknown }).crit !== undefined) {
    throw new Error('token has critical header extensions');
  }
  if (typeof decoded !== 'object' || typeof decoded.exp !== 'number') {
    throw new Error('token has no expiry');
  }
  if (decoded.iat !== undefined && (typeof decoded.iat !== 'number' || decoded.iat > Date.now() / 1000)) {
    throw new Error('token issued in the future');
  }
  const { userId } = decoded as jwt.JwtPayload & Partial<Claims>;
  if (typeof userId !== 'string') {
    throw new Error('token names no user');
  }
  return userId;
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header?.startsWith('Bearer ')) return undefined;
  return header.slice('Bearer '.length).trim() || undefined;
}

export type AuthOutcome =
  | { ok: true; user: SocketUser }
  | {
      ok: false;
      message:
        | 'Authentication required'
        | 'Authentication failed'
        | 'User not found or inactive'
        | 'Service temporarily unavailable';
    };

/** The whole check, shared by the handshake and the HTTP API. */
export async function authenticate(token: unknown, secret: KeyObject, users: UserService): Promise<AuthOutcome> {
  if (typeof token !== 'string' || token === '') {
    return { ok: false, message: 'Authentication required' };
  }
  let userId: string;
  try {
    userId = verifyToken(token, secret);
  } catch {
    return { ok: false, message: 'Authentication failed' };
  }
  try {
    const user = await users.findById(userId);
    if (!user || user.status !== 'active') {
      return { ok: false, message: 'User not found or inactive' };
    }
    return { ok: true, user: { id: user.id, role: user.role, email: user.email } };
  } catch (error) {
    // A known outage is logged once by the availability probe, not per handshake.
    if (!(error instanceof DatabaseUnavailableError)) {
      logger.error('user lookup failed during authentication', { error: (error as Error).message });
    }
    // The database is unreachable: the client learns only that it may try again later.
    return { ok: false, message: 'Service temporarily unavailable' };
  }
}

/**
 * The handshake. `connect_error` only for final answers (no token, a bad token, an unknown or
 * inactive user): the official client never retries one. A lookup that fails because the
 * database does not answer is held until the database answers again and then tried again; if
 * `holdMs` (the connect timeout) passes first, the transport is closed, which the client
 * retries with its back-off. (While the database is known to be down, new sessions do not get
 * this far: the Engine.IO gate answers them 503.) The Rust server does the same (handlers/mod.rs).
 */
export function authenticateSocket(secret: KeyObject, users: UserService, database: DatabaseAvailability, holdMs: number) {
  return async (socket: Socket, next: (err?: ExtendedError) => void): Promise<void> => {
    const fromAuth = socket.handshake.auth?.token;
    const token =
      typeof fromAuth === 'string' && fromAuth !== '' ? fromAuth : bearerToken(socket.handshake.headers.authorization);
    const deadline = Date.now() + holdMs;
    const transportClosed = new AbortController();
    socket.conn.once('close', () => transportClosed.abort());
    let attempt = Date.now();
    let outcome = await authenticate(token, secret, users);
    while (!outcome.ok && outcome.message === 'Service temporarily unavailable') {
      if (!(await database.answeredSince(attempt, deadline, transportClosed.signal))) {
        // Never a connect_error here: the client would take it as final.
        socket.conn.close();
        return;
      }
      attempt = Date.now();
      outcome = await authenticate(token, secret, users);
    }
    if (!outcome.ok) {
      metrics.handshakeRefused(outcome.message);
      logger.warn('socket authentication refused', { socketId: socket.id, reason: outcome.message });
      return next(new Error(outcome.message));
    }
    socket.data.user = outcome.user;
    metrics.handshakeAccepted();
    next();
  };
}

// The HTTP API other backend code uses to reach the socket service (docs/protocol.md).
import express, { type NextFunction, type Request, type Response } from 'express';
import cors from 'cors';
import type { KeyObject } from 'crypto';
import { authenticate, bearerToken, type SocketUser } from '../socket/middleware';
import type { Services } from '../services';
import { socketService } from '../services/socket.service';
import { SERVICE_STATES } from '../services/status.service';
import { servePage } from './page';
import { healthRoutes, type AdapterReporter } from './health';
import { metricsRoute } from './metrics';
import { DatabaseUnavailableError } from '../db/availability';

const MAX_TITLE_LEN = 200;
const MAX_MESSAGE_LEN = 4000;
const MAX_SHORT_FIELD_LEN = 64;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function requiredText(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string') throw new ApiError(400, `${field} must be a string`);
  const trimmed = value.trim();
  if (trimmed === '') throw new ApiError(400, `${field} must not be empty`);
  if ([...trimmed].length > max) throw new ApiError(400, `${field} must be at most ${max} characters`);
  return trimmed;
}

function onlyFields(body: unknown, allowed: string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'body must be a JSON object');
  }
  const unknown = Object.keys(body).find((key) => !allowed.includes(key));
  if (unknown) throw new ApiError(400, `unknown field ${unknown}`);
  return body as Record<string, unknown>;
}

type Handler = (req: Request, res: Response, user: SocketUser) => Promise<void>;

export function createApp(
  services: Services,
  secret: KeyObject,
  frontendUrl: string,
  adapter: AdapterReporter | null = null,
  metricsToken: string | null = null,
) {
  const app = express();
  app.disable('x-powered-by');
  app.use(cors({ origin: frontendUrl, credentials: true }));
  app.use(express.json({ limit: '64kb' }));

  const authed = (handler: Handler, adminOnly = false) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const outcome = await authenticate(bearerToken(req.headers.authorization), secret, services.users);
      if (!outcome.ok) {
        throw new ApiError(outcome.message === 'Service temporarily unavailable' ? 503 : 401, outcome.message);
      }
      if (adminOnly && outcome.user.role !== 'admin') throw new ApiError(403, 'Admin role required');
      await handler(req, res, outcome.user);
    } catch (error) {
      next(error);
    }
  };

  healthRoutes(app, services.database, adapter);
  metricsRoute(app, metricsToken, {
    io: () => socketService.server(),
    database: services.database,
    pool: services.poolUse,
    adapter,
  });

  servePage(app);

  app.get(
    '/api/v1/me',
    authed(async (_req, res, user) => {
      res.json(user);
    }),
  );

  app.post(
    '/api/v1/notifications',
    authed(async (req, res) => {
      const body = onlyFields(req.body, ['userId', 'title', 'message', 'type']);
      const userId = requiredText('userId', body.userId, MAX_SHORT_FIELD_LEN);
      const title = requiredText('title', body.title, MAX_TITLE_LEN);
      const message = requiredText('message', body.message, MAX_MESSAGE_LEN);
      const type = body.type === undefined ? 'info' : requiredText('type', body.type, MAX_SHORT_FIELD_LEN);
      if (!(await services.users.findById(userId))) throw new ApiError(404, 'User not found');
      const notification = await services.notifications.create({ userId, title, message, type });
      socketService.sendNotification(userId, notification);
      res.status(201).json(notification);
    }, true),
  );

  app.get(
    '/api/v1/notifications',
    authed(async (_req, res, user) => {
      res.json(await services.notifications.listFor(user.id));
    }),
  );

  app.put(
    '/api/v1/status/:service',
    authed(async (req, res) => {
      const body = onlyFields(req.body, ['status', 'responseTime', 'uptime']);
      const service = requiredText('service', req.params.service, MAX_SHORT_FIELD_LEN);
      const status = requiredText('status', body.status, MAX_SHORT_FIELD_LEN);
      if (!(SERVICE_STATES as readonly string[]).includes(status)) {
        throw new ApiError(400, `status must be one of ${SERVICE_STATES.join(', ')}`);
      }
      // A field left out keeps its stored value; `null` clears it.
      const { responseTime, uptime } = body;
      if (responseTime != null && (!Number.isInteger(responseTime) || (responseTime as number) < 0)) {
        throw new ApiError(400, 'responseTime must not be negative');
      }
      if (uptime != null && (typeof uptime !== 'number' || uptime < 0 || uptime > 100)) {
        throw new ApiError(400, 'uptime must be between 0 and 100');
      }
      const stored = await services.status.record(service, {
        status,
        responseTime: responseTime as number | null | undefined,
        uptime: uptime as number | null | undefined,
      });
      socketService.broadcastStatusUpdate(stored.service, stored.status);
      res.json(stored);
    }, true),
  );

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof ApiError) {
      res.status(error.status).json({ error: error.message });
      return;
    }
    // The database is known to be down (the probe logged it once): 503 at once, as on the Rust server.
    if (error instanceof DatabaseUnavailableError) {
      res.status(503).json({ error: 'Service temporarily unavailable' });
      return;
    }
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 413) {
      res.status(status).json({ error: (error as Error).message });
      return;
    }
    res.status(500).json({ error: 'Internal server error' });
  });

  return app;
}

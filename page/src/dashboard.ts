// The dashboard's entry point: signs in with a token, connects through the seed's SocketClient,
// and keeps the page in step with the server: statuses from `status:current` and
// `service:status`, notifications from the HTTP API and `notification:new`, the connection's
// state from the client's events. Built into dist/dashboard.js by build.mjs.
import { SocketClient } from '../../node-original/src/client/socket-client';
import type { Account, EventError, Notification, ReadError, ServiceStatus, StatusChange } from './protocol';
import { forgetToken, storedToken, storeToken, takeTokenFromFragment } from './session';
import * as view from './view';

/** How often relative times ("2 minutes ago") are rewritten. */
const RELATIVE_TIME_REFRESH_MS = 15_000;

const client = new SocketClient(location.origin);
const services = new Map<string, ServiceStatus>();
const notifications = new Map<string, Notification>();
const pendingReads = new Set<string>();
let token: string | null = null;
/**
 * `service:status` carries no measurements, so after one the page asks for `status:current`
 * again, with at most one request in flight: changes that arrive meanwhile ask once more when it
 * is answered, so a burst of changes costs two requests, not one each.
 */
let measurements: 'current' | 'requested' | 'requested-again' = 'current';

/** A refused request of the HTTP API, with the server's message. */
class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(path: string, bearer: string): Promise<T> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${bearer}` }, cache: 'no-store' });
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (body as { error?: unknown } | null)?.error;
    throw new ApiRefusal(response.status, typeof message === 'string' ? message : response.statusText);
  }
  return body as T;
}

function drawNotifications(): void {
  view.renderNotifications(notifications.values(), pendingReads, markRead);
}

function markRead(id: string): void {
  pendingReads.add(id);
  client.emit('notification:read', id);
  drawNotifications();
}

function signIn(newToken: string): void {
  client.disconnect();
  token = newToken;
  storeToken(newToken);
  services.clear();
  notifications.clear();
  pendingReads.clear();
  measurements = 'current';
  view.renderServices([]);
  drawNotifications();
  view.showStatusNote('');
  view.showAlert('');
  view.showDashboard();
  view.showConnection({ state: 'connecting' });
  client.connect(newToken);
  listen(newToken);
}

function signOut(reason: string, signInError = ''): void {
  client.disconnect();
  token = null;
  forgetToken();
  view.showSignIn(signInError);
  view.showConnection({ state: 'offline', reason, canRetry: false });
}

/** Who the token is, and the notifications stored while the page was away; on every (re)connect. */
async function loadAccount(bearer: string): Promise<void> {
  try {
    const [account, stored] = await Promise.all([
      api<Account>('/api/v1/me', bearer),
      api<Notification[]>('/api/v1/notifications', bearer),
    ]);
    if (token !== bearer) return;
    view.showAccount(account);
    // Merged, not replaced: a `notification:new` may have arrived after this list was read.
    for (const notification of stored) notifications.set(notification.id, notification);
    drawNotifications();
  } catch (error) {
    if (token !== bearer) return;
    if (error instanceof ApiRefusal && error.status === 401) {
      signOut('signed out', `Sign-in refused: ${error.message}`);
    } else {
      view.showAlert(`Could not load your notifications: ${(error as Error).message}`);
    }
  }
}

/** Handlers for the socket `client.connect` just made (SocketClient registers on its current socket). */
function listen(bearer: string): void {
  client.on('connect', () => {
    view.showConnection({ state: 'connected' });
    void loadAccount(bearer);
  });
  client.on('disconnect', (reason: string) => {
    if (reason === 'io client disconnect') return;
    view.showConnection(
      reason === 'io server disconnect'
        ? { state: 'offline', reason: 'the server closed the connection', canRetry: true }
        : { state: 'reconnecting', attempt: null },
    );
  });
  client.on('connect_error', (error: Error) => {
    // An inactive client after a connect_error means the server refused the handshake.
    if (!client.active) signOut('signed out', `Sign-in refused: ${error.message}`);
  });
  client.onReconnectAttempt((attempt) => view.showConnection({ state: 'reconnecting', attempt }));
  client.onReconnectFailed(() =>
    view.showConnection({ state: 'offline', reason: 'the server cannot be reached', canRetry: true }),
  );

  client.on('status:current', (rows: ServiceStatus[]) => {
    services.clear();
    for (const row of rows) services.set(row.service, row);
    view.renderServices(services.values());
    if (measurements === 'requested-again') {
      measurements = 'requested';
      client.emit('subscribe:status');
    } else {
      measurements = 'current';
    }
  });
  client.on('service:status', (change: StatusChange) => {
    const known = services.get(change.service);
    services.set(change.service, {
      service: change.service,
      status: change.status,
      lastCheck: change.timestamp,
      // Shown until `status:current` brings the new ones.
      responseTime: known?.responseTime ?? null,
      uptime: known?.uptime ?? null,
    });
    view.renderServices(services.values());
    if (measurements === 'current') {
      measurements = 'requested';
      client.emit('subscribe:status');
    } else {
      measurements = 'requested-again';
    }
  });
  client.on('status:refreshing', () => {
    view.showStatusNote(`Status refresh requested at ${new Date().toLocaleTimeString()}.`);
  });

  client.on('notification:new', (notification: Notification) => {
    notifications.set(notification.id, notification);
    drawNotifications();
  });
  client.on('notification:read:success', (id: string) => {
    pendingReads.delete(id);
    const notification = notifications.get(id);
    if (notification && notification.readAt === null) notification.readAt = new Date().toISOString();
    drawNotifications();
  });
  client.on('notification:read:error', (failure: ReadError) => {
    if (typeof failure.id === 'string') pendingReads.delete(failure.id);
    view.showAlert(`Could not mark the notification read: ${failure.error}`);
    drawNotifications();
  });
  client.on('error', (error: EventError) => {
    view.showAlert(error.event ? `${error.message} (${error.event})` : error.message);
  });
}

function start(): void {
  document.getElementById('sign-in-form')?.addEventListener('submit', (event) => {
    event.preventDefault();
    const pasted = (document.getElementById('token') as HTMLTextAreaElement | null)?.value.trim();
    if (pasted) signIn(pasted);
  });
  document.getElementById('sign-out')?.addEventListener('click', () => signOut('signed out'));
  document.getElementById('reconnect')?.addEventListener('click', () => {
    if (token) signIn(token);
  });
  document.getElementById('refresh')?.addEventListener('click', () => client.emit('admin:refresh-status'));
  // A sign-in link opened in a tab that already shows the page changes only the fragment.
  window.addEventListener('hashchange', () => {
    const linked = takeTokenFromFragment();
    if (linked) signIn(linked);
  });
  setInterval(view.refreshRelativeTimes, RELATIVE_TIME_REFRESH_MS);

  const initial = takeTokenFromFragment() ?? storedToken();
  if (initial) signIn(initial);
  else view.showSignIn();
}

start();

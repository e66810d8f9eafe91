// Everything the page draws. Text from the server (service names, statuses, notification titles
// and messages) only ever goes into `textContent` and attributes, never into HTML, so a
// notification titled `<img src=x onerror=...>` shows those characters.
import type { Account, Notification, ServiceStatus } from './protocol';

export type Connection =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number | null }
  | { state: 'offline'; reason: string; canRetry: boolean };

const PAGE_TITLE = 'Home media dashboard';
/** Statuses with their own colour and shape; any other status string is drawn as unknown. */
const KNOWN_STATUSES = new Set(['up', 'down', 'degraded']);
const KNOWN_KINDS = new Set(['info', 'warning', 'error', 'success']);

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  return made;
}

const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

/** "just now", "42 seconds ago", "3 hours ago", "10 months ago". */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return 'unknown';
  const seconds = Math.round((then - now) / 1000);
  if (Math.abs(seconds) < 10) return 'just now';
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? UNITS[UNITS.length - 1];
  return relativeFormat.format(Math.trunc(seconds / size), unit);
}

function timeElement(iso: string): HTMLTimeElement {
  const made = element('time', relativeTime(iso), { datetime: iso, 'data-relative': '' });
  const parsed = new Date(iso);
  if (!Number.isNaN(parsed.getTime())) made.title = parsed.toLocaleString();
  return made;
}

/** Rewrites every relative time, so "just now" becomes "2 minutes ago" without new data. */
export function refreshRelativeTimes(): void {
  for (const time of document.querySelectorAll<HTMLTimeElement>('time[data-relative]')) {
    time.textContent = relativeTime(time.dateTime);
  }
}

export function showConnection(connection: Connection): void {
  const indicator = byId('connection');
  indicator.dataset.state = connection.state;
  switch (connection.state) {
    case 'connecting':
      indicator.textContent = 'Connecting…';
      break;
    case 'connected':
      indicator.textContent = 'Connected';
      break;
    case 'reconnecting':
      indicator.textContent =
        connection.attempt === null ? 'Reconnecting…' : `Reconnecting (attempt ${connection.attempt})…`;
      break;
    case 'offline':
      indicator.textContent = `Offline: ${connection.reason}`;
      break;
  }
  byId('reconnect').hidden = !(connection.state === 'offline' && connection.canRetry);
}

export function showSignIn(error = ''): void {
  byId('sign-in').hidden = false;
  byId('dashboard').hidden = true;
  byId('account').hidden = true;
  byId('sign-in-error').textContent = error;
  showAlert('');
  document.title = PAGE_TITLE;
}

export function showDashboard(): void {
  byId('sign-in').hidden = true;
  byId('dashboard').hidden = false;
  byId('sign-in-error').textContent = '';
  byId<HTMLTextAreaElement>('token').value = '';
}

export function showAccount(account: Account): void {
  byId('whoami').textContent = `${account.email} (${account.role})`;
  byId('account').hidden = false;
  byId('refresh').hidden = account.role !== 'admin';
}

/** A message from the server or about a failed request; empty hides it. */
export function showAlert(text: string): void {
  byId('alert').textContent = text;
}

export function showStatusNote(text: string): void {
  byId('status-note').textContent = text;
}

function statusBadge(status: string): HTMLSpanElement {
  const key = status.toLowerCase();
  return element('span', status, {
    class: 'status',
    'data-status': KNOWN_STATUSES.has(key) ? key : 'unknown',
  });
}

export function renderServices(services: Iterable<ServiceStatus>): void {
  const rows = [...services].sort((a, b) => a.service.localeCompare(b.service));
  byId('services').replaceChildren(
    ...rows.map((row) => {
      const tr = element('tr', undefined, { 'data-service': row.service });
      const name = element('th', row.service, { scope: 'row' });
      const status = element('td');
      status.append(statusBadge(row.status));
      const responseTime = element('td', row.responseTime === null ? '—' : `${row.responseTime} ms`);
      const uptime = element('td', row.uptime === null ? '—' : `${row.uptime} %`);
      const checked = element('td');
      checked.append(timeElement(row.lastCheck));
      tr.append(name, status, responseTime, uptime, checked);
      return tr;
    }),
  );
}

/**
 * Draws the notifications, newest first, and the unread count. `pendingReads` are those being
 * marked read (their button is disabled until the server answers).
 */
export function renderNotifications(
  notifications: Iterable<Notification>,
  pendingReads: ReadonlySet<string>,
  markRead: (id: string) => void,
): void {
  const list = [...notifications].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const unread = list.filter((n) => n.readAt === null).length;
  byId('notifications').replaceChildren(
    ...list.map((notification) => {
      const read = notification.readAt !== null;
      const item = element('li', undefined, { 'data-id': notification.id, 'data-read': String(read) });
      const kind = KNOWN_KINDS.has(notification.type) ? notification.type : 'info';
      const meta = element('p', undefined, { class: 'meta' });
      meta.append(
        element('span', notification.type, { class: 'kind', 'data-kind': kind }),
        ' · ',
        timeElement(notification.createdAt),
        read ? ' · read' : '',
      );
      item.append(element('h3', notification.title), element('p', notification.message), meta);
      if (!read) {
        const button = element('button', 'Mark as read', { type: 'button' });
        button.setAttribute('aria-label', `Mark "${notification.title}" as read`);
        button.disabled = pendingReads.has(notification.id);
        button.addEventListener('click', () => markRead(notification.id));
        item.append(button);
      }
      return item;
    }),
  );
  byId('no-notifications').hidden = list.length > 0;
  byId('unread').textContent = `${unread} unread`;
  document.title = unread > 0 ? `(${unread}) ${PAGE_TITLE}` : PAGE_TITLE;
}

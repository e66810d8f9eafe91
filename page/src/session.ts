// Where the page keeps its token: sessionStorage, so it goes when the tab closes. A sign-in link
// carries the token in its fragment (`#token=...`), which browsers never send to a server, so it
// reaches no server log; the page removes it from the address bar at once.

const STORAGE_KEY = 'dashboard.token';

/** The token of a sign-in link, if the address has one; it is removed from the address bar and history. */
export function takeTokenFromFragment(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token === null) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return token.trim() || null;
}

export function storedToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

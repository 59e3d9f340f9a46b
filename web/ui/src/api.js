// The HTTP API, with errors turned into messages: a 4xx's problem detail names what was wrong.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function problem(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body.detail || body.title || text;
  } catch {
    return text || response.statusText;
  }
}

// The API key lives in this tab's session storage: it arrives in the URL's fragment (#key=…, never sent to the
// server or its logs) or from the sign-in dialog, and goes with every request as a bearer token.
const KEY = 'visibility.apiKey';

export function takeKeyFromUrl() {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
}

export function apiKey() {
  return sessionStorage.getItem(KEY) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key.trim());
  else sessionStorage.removeItem(KEY);
}

export function authHeaders(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

/**
 * Links to the API (CSV downloads) fetch with the key and save the answer, since a plain link cannot send it.
 * Resolves to the row bound when the server left rows out of the download (X-Visibility-Truncated), else null.
 */
export function downloadWithKey(anchor) {
  return fetch(anchor.href, { headers: authHeaders() }).then(async (response) => {
    if (!response.ok) throw new ApiError(response.status, await problem(response));
    const truncated = response.headers.get('X-Visibility-Truncated') === 'true'
      ? Number(response.headers.get('X-Visibility-Row-Limit')) : null;
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement('a');
    save.href = url;
    save.download = anchor.getAttribute('download') || 'download';
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return truncated;
  });
}

export async function getJson(path, params, signal) {
  const url = params ? `${path}?${params}` : path;
  const response = await fetch(url, { signal, headers: authHeaders({ Accept: 'application/json' }) });
  if (!response.ok) throw new ApiError(response.status, await problem(response));
  return response.json();
}

export async function sendJson(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await problem(response));
  return response.status === 204 ? null : response.json();
}

// The map's state lives in the page URL (shareable, back/forward work): last or from/to, groupBy, filter,
// width, limit, colour (findings or policy), decisionsAt (now or traffic), and view (a saved view's id).

export const keys = ['last', 'from', 'to', 'groupBy', 'filter', 'limit', 'width', 'colour', 'decisionsAt'];

export const defaults = { last: '1h', groupBy: 'app,env', filter: '', width: 'bytes', limit: '', colour: 'findings', decisionsAt: 'now' };

export function read(search = location.search) {
  const params = new URLSearchParams(search);
  const state = { ...defaults, view: params.get('view') || '' };
  for (const key of keys) {
    if (params.has(key)) state[key] = params.get(key);
  }
  if (state.from || state.to) state.last = '';
  return state;
}

const later = { colour: true, decisionsAt: true };

/** The query string of a state's map keys (what a saved view stores). */
export function query(state) {
  const params = new URLSearchParams();
  for (const key of keys) {
    // Defaults of the later keys stay out, so views saved before them keep their query text.
    if (state[key] && !(key in later && state[key] === defaults[key])) params.set(key, state[key]);
  }
  return params.toString();
}

/** The part of the state every query API call shares: the range and the filter. */
export function rangeAndFilter(state, extraFilter) {
  const params = new URLSearchParams();
  if (state.from || state.to) {
    if (state.from) params.set('from', state.from);
    if (state.to) params.set('to', state.to);
  } else {
    params.set('last', state.last || defaults.last);
  }
  const filter = combine(state.filter, extraFilter);
  if (filter) params.set('filter', filter);
  return params;
}

export function combine(a, b) {
  if (a && b) return `(${a}) and (${b})`;
  return a || b || '';
}

export function write(state, { replace = false } = {}) {
  const search = query(state);
  const params = new URLSearchParams(search);
  if (state.view) params.set('view', state.view);
  const url = `${location.pathname}${params.toString() ? `?${params}` : ''}`;
  if (url !== `${location.pathname}${location.search}`) {
    (replace ? history.replaceState : history.pushState).call(history, null, '', url);
  }
}

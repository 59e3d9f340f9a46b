// Completion for the filter box: after a field (src./dst./either end) it offers label keys and fields; after an
// operator it offers the known values of that key (from /api/v1/labels: the inventory's labels and workloads, the
// policy names stored flows name, and the fixed values of kinds, findings, protocols, verdicts and decisions).

const operators = ['=', '!=', 'in', 'not in', '<', '>', '<=', '>='];
const flowFields = ['port', 'proto', 'finding', 'verdict', 'policy', 'decision', 'ip', 'kind', 'workload'];

// The flow fields whose values the vocabulary lists, and where.
const valuesOf = {
  finding: 'findings', kind: 'kinds', proto: 'protocols', workload: 'workloads',
  verdict: 'verdicts', decision: 'decisions', policy: 'policies',
};

/** What is being typed at the cursor: a field or a value of a field. */
export function context(text, cursor) {
  const before = text.slice(0, cursor);
  const word = /[\w.\-/:*"']*$/.exec(before)[0];
  const head = before.slice(0, before.length - word.length);
  const valueMatch = /([\w.\-/]+)\s*(=|!=|<=|>=|<|>|in\s*\(|not\s+in\s*\()\s*(?:[^()]*,\s*)?$/.exec(head);
  if (valueMatch) return { kind: 'value', field: valueMatch[1], word: word.replace(/^["']/, ''), start: cursor - word.length };
  if (/(^|\(|\s)$/.test(head) && !/\b(=|!=|<|>)\s*$/.test(head)) return { kind: 'field', word, start: cursor - word.length };
  return { kind: 'none', word, start: cursor - word.length };
}

export function suggestions(vocabulary, ctx) {
  if (!vocabulary || ctx.kind === 'none') return [];
  const lower = ctx.word.toLowerCase();
  let items;
  if (ctx.kind === 'field') {
    const keys = Object.keys(vocabulary.labels || {});
    const sides = [...keys, 'workload', 'kind', 'ip', 'port'];
    items = [
      ...sides.flatMap((k) => [`src.${k}`, `dst.${k}`]),
      ...keys, ...flowFields, 'and', 'or', 'not',
    ];
  } else {
    const key = ctx.field.replace(/^(src|dst)\./, '');
    items = (Object.hasOwn(valuesOf, key) ? vocabulary[valuesOf[key]] : vocabulary.labels?.[key]) || [];
    items = items.map((v) => (/^[\w.\-/:]+$/.test(v) ? v : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`));
  }
  return [...new Set(items)].filter((s) => s.toLowerCase().startsWith(lower) && s !== ctx.word).slice(0, 12);
}

export { operators };

/** Wires completion to an input and a listbox; Tab/Enter accept, arrows move, Escape closes. */
export function attach(input, list, getVocabulary) {
  let items = [];
  let active = -1;
  let ctx = null;

  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    items = [];
    active = -1;
  };

  const render = () => {
    list.replaceChildren(...items.map((s, i) => {
      const li = document.createElement('li');
      li.id = `completion-${i}`;
      li.role = 'option';
      li.textContent = s;
      li.setAttribute('aria-selected', String(i === active));
      li.addEventListener('mousedown', (e) => { e.preventDefault(); accept(i); });
      return li;
    }));
    list.hidden = items.length === 0;
    input.setAttribute('aria-expanded', String(items.length > 0));
    if (active >= 0) input.setAttribute('aria-activedescendant', `completion-${active}`);
  };

  const accept = (i) => {
    const value = items[i];
    const text = input.value;
    const end = input.selectionStart;
    const suffix = ctx.kind === 'field' ? ' ' : ' ';
    input.value = text.slice(0, ctx.start) + value + suffix + text.slice(end);
    const pos = ctx.start + value.length + suffix.length;
    input.setSelectionRange(pos, pos);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };

  const update = () => {
    ctx = context(input.value, input.selectionStart ?? input.value.length);
    items = suggestions(getVocabulary(), ctx);
    active = items.length ? 0 : -1;
    render();
  };

  input.addEventListener('input', update);
  input.addEventListener('focus', update);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    if (list.hidden || items.length === 0) return;
    if (e.key === 'ArrowDown') { active = (active + 1) % items.length; render(); e.preventDefault(); }
    else if (e.key === 'ArrowUp') { active = (active - 1 + items.length) % items.length; render(); e.preventDefault(); }
    else if ((e.key === 'Tab' || (e.key === 'Enter' && active >= 0 && ctx.word)) && active >= 0) { accept(active); e.preventDefault(); }
    else if (e.key === 'Escape') { close(); e.preventDefault(); }
  });
}

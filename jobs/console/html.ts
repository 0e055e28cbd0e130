/**
 * Server-rendered HTML: a tagged template that escapes every interpolated value unless it is
 * already markup, and the page frame every console page shares. No inline script or style
 * anywhere (the Content-Security-Policy forbids them): behaviour and looks come from /console/static.
 */
import type { Principal } from './users.js';

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** A hidden field with the session's synchroniser token: every form that changes something has one. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}">`;

export interface PageFrame {
  title: string;
  principal?: Principal;
  csrf?: string;
  /** The nav entry to mark as current. */
  current?: string;
  /** Whether the SPC events page exists (the spc_events table does). */
  spcEvents?: boolean;
}

const NAV: [string, string][] = [
  ['grid', 'Days × jobs'],
  ['rerun', 'Rerun / backfill'],
  ['queue', 'Queue'],
  ['schedules', 'Schedules'],
  ['audit', 'Audit'],
];

export function page(frame: PageFrame, body: Html): string {
  const nav = frame.principal
    ? html`<nav>${[...NAV, ...(frame.spcEvents ? [['spc-events', 'SPC events'] as [string, string]] : [])].map(([href, label]) => html`<a href="/console/${href}"${frame.current === href ? html` aria-current="page"` : ''}>${label}</a>`)}
        ${frame.principal.role === 'admin' ? html`<a href="/admin/queues">Bull Board</a>` : ''}
        <form method="post" action="/console/signout" class="signout">${csrfField(frame.csrf ?? '')}<span class="who">${frame.principal.name} (${frame.principal.role})</span><button type="submit">Sign out</button></form></nav>`
    : '';
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · yieldrun</title><link rel="stylesheet" href="/console/static/console.css"><script src="/console/static/console.js" defer></script></head>
<body><header><a class="brand" href="/console/grid">yieldrun</a>${nav}</header><main><h1>${frame.title}</h1>${body}</main></body></html>`.text}`;
}

/** A production day range as people read it. */
export const dayText = (days: readonly string[] | undefined) =>
  !days || days.length === 0 ? 'auto' : days.length === 1 ? days[0]! : `${days[0]} … ${days[days.length - 1]} (${days.length} days)`;

/**
 * Just enough MIME to show an email as it was sent (the .eml the file transport wrote): its
 * headers with encoded words decoded, its plain-text body, and its attachments with their sizes.
 * Nodemailer wrote these files, so only what it writes is read: multipart nesting, quoted-printable
 * and base64 bodies, RFC 2047 words in UTF-8.
 */
export interface MimePart {
  headers: Map<string, string>;
  body: string;
}

export interface ReadEmail {
  headers: Map<string, string>;
  text: string | null;
  attachments: { filename: string; contentType: string; bytes: number }[];
}

function splitPart(raw: string): MimePart {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

const param = (value: string | undefined, name: string) => (value ? new RegExp(`${name}\\*?=(?:UTF-8'')?"?([^";]+)"?`, 'i').exec(value)?.[1] : undefined);

/** RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=), as nodemailer writes them. */
export function decodeWords(s: string): string {
  return s
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
    );
}

function decodeBody(p: MimePart): Buffer {
  const enc = (p.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (enc === 'base64') return Buffer.from(p.body.replace(/\s+/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const bytes = p.body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1');
  }
  return Buffer.from(p.body, 'utf8');
}

function leaves(p: MimePart): MimePart[] {
  const type = p.headers.get('content-type') ?? 'text/plain';
  const boundary = /^multipart\//i.test(type) ? param(type, 'boundary') : undefined;
  if (!boundary) return [p];
  const pieces = p.body.split(`--${boundary}`).slice(1);
  return pieces.filter((x) => !x.startsWith('--')).flatMap((x) => leaves(splitPart(x.replace(/^\r?\n/, ''))));
}

export function readEmail(eml: string): ReadEmail {
  const top = splitPart(eml);
  const parts = leaves(top);
  const headers = new Map([...top.headers].map(([k, v]) => [k, decodeWords(v)]));
  const textPart = parts.find((p) => /^text\/plain/i.test(p.headers.get('content-type') ?? 'text/plain') && !/attachment/i.test(p.headers.get('content-disposition') ?? ''));
  const attachments = parts
    .filter((p) => /attachment/i.test(p.headers.get('content-disposition') ?? ''))
    .map((p) => ({
      filename: decodeWords(param(p.headers.get('content-disposition'), 'filename') ?? param(p.headers.get('content-type'), 'name') ?? '(unnamed)'),
      contentType: (p.headers.get('content-type') ?? '').split(';')[0]!,
      bytes: decodeBody(p).length,
    }));
  return { headers, text: textPart ? decodeBody(textPart).toString('utf8') : null, attachments };
}

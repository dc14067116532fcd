/**
 * HTML built from tagged templates: every interpolated value is escaped unless it is itself
 * HTML built here (by `markup`), so that names, messages and log lines (which users write) cannot inject
 * markup into the pages.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const render = (part: Part): string => {
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  // false, null and undefined render nothing, so that `${cond && markup`...`}` reads naturally.
  if (part === null || part === undefined || part === false) return '';
  return escapeHtml(String(part));
};

/**
 * Named `markup`, not `html`: Prettier reformats templates tagged `html`, which would change
 * the whitespace of a <pre>.
 */
export const markup = (strings: TemplateStringsArray, ...values: Part[]): Html => {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
};

/** A path with each segment percent-encoded: `/environments/${env}` for any name. */
export const path = (strings: TemplateStringsArray, ...segments: string[]): string => {
  let out = strings[0] ?? '';
  segments.forEach((segment, i) => {
    out += encodeURIComponent(segment) + (strings[i + 1] ?? '');
  });
  return out;
};

/** `?a=1&b=2` from the defined values, or '' when there are none. */
export const query = (values: Record<string, string | number | undefined>): string => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
};

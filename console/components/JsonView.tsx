import type { ReactNode } from 'react';

/** JSON pretty-printed with colours (keys, strings, numbers, booleans, null). */
export function JsonView({ value, testId }: { value: unknown; testId?: string }) {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  const parts: ReactNode[] = [];
  const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let i = 0;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    let cls = 'json-number';
    if (m[1] !== undefined) cls = m[2] ? 'json-key' : 'json-string';
    else if (m[3] !== undefined) cls = 'json-bool';
    else if (m[0] === 'null') cls = 'json-null';
    if (m[1] !== undefined && m[2]) {
      parts.push(<span key={i++} className={cls}>{m[1]}</span>, m[2]);
    } else {
      parts.push(<span key={i++} className={cls}>{m[0]}</span>);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <pre className="json" data-testid={testId}>{parts}</pre>;
}

import type { ReactNode } from 'react';

export function SkeletonRows({ rows = 4, cols }: { rows?: number; cols: number }) {
  return (
    <>
      {Array.from({ length: rows }, (_, r) => (
        <tr key={r} aria-hidden="true">
          {Array.from({ length: cols }, (_, c) => (
            <td key={c}>
              <div className="skeleton" style={{ width: `${40 + ((r * 7 + c * 13) % 50)}%` }} />
            </td>
          ))}
        </tr>
      ))}
    </>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="panel-body" aria-busy="true" data-testid="loading">
      <div className="skeleton" style={{ width: '60%', marginBottom: 10 }} />
      <div className="skeleton" style={{ width: '85%', marginBottom: 10 }} />
      <div className="skeleton" style={{ width: '40%' }} />
      <span className="faint" style={{ fontSize: 0 }}>{label}</span>
    </div>
  );
}

export function Empty({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="empty" data-testid={testId ?? 'empty'}>
      <h3>{title}</h3>
      {children}
    </div>
  );
}

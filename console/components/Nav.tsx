'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';

const LINKS = [
  { href: '/', label: 'Overview', match: (p: string) => p === '/' },
  { href: '/jobs', label: 'Jobs', match: (p: string) => p === '/jobs' || p.startsWith('/jobs/') },
  { href: '/dead-letters', label: 'Dead letters', match: (p: string) => p.startsWith('/dead-letters') },
  { href: '/queues', label: 'Queues', match: (p: string) => p.startsWith('/queues') },
  { href: '/schedules', label: 'Schedules', match: (p: string) => p.startsWith('/schedules') },
];

export function Nav() {
  const path = usePathname() ?? '/';
  return (
    <nav aria-label="Console">
      {LINKS.map((l) => (
        <Link key={l.href} href={l.href} className={`nav-link${l.match(path) ? ' active' : ''}`} aria-current={l.match(path) ? 'page' : undefined}>
          {l.label}
        </Link>
      ))}
    </nav>
  );
}

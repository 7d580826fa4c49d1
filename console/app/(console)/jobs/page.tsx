import type { Metadata } from 'next';
import { Suspense } from 'react';

import { JobsList } from '@/components/JobsList';

export const metadata: Metadata = { title: 'Jobs · MCP Jobs' };

export default function JobsPage() {
  return (
    <Suspense>
      <JobsList />
    </Suspense>
  );
}

import type { Metadata } from 'next';
import { Suspense } from 'react';

import { DeadLetters } from '@/components/DeadLetters';

export const metadata: Metadata = { title: 'Dead letters · MCP Jobs' };

export default function DeadLettersPage() {
  return (
    <Suspense>
      <DeadLetters />
    </Suspense>
  );
}

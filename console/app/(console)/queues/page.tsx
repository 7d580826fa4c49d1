import type { Metadata } from 'next';

import { Queues } from '@/components/Queues';

export const metadata: Metadata = { title: 'Queues · MCP Jobs' };

export default function QueuesPage() {
  return <Queues />;
}

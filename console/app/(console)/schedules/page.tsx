import type { Metadata } from 'next';

import { Schedules } from '@/components/Schedules';

export const metadata: Metadata = { title: 'Schedules · MCP Jobs' };

export default function SchedulesPage() {
  return <Schedules />;
}

import { Suspense } from 'react';

import { Overview } from '@/components/Overview';
import { apiToken } from '@/lib/auth';

export default function OverviewPage() {
  return (
    <Suspense>
      <Overview tokenRequired={apiToken() !== null} />
    </Suspense>
  );
}

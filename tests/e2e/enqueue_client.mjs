// A TypeScript/JavaScript client as an app would write it: supabase-js, `.rpc('enqueue_job', ...)`.
// Usage: SUPABASE_URL=... SUPABASE_SERVICE_ROLE_KEY=... node enqueue_client.mjs
// Prints one JSON line: {"data": ..., "error": ..., "status": ...} for an enqueue and a list_jobs call.
import { createClient } from '@supabase/supabase-js'

const supabase = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_SERVICE_ROLE_KEY, {
  auth: { persistSession: false, autoRefreshToken: false },
})

const enqueue = await supabase.rpc('enqueue_job', {
  p_source: 'vercel',
  p_job_type: 'discovery',
  p_payload: { test: true, from: 'supabase-js' },
})
const list = await supabase.rpc('list_jobs', { p_source: 'vercel', p_limit: 10 })
const bad = await supabase.rpc('enqueue_job', { p_source: '', p_job_type: 'discovery' })
const stats = await supabase.rpc('get_job_stats', { p_source: 'vercel' }, { get: true })

console.log(JSON.stringify({
  enqueue: { data: enqueue.data, error: enqueue.error, status: enqueue.status },
  list: { data: list.data, error: list.error, status: list.status },
  bad: { data: bad.data, error: bad.error, status: bad.status },
  stats: { data: stats.data, error: stats.error, status: stats.status },
}))

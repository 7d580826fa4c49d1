export function StatusPill({ status }: { status: string }) {
  return <span className={`pill pill-${status}`} data-status={status}>{status}</span>;
}

import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="login-wrap">
      <div className="login-card">
        <h1>Not found</h1>
        <p className="muted" style={{ margin: 0 }}>There is no page at this address.</p>
        <Link className="btn" href="/">Overview</Link>
      </div>
    </div>
  );
}

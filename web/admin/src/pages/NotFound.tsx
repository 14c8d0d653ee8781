import { Link } from "react-router";

export function NotFound() {
  return (
    <div className="page">
      <div className="empty">
        <h2>Page not found</h2>
        <p className="muted">
          There is nothing at this address. <Link to="/">Back to the dashboard</Link>.
        </p>
      </div>
    </div>
  );
}
